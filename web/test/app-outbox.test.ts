import { describe, expect, it } from "vitest";
import { ApiError } from "../src/api/client";
import { FORWARD_RETRIES } from "../src/app/outbox";
import { FakeServer, FakeWorker, joinedChat, networkDown, payloadOf, settleDown, testApp } from "./support/app";

const ALICE = "alice@a.test:dev-a";

async function setUp(home?: string) {
  const server = new FakeServer("a.test");
  const worker = new FakeWorker(ALICE);
  const app = await testApp(server, worker);
  await joinedChat(app, server, worker, "c1", ["alice@a.test", "bob@a.test"], home);
  return { server, worker, app };
}

describe("the outbox", () => {
  it("sends queued messages in the order they were written, each once", async () => {
    const { server, app } = await setUp();
    await app.outbox.queue("c1", "one");
    await app.outbox.queue("c1", "two");
    await app.outbox.queue("c1", "three");
    await app.outbox.flush();
    await settleDown();
    const texts = server.received.map((r) => payloadOf(r.body.ciphertext).payload.text);
    expect(texts).toEqual(["one", "two", "three"]);
    expect(new Set(server.received.map((r) => r.body.client_message_id)).size).toBe(3);
    expect(app.outbox.size).toBe(0);
    expect(app.store.messagesOf("c1").map((m) => [m.text, m.seq, m.status])).toEqual([
      ["one", 1, "sent"],
      ["two", 2, "sent"],
      ["three", 3, "sent"],
    ]);
  });

  it("tells the server whom a message mentions (for their pushes), and nothing when it mentions nobody", async () => {
    const { server, app } = await setUp();
    await app.outbox.queue("c1", "@bob lunch?", { mentions: ["bob@a.test"] });
    await app.outbox.queue("c1", "lunch?");
    await app.outbox.flush();
    await settleDown();
    expect(server.received.map((r) => r.body.wake)).toEqual([["bob@a.test"], undefined]);
    expect(payloadOf(server.received[0]!.body.ciphertext).payload.mentions).toEqual(["bob@a.test"]);
  });

  it("keeps a message through a dropped link and retries it with the same id and ciphertext", async () => {
    const { server, worker, app } = await setUp();
    server.script.push(networkDown());
    await app.outbox.queue("c1", "hello");
    await settleDown();
    expect(app.outbox.stalled).toBe(true);
    expect(app.outbox.size).toBe(1);
    expect(app.store.messagesOf("c1")[0]?.status).toBe("queued");
    await app.outbox.flush();
    expect(server.received).toHaveLength(2);
    const [first, second] = server.received;
    expect(second!.body.client_message_id).toBe(first!.body.client_message_id);
    expect(second!.body.ciphertext).toBe(first!.body.ciphertext);
    expect(worker.encrypted).toBe(1); // encrypted once: the retry is the same message
    expect(app.outbox.stalled).toBe(false);
    expect(server.stored.get("c1")).toHaveLength(1);
    expect(app.store.messagesOf("c1")[0]?.status).toBe("sent");
  });

  it("survives a reload: the queued message is in the vault and goes out from the next start", async () => {
    const { server, worker, app } = await setUp();
    server.script.push(networkDown());
    await app.outbox.queue("c1", "written offline");
    await settleDown();
    const reloaded = await testApp(server, worker);
    expect(reloaded.store.outbox.map((e) => e.payload.text)).toEqual(["written offline"]);
    await reloaded.outbox.flush();
    expect(server.stored.get("c1")?.map((m) => payloadOf(m.ciphertext!).payload.text)).toEqual(["written offline"]);
    expect(reloaded.store.messagesOf("c1")[0]?.status).toBe("sent");
  });

  it("does not send while the browser is offline", async () => {
    const server = new FakeServer("a.test");
    const worker = new FakeWorker(ALICE);
    const app = await testApp(server, worker, { online: () => false });
    await joinedChat(app, server, worker, "c1", ["alice@a.test", "bob@a.test"]);
    await app.outbox.queue("c1", "later");
    await app.outbox.flush();
    expect(server.received).toHaveLength(0);
    expect(app.outbox.size).toBe(1);
  });

  it("marks a refused message failed with the server's reason and goes on with the next", async () => {
    const { server, app } = await setUp();
    server.script.push(new ApiError(403, "forbidden", "Only admins can post in this channel."));
    await app.outbox.queue("c1", "refused");
    await app.outbox.queue("c1", "fine");
    await app.outbox.flush();
    await settleDown();
    const refused = app.store.messagesOf("c1").find((m) => m.text === "refused");
    const fine = app.store.messagesOf("c1").find((m) => m.text === "fine");
    expect(refused?.status).toBe("failed");
    expect(refused?.error).toContain("Only admins");
    expect(fine?.status).toBe("sent");
  });

  it.each([
    [503, "unavailable", "The database is restarting."],
    [502, "http_502", "The server answered 502."],
    [429, "throttled", "Too many attempts."],
  ])("keeps a message the server refused with %i (not now) queued and sends it again", async (status, code, text) => {
    const { server, app } = await setUp();
    server.script.push(new ApiError(status, code, text));
    await app.outbox.queue("c1", "while it restarts");
    await settleDown();
    expect(app.outbox.size).toBe(1);
    expect(app.outbox.stalled).toBe(true);
    expect(app.store.messagesOf("c1")[0]?.status).toBe("queued");
    await app.outbox.flush();
    expect(server.received).toHaveLength(2);
    expect(server.received[1]!.body.client_message_id).toBe(server.received[0]!.body.client_message_id);
    expect(server.stored.get("c1")).toHaveLength(1);
    expect(app.store.messagesOf("c1")[0]?.status).toBe("sent");
  });

  it("holds back a chat whose commit awaits its home while other chats go on", async () => {
    const { server, worker, app } = await setUp();
    await joinedChat(app, server, worker, "c2", ["alice@a.test", "carol@a.test"]);
    app.store.chats.get("c1")!.pendingCommit = { cmid: "x", ciphertext: "y" };
    await app.outbox.queue("c1", "waits");
    await app.outbox.queue("c2", "goes");
    await app.outbox.flush();
    await settleDown();
    expect(server.received.map((r) => r.chatId)).toEqual(["c2"]);
    expect(app.store.outbox.map((e) => e.payload.text)).toEqual(["waits"]);
  });

  it("a forwarded send takes the home's id and place when its ordered copy comes back", async () => {
    const { server, app } = await setUp("b.test");
    await app.outbox.queue("c1", "to the home");
    await settleDown();
    const local = app.store.messagesOf("c1")[0]!;
    expect(local.status).toBe("sent");
    expect(local.id).toBeNull();
    expect(app.store.forwarded).toHaveLength(1);
    const ciphertext = server.received[0]!.body.ciphertext;
    const echo = server.store("c1", "application", 0, ciphertext);
    expect(await app.outbox.ordered(echo)).toBe(true);
    expect(local.id).toBe(echo.id);
    expect(local.seq).toBe(echo.seq);
    expect(app.store.forwarded).toHaveLength(0);
    // Someone else's message with another ciphertext is not ours.
    expect(await app.outbox.ordered(server.store("c1", "application", 0, "other"))).toBe(false);
  });

  it("re-encrypts a send the home refused for a stale epoch, then gives up after the retries", async () => {
    const { server, worker, app } = await setUp("b.test");
    await app.outbox.queue("c1", "again");
    await settleDown();
    for (let i = 1; i <= FORWARD_RETRIES; i++) {
      const cmid = app.store.forwarded[0]!.cmid;
      expect(await app.outbox.rejected("c1", cmid, "stale_epoch", "")).toBe(true);
      await settleDown();
      expect(app.store.forwarded).toHaveLength(1);
      expect(app.store.forwarded[0]!.retries).toBe(i);
    }
    expect(worker.encrypted).toBe(1 + FORWARD_RETRIES); // encrypted anew for each retry
    const sentIds = new Set(server.received.map((r) => r.body.client_message_id));
    expect(sentIds.size).toBe(1); // always the same client_message_id
    expect(await app.outbox.rejected("c1", [...sentIds][0], "stale_epoch", "")).toBe(true);
    const local = app.store.messagesOf("c1")[0]!;
    expect(local.status).toBe("failed");
    expect(app.store.forwarded).toHaveLength(0);
    expect(await app.outbox.rejected("c1", "someone-elses", "stale_epoch", "")).toBe(false);
  });
});
