import { describe, expect, it } from "vitest";
import { ApiError, type Frame } from "../src/api/client";
import { FakeServer, FakeWorker, joinedChat, networkDown, settleDown, testApp, type TestApp } from "./support/app";

const ALICE = "alice@a.test:dev-a";
const BOB = "bob@a.test:dev-b";
const CAROL = "carol@a.test:dev-c";

async function setUp(home?: string) {
  const server = new FakeServer("a.test");
  server.devices.set("carol@a.test", [{ id: 3, credential: CAROL }]);
  const worker = new FakeWorker(ALICE);
  const app = await testApp(server, worker);
  await joinedChat(app, server, worker, "c1", ["alice@a.test", "bob@a.test"], home);
  worker.groups.get("c1")!.members.push(BOB);
  return { server, worker, app };
}

const deliver = (app: TestApp, frame: Frame): Promise<void> => app.ctx.lock.run(() => app.inbound.onFrame(frame));

describe("membership and commits", () => {
  it("adds a new member's devices with one commit and a Welcome for them", async () => {
    const { server, worker, app } = await setUp();
    await app.membership.addMember("c1", "carol", "member");
    expect((await worker.group("c1")).members).toEqual([ALICE, BOB, CAROL]);
    const commits = server.received.filter((r) => r.body.kind === "commit");
    expect(commits).toHaveLength(1);
    expect(commits[0]!.body.welcome?.device_ids).toEqual([3]);
    expect(app.store.chats.get("c1")!.pendingAdds).toEqual([]);
    expect(worker.groups.get("c1")!.before).toBeUndefined(); // confirmed
  });

  it("leaves out a device whose certificate the worker refuses, and says so in the chat", async () => {
    const { server, worker, app } = await setUp();
    server.devices.set("carol@a.test", [
      { id: 3, credential: CAROL },
      { id: 4, credential: "carol@a.test:dev-ghost" },
    ]);
    worker.refuse.add("dev-ghost");
    await app.membership.addMember("c1", "carol", "member");
    expect((await worker.group("c1")).members).toEqual([ALICE, BOB, CAROL]);
    const commits = server.received.filter((r) => r.body.kind === "commit");
    expect(commits[0]!.body.welcome?.device_ids).toEqual([3]);
    expect(app.store.chats.get("c1")!.warnings).toEqual([
      "A device the server announced for carol was not added: carol's identity key did not certify it.",
    ]);
  });

  it("remembers a member change whose commit never went in, and makes it on the next start", async () => {
    const { server, worker, app } = await setUp("b.test");
    server.script.push(networkDown()); // the link drops as our commit goes out
    await expect(app.membership.addMember("c1", "carol", "member")).rejects.toThrow();
    expect((await worker.group("c1")).members).toEqual([ALICE, BOB]); // our commit discarded
    // The tab is closed; the next start reads the chat from the vault.
    const reloaded = await testApp(server, worker);
    expect(reloaded.store.chats.get("c1")!.pendingAdds).toEqual(["carol@a.test"]);
    reloaded.membership.resumePending();
    await settleDown(50);
    const commit = server.received.filter((r) => r.body.kind === "commit").at(-1)!;
    expect(reloaded.store.chats.get("c1")!.pendingCommit?.ciphertext).toBe(commit.body.ciphertext);
    // The home orders it: its echo confirms the commit and the request is forgotten.
    const echo = server.store("c1", "commit", commit.body.epoch, commit.body.ciphertext);
    await deliver(reloaded, { type: "event", cursor: echo.id, chat_id: "c1", message: echo });
    await settleDown(50);
    expect((await worker.group("c1")).members).toEqual([ALICE, BOB, CAROL]);
    expect(worker.groups.get("c1")!.before).toBeUndefined();
    expect(reloaded.store.chats.get("c1")!.pendingAdds).toEqual([]);
    const again = await testApp(server, worker);
    expect(again.store.chats.get("c1")!.pendingAdds).toEqual([]);
  });

  it("after losing the epoch to another commit, catches up and asks again (nothing left to do: no commit)", async () => {
    const { server, worker, app } = await setUp();
    worker.groups.get("c1")!.members.push(CAROL);
    // Bob removed Carol first; the server has his commit and refuses ours.
    server.store("c1", "commit", 0, FakeWorker.commitBytes(1, [ALICE, BOB]));
    server.script.push(new ApiError(409, "stale_epoch", "Another commit won."));
    let asked = 0;
    const committed = await app.ctx.lock.run(() =>
      app.membership.commit(
        "c1",
        async () => {
          asked++;
          const group = await worker.group("c1");
          return group.members.includes(CAROL) ? worker.removeMembers("c1", [CAROL]) : null;
        },
        undefined,
      ),
    );
    expect(committed).toBe(false);
    expect(asked).toBe(2);
    expect(await worker.group("c1")).toMatchObject({ epoch: 1, members: [ALICE, BOB] });
    expect(server.received.filter((r) => r.body.kind === "commit")).toHaveLength(1);
  });

  it("holds messages in a chat while our forwarded commit awaits the home, then sends them in the new epoch", async () => {
    const { server, worker, app } = await setUp("b.test");
    const removing = app.membership.removeMember("c1", "bob@a.test");
    await settleDown(30);
    const commit = server.received.find((r) => r.body.kind === "commit")!;
    await app.outbox.queue("c1", "after the change");
    await settleDown(30);
    expect(server.received.filter((r) => r.body.kind === "application")).toHaveLength(0); // held back
    expect(() => app.membership.checkEpochSettled("c1")).toThrow(/being renewed/);
    // The home's ordered echo, processed under the lock the waiting commit let go of.
    const echo = server.store("c1", "commit", commit.body.epoch, commit.body.ciphertext);
    await deliver(app, { type: "event", cursor: echo.id, chat_id: "c1", message: echo });
    await removing;
    await settleDown(30);
    const sent = server.received.filter((r) => r.body.kind === "application");
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body.epoch).toBe(1);
    expect(await worker.group("c1")).toMatchObject({ epoch: 1, members: [ALICE] });
  });

  it("says why when the home refuses our commit for another reason, and goes back to the epoch before", async () => {
    const { server, worker, app } = await setUp("b.test");
    const removing = app.membership.removeMember("c1", "bob@a.test");
    await settleDown(30);
    const commit = server.received.find((r) => r.body.kind === "commit")!;
    await deliver(app, {
      type: "device_event",
      cursor: 9,
      kind: "chat",
      chat_id: "c1",
      payload: null,
      data: { change: "send_rejected", client_message_id: commit.body.client_message_id, error: { code: "forbidden", message: "Only admins can remove members." } },
    });
    await expect(removing).rejects.toThrow("Only admins can remove members.");
    expect(await worker.group("c1")).toMatchObject({ epoch: 0, members: [ALICE, BOB] });
  });

  it("an owner takes the leaves of someone who left out of the group; a member does not, nor on an empty list", async () => {
    const server = new FakeServer("a.test");
    const worker = new FakeWorker(ALICE);
    const app = await testApp(server, worker);
    await joinedChat(app, server, worker, "g1", ["alice@a.test", "bob@a.test", "carol@a.test"]);
    worker.groups.get("g1")!.members.push(BOB, CAROL);
    const chatEvent = (cursor: number): Frame =>
      ({ type: "device_event", cursor, kind: "chat", chat_id: "g1", payload: null, data: { change: "members", removed: ["carol@a.test"] } }) as Frame;
    // A snapshot that does not name us (stale or empty): nobody is taken out.
    server.chat("g1", ["bob@a.test"]).role = "owner";
    await deliver(app, chatEvent(1));
    await settleDown(50);
    expect(server.received.filter((r) => r.body.kind === "commit")).toHaveLength(0);
    // As a plain member: the owner's device does it, not ours.
    const asMember = server.chat("g1", ["alice@a.test", "bob@a.test"]);
    asMember.kind = "group";
    asMember.role = "member";
    await deliver(app, chatEvent(2));
    await settleDown(50);
    expect(server.received.filter((r) => r.body.kind === "commit")).toHaveLength(0);
    // As the owner: one commit removes Carol's leaf; Bob's stays.
    const asOwner = server.chat("g1", ["alice@a.test", "bob@a.test"]);
    asOwner.kind = "group";
    await deliver(app, chatEvent(3));
    await settleDown(50);
    expect(server.received.filter((r) => r.body.kind === "commit")).toHaveLength(1);
    expect((await worker.group("g1")).members).toEqual([ALICE, BOB]);
    // Nothing more to do on the next event.
    await deliver(app, chatEvent(4));
    await settleDown(50);
    expect(server.received.filter((r) => r.body.kind === "commit")).toHaveLength(1);
  });
});
