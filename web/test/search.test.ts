// Search: the index module (folding, words, add/update/remove, serialization, a corrupt
// copy) and the app's Search following the store — messages arriving, edited and deleted
// through the real Inbound path, the index sealed as a vault row and read back at start.
import { describe, expect, it } from "vitest";
import type { Frame, WireMessage } from "../src/api/client";
import { docOf, Search, SEARCH_ROW } from "../src/app/search";
import type { LocalMessage } from "../src/app/store";
import { localEngine } from "../src/search/client";
import { fold, SearchIndex, snippet, tokens, type SearchDoc } from "../src/search/searchIndex";
import { FakeServer, FakeWorker, joinedChat, testApp, type TestApp } from "./support/app";

const ALICE = "alice@a.test:dev-a";
const BOB = "bob@a.test:dev-b";

const doc = (chat: string, key: string, text: string, extra: Partial<SearchDoc> = {}): SearchDoc => ({ id: `${chat}/${key}`, chat, key, at: Number(key.slice(1)) || 0, text, ...extra });
const keys = (index: SearchIndex, q: string, chat?: string): string[] => index.search(q, chat === undefined ? {} : { chat }).map((h) => h.key);

describe("folding and words", () => {
  it("drops case and accents (NFD, combining marks), in Latin, Cyrillic, Greek and Hebrew", () => {
    expect(fold("Café CRÈME")).toBe("cafe creme");
    expect(fold("ПРИВЕТ Ёлка")).toBe("привет елка"); // Ё is Е + diaeresis
    expect(fold("Ἀθῆναι")).toBe("αθηναι");
    expect(fold("שָׁלוֹם")).toBe("שלום"); // niqqud are combining marks
    expect(fold("cafe\u0301")).toBe(fold("café"));
  });

  it("splits on punctuation and keeps emoji as words of their own", () => {
    expect(tokens("party🎉tonight, (c++) a.b*c")).toEqual(["party", "🎉", "tonight", "c", "a", "b", "c"]);
    expect(tokens("👍🏽 ok")).toEqual(["👍", "ok"]);
    expect(tokens("東京タワー")).toEqual(["東", "京", "タ", "ワ", "ー"].filter((t) => /\p{L}/u.test(t)));
    expect(tokens(".*+?^${}()|[]\\")).toEqual([]);
  });
});

