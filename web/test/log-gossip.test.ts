// Key-log heads compared between clients (src/app/logGossip.ts): what counts as a conflict,
// what is told to which chat, and the warning a conflicting head leaves.
import "fake-indexeddb/auto";
import type { Remote } from "comlink";
import { describe, expect, it } from "vitest";
import { headConflict, headsOf, LogGossip, rememberHead } from "../src/app/logGossip";
import { AppStore, type ChatRecord, type ContactRecord } from "../src/app/store";
import type { MlsWorkerApi } from "../src/mls/api";
import { FakeWorker } from "./support/app";

const log = (size: number, head: string) => ({ size, head, identityKey: null, certificates: {} });

describe("head conflicts", () => {
  it("same size and another head is a fork; more than we see (after looking again) is hidden; an older size is checked against what we kept", () => {
    const record: ContactRecord = { identityKey: null, devices: {}, log: log(3, "h3") };
    rememberHead(record, { identityKey: null, devices: {}, heads: { "2": "h2" } });
    expect(record.heads).toEqual({ "2": "h2", "3": "h3" });
    expect(headConflict(record, { size: 3, head: "h3" })).toBeNull();
    expect(headConflict(record, { size: 3, head: "other" })).toBe("fork");
    expect(headConflict(record, { size: 4, head: "h4" })).toBe("hidden");
    expect(headConflict(record, { size: 2, head: "h2" })).toBeNull();
    expect(headConflict(record, { size: 2, head: "other" })).toBe("fork");
    expect(headConflict(record, { size: 1, head: "unknown to us" })).toBeNull();
    expect(headConflict(undefined, { size: 1, head: "x" })).toBeNull();
  });

  it("keeps only the newest heads and drops malformed ones from a payload", () => {
    let record: ContactRecord = { identityKey: null, devices: {} };
    for (let size = 1; size <= 40; size++) {
      const next: ContactRecord = { identityKey: null, devices: {}, log: log(size, `h${size}`) };
      rememberHead(next, record);
      record = next;
    }
    expect(Object.keys(record.heads!)).toHaveLength(32);
    expect(record.heads!["8"]).toBeUndefined();
    expect(headsOf({ "a@x": { size: 2, head: "h" }, "b@x": { size: "2", head: "h" }, "c@x": null })).toEqual({ "a@x": { size: 2, head: "h" } });
  });
});

describe("LogGossip", () => {
  it("tells the chats with a user the heads it sees (once), and warns on a head that conflicts", async () => {
    const store = new AppStore(new FakeWorker("alice@a.test:a") as unknown as Remote<MlsWorkerApi>);
    const members = [{ user: "alice@a.test", role: "owner" }, { user: "bob@a.test", role: "member" }];
    store.chats.set("c1", { id: "c1", kind: "direct", members, joined: true, removed: false } as unknown as ChatRecord);
    store.chats.set("c2", { id: "c2", kind: "group", members: [members[0]!], joined: true, removed: false } as unknown as ChatRecord);
    store.contacts.set("bob@a.test", { identityKey: null, devices: {}, log: log(2, "b2"), heads: { "2": "b2" } });
    store.contacts.set("alice@a.test", { identityKey: null, devices: {}, log: log(1, "a1"), heads: { "1": "a1" } });
    const sent: Array<[string, unknown]> = [];
    const rechecked: string[] = [];
    const gossip = new LogGossip({
      ctx: { store, user: "alice@a.test", domain: "a.test", emit: () => undefined },
      sendControl: async (chatId, payload) => void sent.push([chatId, payload["keylog_heads"]]),
      recheck: async (user) => void rechecked.push(user),
    });
    await gossip.seen("bob@a.test");
    await gossip.seen("bob@a.test");
    expect(sent).toEqual([["c1", { "alice@a.test": { size: 1, head: "a1" }, "bob@a.test": { size: 2, head: "b2" } }]]);

    await gossip.onHeads("c1", { _v: 1, sender: "bob@a.test:b", text: "", keylog_heads: { "bob@a.test": { size: 2, head: "b2" }, "alice@a.test": { size: 1, head: "a1" } } });
    expect(store.chats.get("c1")!.warnings).toBeUndefined();
    expect(rechecked).toEqual([]);
    await gossip.onHeads("c1", { _v: 1, sender: "bob@a.test:b", text: "", keylog_heads: { "alice@a.test": { size: 2, head: "a2" } } });
    expect(rechecked).toEqual(["alice@a.test"]);
    const hidden = "bob's device was shown more of your account's key log than this device: the server is showing people different keys.";
    expect(store.chats.get("c1")!.warnings).toEqual([hidden]);
    await gossip.onHeads("c1", { _v: 1, sender: "bob@a.test:b", text: "", keylog_heads: { "bob@a.test": { size: 2, head: "forked" } } });
    expect(store.chats.get("c1")!.warnings).toContain("bob's device and this device were shown different key logs for bob: the server is showing people different keys.");
    // A problem with our own account's log shows in every chat we are in.
    expect(store.chats.get("c2")!.warnings).toEqual([hidden]);
    // Heads about someone who is not in the chat are not taken from it.
    await gossip.onHeads("c2", { _v: 1, sender: "alice@a.test:a2", text: "", keylog_heads: { "bob@a.test": { size: 2, head: "forked again" } } });
    expect(store.chats.get("c2")!.warnings).toEqual([hidden]);
  });
});
