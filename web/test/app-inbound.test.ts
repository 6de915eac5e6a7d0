import { describe, expect, it } from "vitest";
import type { Frame, WireMessage } from "../src/api/client";
import { FakeServer, FakeWorker, joinedChat, payloadOf, settleDown, testApp, type TestApp } from "./support/app";

const ALICE = "alice@a.test:dev-a";
const BOB = "bob@a.test:dev-b";

async function setUp(home?: string) {
  const server = new FakeServer("a.test");
  const worker = new FakeWorker(ALICE);
  const app = await testApp(server, worker);
  await joinedChat(app, server, worker, "c1", ["alice@a.test", "bob@a.test"], home);
  worker.groups.get("c1")!.members.push(BOB);
  return { server, worker, app };
}

const event = (message: WireMessage): Frame => ({ type: "event", cursor: message.id, chat_id: message.chat_id, message });

/** As the connection does: one frame at a time, under the lock. */
const deliver = (app: TestApp, frame: Frame): Promise<void> => app.ctx.lock.run(() => app.inbound.onFrame(frame));

describe("inbound frames", () => {
  it("shows a message once when its frame comes twice (a replay after a reconnect)", async () => {
    const { server, worker, app } = await setUp();
    const m = server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { text: "hi Alice" }));
    await deliver(app, event(m));
    await deliver(app, event(m));
    expect(app.store.messagesOf("c1").map((x) => x.text)).toEqual(["hi Alice"]);
    expect(worker.decrypted).toEqual([String(m.id)]);
    expect(app.store.chats.get("c1")!.unread).toBe(1);
  });

  it("recognises our own message's echo instead of decrypting it", async () => {
    const { server, app } = await setUp();
    await app.outbox.queue("c1", "mine");
    await settleDown();
    const echo = server.stored.get("c1")![0]!;
    await deliver(app, event(echo));
    const list = app.store.messagesOf("c1");
    expect(list.map((x) => [x.text, x.mine, x.unavailable ?? false])).toEqual([["mine", true, false]]);
  });

  it("applies a commit before the message of the new epoch that follows it, however they are handed in", async () => {
    const { server, worker, app } = await setUp();
    const carol = "carol@a.test:dev-c";
    const commit = server.store("c1", "commit", 0, FakeWorker.commitBytes(1, [ALICE, BOB, carol]));
    const message = server.store("c1", "application", 1, FakeWorker.messageBytes(BOB, { text: "welcome Carol" }, 1));
    // Both handed in at once, as frames arriving back to back: the lock keeps their order.
    await Promise.all([deliver(app, event(commit)), deliver(app, event(message))]);
    expect((await worker.group("c1")).members).toContain(carol);
    const shown = app.store.messagesOf("c1");
    expect(shown.map((x) => [x.text, x.unavailable ?? false])).toEqual([["welcome Carol", false]]);
  });

  it("ignores a commit from an epoch already applied", async () => {
    const { server, worker, app } = await setUp();
    const commit = server.store("c1", "commit", 0, FakeWorker.commitBytes(1, [ALICE, BOB]));
    await deliver(app, event(commit));
    await deliver(app, event(commit));
    expect((await worker.group("c1")).epoch).toBe(1);
  });

  it("takes a decrypted receipt as ticks on our messages, not as a message", async () => {
    const { server, app } = await setUp();
    await app.outbox.queue("c1", "did you get it?");
    await settleDown();
    const receipt = server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { receipt: "read", upto: 1 }));
    await deliver(app, event(receipt));
    expect(app.store.messagesOf("c1").map((x) => [x.text, x.status])).toEqual([["did you get it?", "read"]]);
  });

  it("shows what it cannot decrypt as unavailable, once", async () => {
    const { server, app } = await setUp();
    const garbled = server.store("c1", "application", 5, FakeWorker.messageBytes(BOB, { text: "future" }, 5));
    await deliver(app, event(garbled));
    await deliver(app, event(garbled));
    expect(app.store.messagesOf("c1").map((x) => x.unavailable)).toEqual([true]);
  });

  it("empties a deleted message", async () => {
    const { server, app } = await setUp();
    const m = server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { text: "oops" }));
    await deliver(app, event(m));
    await deliver(app, event({ ...m, deleted: true, ciphertext: null }));
    expect(app.store.messagesOf("c1").map((x) => [x.text, x.deleted])).toEqual([["", true]]);
  });

  it("routes the home's refusal of a forwarded send back to the outbox, and of our commit to membership", async () => {
    const { server, worker, app } = await setUp("b.test");
    await app.outbox.queue("c1", "refused once");
    await settleDown();
    const cmid = app.store.forwarded[0]!.cmid;
    const rejected = (clientMessageId: string, code: string): Frame => ({
      type: "device_event",
      cursor: 1,
      kind: "chat",
      chat_id: "c1",
      payload: null,
      data: { change: "send_rejected", client_message_id: clientMessageId, error: { code, message: "no" } },
    }) as Frame;
    await deliver(app, rejected(cmid, "stale_epoch"));
    await settleDown();
    expect(server.received.filter((r) => r.body.client_message_id === cmid)).toHaveLength(2); // sent again
    // Our pending commit refused: the group goes back to the epoch before it.
    const made = await worker.removeMembers("c1", [BOB]);
    app.store.chats.get("c1")!.pendingCommit = { cmid: "commit-1", ciphertext: "c" };
    expect(made.epoch).toBe(1);
    await deliver(app, rejected("commit-1", "forbidden"));
    expect(app.store.chats.get("c1")!.pendingCommit).toBeUndefined();
    expect(await worker.group("c1")).toMatchObject({ epoch: 0, members: [ALICE, BOB] });
  });

  it("undoes our forwarded edit when the home refuses it, and says why", async () => {
    const { server, app } = await setUp("b.test");
    const m = server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { text: "x" }));
    await deliver(app, event(m));
    const shown = app.store.messagesOf("c1")[0]!;
    shown.pending = [{ action: "edit", text: "before", edited: false, ciphertext: "e1" }];
    shown.text = "after";
    await deliver(app, {
      type: "device_event",
      cursor: 2,
      kind: "chat",
      chat_id: "c1",
      payload: null,
      data: { change: "change_rejected", action: "edit", seq: m.seq, error: { code: "forbidden", message: "Too late to edit." } },
    } as Frame);
    expect(shown.text).toBe("before");
    expect(app.events.some((e) => e.kind === "refused" && e.text?.includes("Too late to edit."))).toBe(true);
  });

  it("marks a chat we left as removed", async () => {
    const { app } = await setUp();
    await deliver(app, { type: "device_event", cursor: 3, kind: "chat", chat_id: "c1", payload: null, data: { change: "left" } } as Frame);
    expect(app.store.chats.get("c1")).toMatchObject({ removed: true, joined: false });
  });

  it("does not take our forwarded message's ordered copy for someone else's", async () => {
    const { server, worker, app } = await setUp("b.test");
    await app.outbox.queue("c1", "via the home");
    await settleDown();
    const copy = server.store("c1", "application", 0, server.received[0]!.body.ciphertext);
    await deliver(app, event(copy));
    expect(worker.decrypted).toEqual([]);
    expect(app.store.messagesOf("c1").map((x) => [x.text, x.seq])).toEqual([["via the home", copy.seq]]);
    expect(payloadOf(copy.ciphertext!).payload.text).toBe("via the home");
  });
});
