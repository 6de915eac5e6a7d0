// Reading: where "New messages" goes, which arrivals count as unread, and drafts kept in
// the vault's rows (a new app over the same worker is a reload).
import { describe, expect, it } from "vitest";
import type { Frame, WireMessage } from "../src/api/client";
import { Drafts, draftPreview } from "../src/app/drafts";
import { AppStore, type LocalMessage } from "../src/app/store";
import { firstUnreadKey } from "../src/app/unread";
import { FakeServer, FakeWorker, joinedChat, testApp, type TestApp } from "./support/app";

const ALICE = "alice@a.test:dev-a";
const BOB = "bob@a.test:dev-b";

function message(seq: number, extra: Partial<LocalMessage> = {}): LocalMessage {
  return { key: `m${seq}`, id: seq, seq, sender: BOB, text: `#${seq}`, at: seq, mine: false, status: "sent", ...extra };
}

describe("the unread divider", () => {
  it("goes before the first of the last N messages of others", () => {
    const list = [message(1), message(2), message(3), message(4)];
    expect(firstUnreadKey(list, 2)).toBe("m3");
    expect(firstUnreadKey(list, 4)).toBe("m1");
    expect(firstUnreadKey(list, 0)).toBeNull();
    expect(firstUnreadKey([], 3)).toBeNull();
  });

  it("skips what never counted as unread: ours, notices, local lines, unreadable messages", () => {
    const list = [
      message(1),
      message(2),
      message(3, { mine: true, sender: ALICE }),
      message(4, { notice: { timer: 60 } }),
      message(5, { local: { kind: "device-added", user: "bob@a.test" } }),
      message(6, { unavailable: true }),
      message(7),
    ];
    expect(firstUnreadKey(list, 2)).toBe("m2");
    expect(firstUnreadKey(list, 1)).toBe("m7");
  });

  it("starts at the oldest message held when more are unread than this device holds", () => {
    expect(firstUnreadKey([message(1), message(2)], 9)).toBe("m1");
  });
});

async function chatApp(hooks: Parameters<typeof testApp>[2]) {
  const server = new FakeServer("a.test");
  const worker = new FakeWorker(ALICE);
  const app = await testApp(server, worker, hooks);
  await joinedChat(app, server, worker, "c1", ["alice@a.test", "bob@a.test"]);
  worker.groups.get("c1")!.members.push(BOB);
  return { server, worker, app };
}

const event = (m: WireMessage): Frame => ({ type: "event", cursor: m.id, chat_id: m.chat_id, message: m });
const deliver = (app: TestApp, frame: Frame): Promise<void> => app.ctx.lock.run(() => app.inbound.onFrame(frame));

describe("unread counts", () => {
  it("counts a message in the open chat while the page is hidden, not while it is seen", async () => {
    let visible = true;
    const { server, app } = await chatApp({ activeChat: () => "c1", visible: () => visible });
    await deliver(app, event(server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { text: "seen" }))));
    expect(app.store.chats.get("c1")!.unread).toBe(0);
    visible = false;
    await deliver(app, event(server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { text: "while away" }))));
    expect(app.store.chats.get("c1")!.unread).toBe(1);
    expect(firstUnreadKey(app.store.messagesOf("c1"), 1)).toBe(app.store.messagesOf("c1")[1]!.key);
  });
});

describe("drafts", () => {
  it("are kept in the vault's drafts row and come back after a reload", async () => {
    const worker = new FakeWorker(ALICE);
    const store = new AppStore(worker as never);
    const changes: string[] = [];
    const drafts = new Drafts({ store, emit: (kind) => changes.push(kind) });
    await drafts.set("c1", { text: "half a thought", replyTo: "42" });
    await drafts.set("c2", { text: "another" });
    expect(worker.rows.has("drafts")).toBe(true);
    expect(changes).toEqual(["chats", "chats"]);

    const reloaded = new AppStore(worker as never);
    await reloaded.load();
    expect(new Drafts({ store: reloaded, emit: () => undefined }).of("c1")).toEqual({ text: "half a thought", replyTo: "42" });
    expect(reloaded.drafts.get("c2")).toEqual({ text: "another" });
  });

  it("are forgotten when sent or emptied, and a blank one is never written", async () => {
    const worker = new FakeWorker(ALICE);
    const store = new AppStore(worker as never);
    const changes: string[] = [];
    const drafts = new Drafts({ store, emit: (kind) => changes.push(kind) });
    await drafts.set("c1", { text: "   " });
    expect(worker.rows.has("drafts")).toBe(false);
    await drafts.set("c1", { text: "soon sent" });
    await drafts.set("c1", { text: "soon sent" }); // unchanged: nothing written
    await drafts.set("c1", null);
    expect(drafts.of("c1")).toBeUndefined();
    expect(changes).toEqual(["chats", "chats"]);
    const reloaded = new AppStore(worker as never);
    await reloaded.load();
    expect(reloaded.drafts.size).toBe(0);
  });

  it("show their first line in the chat list", () => {
    expect(draftPreview({ text: "  first line\nsecond line" })).toBe("Draft: first line");
    expect(draftPreview({ text: "x".repeat(100) })).toBe(`Draft: ${"x".repeat(80)}…`);
  });
});