describe("the index", () => {
  const index = (): SearchIndex => {
    const i = new SearchIndex();
    i.upsert([
      doc("c1", "m1", "Meet at the Café Zürich at noon"),
      doc("c1", "m2", "Привет, как дела? 🎉"),
      doc("c2", "m3", "שָׁלוֹם עליכם, see you tomorrow"),
      doc("c2", "m4", "the report", { name: "Quarterly-Résumé.pdf" }),
      doc("c2", "m5", "cafe later?"),
    ]);
    return i;
  };

  it("finds words case- and accent-insensitively, by prefix while typing, in any script", () => {
    const i = index();
    expect(keys(i, "cafe").sort()).toEqual(["m1", "m5"]);
    expect(keys(i, "CAFÉ zur")).toEqual(["m1"]); // every word; the last one as a prefix
    expect(keys(i, "привет")).toEqual(["m2"]);
    expect(keys(i, "ПРИВ")).toEqual(["m2"]);
    expect(keys(i, "שלום")).toEqual(["m3"]);
    expect(keys(i, "🎉")).toEqual(["m2"]);
    expect(keys(i, "resume")).toEqual(["m4"]); // the file's name
    expect(keys(i, "cafe", "c2")).toEqual(["m5"]); // within one chat
  });

  it("takes regex characters and empty queries without breaking", () => {
    const i = index();
    expect(keys(i, ".*")).toEqual([]);
    expect(keys(i, "(")).toEqual([]);
    expect(keys(i, "")).toEqual([]);
    expect(keys(i, "[cafe]")).toEqual(expect.arrayContaining(["m1", "m5"]));
    expect(keys(i, "zürich)")).toEqual(["m1"]);
  });

  it("follows an edit (found by the new text, not the old) and a removal", () => {
    const i = index();
    expect(i.upsert([doc("c1", "m1", "Meet at the Café Zürich at noon")])).toBe(0); // unchanged
    expect(i.upsert([doc("c1", "m1", "Meet at the station instead")])).toBe(1);
    expect(keys(i, "zurich")).toEqual([]);
    expect(keys(i, "station")).toEqual(["m1"]);
    i.remove(["c2/m5", "c9/none"]);
    expect(keys(i, "cafe")).toEqual([]);
    expect(i.size).toBe(4);
  });

  it("reads the newest segments first and stops once it has enough", () => {
    const i = new SearchIndex(3);
    i.upsert(Array.from({ length: 10 }, (_, n) => doc("c1", `m${n + 1}`, n === 0 ? "hello rare" : `hello number ${n + 1}`)));
    expect(i.search("hello", { limit: 2 }).map((h) => h.key)).toEqual(["m10", "m9"]); // the newest segment (m10) and the one before
    expect(keys(i, "rare")).toEqual(["m1"]); // a rare word: every segment is read
    i.upsert([doc("c1", "m1", "hello edited")]); // an edit stays in its segment
    const back = new SearchIndex(3);
    expect(back.load(i.serialize())).toBe(true);
    expect(keys(back, "edited")).toEqual(["m1"]);
    expect(back.size).toBe(10);
  });

  it("drops what a full pass did not see", () => {
    const i = index();
    i.beginSync();
    i.upsert([doc("c1", "m1", "Meet at the Café Zürich at noon"), doc("c1", "m2", "Привет, как дела? 🎉")]);
    expect(i.endSync()).toBe(3);
    expect(keys(i, "see")).toEqual([]);
    expect(keys(i, "meet")).toEqual(["m1"]);
  });

  it("serializes and loads back the same; a corrupt or foreign copy reads as none (rebuilt)", () => {
    const i = index();
    i.upsert([doc("c1", "m1", "edited text")]);
    i.remove(["c2/m3"]);
    const bytes = i.serialize();
    const back = new SearchIndex();
    expect(back.load(bytes)).toBe(true);
    expect(back.size).toBe(4);
    for (const q of ["cafe", "edited", "привет", "שלום", "resume", "🎉"]) expect(keys(back, q)).toEqual(keys(i, q));
    expect(back.upsert([doc("c1", "m1", "edited text")])).toBe(0); // digests came along

    const broken = bytes.slice(0, bytes.length - 10);
    expect(back.load(broken)).toBe(false);
    expect(back.size).toBe(0);
    expect(back.load(new TextEncoder().encode(JSON.stringify({ v: 999, digests: [], index: {} })))).toBe(false);
    expect(back.load(new Uint8Array([0xff, 0x00, 0x13]))).toBe(false);
    expect(back.load(null)).toBe(false);
    expect(keys(back, "cafe")).toEqual([]);
  });
});

describe("snippets", () => {
  it("marks the matching words in the original text (accents and case as written)", () => {
    const parts = snippet("Meet at the Café Zürich at noon", ["cafe", "zurich"]);
    expect(parts).toEqual([
      { text: "Meet at the ", match: false },
      { text: "Café", match: true },
      { text: " ", match: false },
      { text: "Zürich", match: true },
      { text: " at noon", match: false },
    ]);
  });

  it("shows the part of a long text around the match", () => {
    const text = `${"word ".repeat(100)}needle ${"tail ".repeat(100)}`;
    const parts = snippet(text, ["needle"], [], 60);
    expect(parts[0]).toEqual({ text: "…", match: false });
    expect(parts.at(-1)).toEqual({ text: "…", match: false });
    expect(parts.filter((p) => p.match).map((p) => p.text)).toEqual(["needle"]);
    expect(parts.map((p) => p.text).join("").length).toBeLessThanOrEqual(62);
  });
});

describe("which messages are searchable", () => {
  const m = (extra: Partial<LocalMessage>): LocalMessage => ({ key: "m1", id: 1, seq: 1, sender: BOB, text: "hello", at: 1, mine: false, status: "sent", ...extra });
  it("leaves out gone, burn-after-reading, unreadable messages and notices", () => {
    expect(docOf("c1", m({}))).not.toBeNull();
    expect(docOf("c1", m({ deleted: true }))).toBeNull();
    expect(docOf("c1", m({ expired: true }))).toBeNull();
    expect(docOf("c1", m({ burn: true }))).toBeNull();
    expect(docOf("c1", m({ unavailable: true, text: "" }))).toBeNull();
    expect(docOf("c1", m({ notice: { timer: 60 } }))).toBeNull();
    expect(docOf("c1", m({ text: "", file: { blob_id: "b", key: "k", name: "plan.pdf", mime: "application/pdf", size: 3 } }))?.name).toBe("plan.pdf");
  });
});

