import { describe, expect, it } from "vitest";
import type { MessagePayload } from "../src/crypto/payload";
import { FakeServer, FakeWorker, joinedChat, payloadOf, testApp } from "./support/app";
import type { LocalMessage } from "../src/app/store";

const ALICE = "alice@a.test:dev-a";

function message(seq: number, mine: boolean, status: LocalMessage["status"] = "sent"): LocalMessage {
  return { key: `m${seq}`, id: 100 + seq, seq, sender: mine ? ALICE : "bob@a.test:b", text: `#${seq}`, at: seq, mine, status };
}

async function setUp(reading: boolean) {
  const server = new FakeServer("a.test");
  const worker = new FakeWorker(ALICE);
  const app = await testApp(server, worker, { activeChat: () => (reading ? "c1" : null) });
  await joinedChat(app, server, worker, "c1", ["alice@a.test", "bob@a.test"]);
  const receipts = () => server.received.map((r) => payloadOf(r.body.ciphertext).payload).map((p) => [p["receipt"], p["upto"]]);
  return { app, receipts };
}

const receipt = (kind: string, upto: number, sender = "bob@a.test:b"): MessagePayload => ({ _v: 1, sender, text: "", receipt: kind, upto });

describe("receipts", () => {
  it("says read for an open chat, once per newest message", async () => {
    const { app, receipts } = await setUp(true);
    app.store.insert("c1", message(1, false));
    app.store.insert("c1", message(2, false));
    await app.receipts.sendNow("c1");
    await app.receipts.sendNow("c1");
    app.store.insert("c1", message(3, false));
    await app.receipts.sendNow("c1");
    expect(receipts()).toEqual([
      ["read", 2],
      ["read", 3],
    ]);
  });

  it("says delivered for a chat not open, and nothing for our own messages", async () => {
    const { app, receipts } = await setUp(false);
    app.store.insert("c1", message(1, true));
    await app.receipts.sendNow("c1");
    expect(receipts()).toEqual([]);
    app.store.insert("c1", message(2, false));
    await app.receipts.sendNow("c1");
    expect(receipts()).toEqual([["delivered", 2]]);
  });

  it("moves our ticks forward only, never over a failed message, never on our own devices' receipts", async () => {
    const { app } = await setUp(false);
    for (const m of [message(1, true), message(2, true, "failed"), message(3, true), message(4, true)]) app.store.insert("c1", m);
    await app.receipts.onReceipt("c1", receipt("read", 3));
    await app.receipts.onReceipt("c1", receipt("delivered", 4));
    await app.receipts.onReceipt("c1", receipt("delivered", 3)); // late: read stays read
    await app.receipts.onReceipt("c1", receipt("read", 4, "alice@a.test:other")); // our sibling read it: not a tick
    expect(app.store.messagesOf("c1").map((m) => m.status)).toEqual(["read", "failed", "read", "delivered"]);
  });

  it("takes what another of our devices read off this device's unread count, and says read no more for it", async () => {
    const { app, receipts } = await setUp(false);
    for (const seq of [1, 2, 3, 4]) app.store.insert("c1", message(seq, false));
    const chat = app.store.chats.get("c1")!;
    chat.unread = 4;
    chat.unreadMentions = 1;
    await app.receipts.onReceipt("c1", receipt("delivered", 4, "alice@a.test:phone")); // delivered is not read
    expect(chat.unread).toBe(4);
    await app.receipts.onReceipt("c1", receipt("read", 2, "alice@a.test:phone"));
    expect([chat.unread, chat.unreadMentions]).toEqual([2, 1]);
    await app.receipts.onReceipt("c1", receipt("read", 4, "alice@a.test:phone"));
    expect([chat.unread, chat.unreadMentions]).toEqual([0, 0]);
    await app.receipts.onReceipt("c1", receipt("read", 4, "bob@a.test:b")); // theirs: not about our count
    await app.receipts.sendNow("c1");
    expect(receipts()).toEqual([]); // read on the phone already: this device says nothing more
  });
});