describe("Search over the app's store", () => {
  const event = (m: WireMessage): Frame => ({ type: "event", cursor: m.id, chat_id: m.chat_id, message: m });
  const deliver = (app: TestApp, frame: Frame): Promise<void> => app.ctx.lock.run(() => app.inbound.onFrame(frame));

  async function setUp() {
    const server = new FakeServer("a.test");
    const worker = new FakeWorker(ALICE);
    const app = await testApp(server, worker);
    await joinedChat(app, server, worker, "c1", ["alice@a.test", "bob@a.test"]);
    worker.groups.get("c1")!.members.push(BOB);
    const search = new Search({ ctx: app.ctx, engine: localEngine(), title: () => "Bob", persistDelayMs: 5 });
    await search.start();
    return { server, worker, app, search };
  }
  const found = async (search: Search, q: string, chat?: string) => (await search.query(q, chat)).map((r) => r.parts.map((p) => (p.match ? `[${p.text}]` : p.text)).join(""));

  it("indexes arriving messages, follows edits and deletions, and is read back after a reload", async () => {
    const { server, worker, app, search } = await setUp();
    const first = server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { text: "Dinner at Café Zürich?" }));
    await deliver(app, event(first));
    await deliver(app, event(server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { text: "Завтра в 8" }))));
    await search.settled();
    expect(await found(search, "cafe zurich")).toEqual(["Dinner at [Café] [Zürich]?"]);
    expect(await found(search, "ЗАВТРА")).toEqual(["[Завтра] в 8"]);
    expect((await search.query("cafe"))[0]).toMatchObject({ chatId: "c1", title: "Bob", key: `m${first.id}`, id: first.id });

    // Bob edits it: found by the new text, not the old.
    await deliver(app, event({ ...first, ciphertext: FakeWorker.messageBytes(BOB, { text: "Dinner at the Ramen place?" }), edited_at: new Date().toISOString() }));
    await search.settled();
    expect(await found(search, "zurich")).toEqual([]);
    expect(await found(search, "ramen")).toEqual(["Dinner at the [Ramen] place?"]);

    // Sealed into the vault's row; a new app over the same rows (a reload) reads it back.
    await search.persist();
    expect(worker.rows.has(SEARCH_ROW)).toBe(true);
    const reloaded = await testApp(server, worker);
    const again = new Search({ ctx: reloaded.ctx, engine: localEngine(), title: () => "Bob" });
    await again.start();
    expect(again.rebuilt).toBe(false);
    expect(await found(again, "ramen")).toEqual(["Dinner at the [Ramen] place?"]);

    // Deleted: it leaves the results.
    await deliver(reloaded, event({ ...first, ciphertext: null, deleted: true }));
    await again.settled();
    expect(await found(again, "ramen")).toEqual([]);
    expect(await found(again, "завтра")).toHaveLength(1);
  });

  it("rebuilds a missing or corrupt index from the vault's messages, and drops what the vault no longer has", async () => {
    const { server, worker, app, search } = await setUp();
    await deliver(app, event(server.store("c1", "application", 0, FakeWorker.messageBytes(BOB, { text: "the blue lagoon" }))));
    await search.settled();
    await search.persist();
    worker.rows.set(SEARCH_ROW, new Uint8Array([1, 2, 3, 4])); // corrupt
    const reloaded = await testApp(server, worker);
    const again = new Search({ ctx: reloaded.ctx, engine: localEngine(), title: () => "Bob", persistDelayMs: 5 });
    await again.start();
    expect(again.rebuilt).toBe(true);
    expect(await found(again, "lagoon")).toEqual(["the blue [lagoon]"]);
    await new Promise((r) => setTimeout(r, 30)); // the rebuilt index is sealed again
    expect(new SearchIndex().load(worker.rows.get(SEARCH_ROW)!)).toBe(true);

    // The index knows a message the vault's messages no longer hold: it goes at start.
    reloaded.store.messagesOf("c1").splice(0);
    await reloaded.store.saveMessages("c1");
    const third = new Search({ ctx: (await testApp(server, worker)).ctx, engine: localEngine(), title: () => "Bob" });
    await third.start();
    expect(await found(third, "lagoon")).toEqual([]);
  });
});
