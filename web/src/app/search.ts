// Search over this device's decrypted messages. The index (../search/searchIndex.ts,
// MiniSearch in its own worker) follows every save of a chat's messages (AppStore's
// `onMessagesSaved`): new and edited messages are (re)indexed by their text and file name,
// deleted, burnt-after-reading and expired ones leave it. Its serialized form is sealed in
// the vault as the `search/index` row like every app row (never plaintext IndexedDB, never
// the server), written a little after changes; at start it is read back and checked against
// the vault's messages (a missing or unreadable index is rebuilt from them), in chunks so
// the page stays responsive.
import type { Remote } from "comlink";
import type { MlsWorkerApi } from "../mls/api";
import type { SearchEngine } from "../search/client";
import { snippet, type SearchDoc, type SnippetPart } from "../search/searchIndex";
import type { AppContext } from "./context";
import type { LocalMessage } from "./store";

export const SEARCH_ROW = "search/index";
/** Messages handed to the worker at a time while (re)building. */
const CHUNK = 500;

/** One result as the UI shows it. */
export interface SearchResultView {
  chatId: string;
  title: string;
  key: string;
  /** The server's id (null: not sent yet). */
  id: number | null;
  at: number;
  sender: string;
  mine: boolean;
  /** The text around the match; the file's name when the match is there. */
  parts: SnippetPart[];
}

/** What of a message is searchable; null for what must never be found (gone, burn-after-reading, not readable, notices). */
export function docOf(chatId: string, m: LocalMessage): SearchDoc | null {
  if (m.deleted === true || m.expired === true || m.unavailable === true || m.burn === true) return null;
  if (m.notice !== undefined || m.local !== undefined) return null;
  const name = m.file?.name;
  if (m.text.trim() === "" && (name === undefined || name === "")) return null;
  const doc: SearchDoc = { id: `${chatId}/${m.key}`, chat: chatId, key: m.key, at: m.at, text: m.text };
  if (name !== undefined) doc.name = name;
  return doc;
}

export interface SearchDeps {
  readonly ctx: Pick<AppContext, "store"> & { readonly mls: Pick<Remote<MlsWorkerApi>, "appGet" | "appPut"> };
  readonly engine: SearchEngine;
  /** The chat's name as the chat list shows it. */
  title(chatId: string): string;
  /** How long after the last change the index is sealed into the vault. */
  persistDelayMs?: number;
}

export class Search extends EventTarget {
  /** What the index holds: chat → message key → the indexed text and name. */
  private readonly indexed = new Map<string, Map<string, { text: string; name: string | undefined }>>();
  private readonly dirty = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();
  private flushQueued = false;
  private persistTimer: ReturnType<typeof setTimeout> | null = null;
  private unsavedSince: number | null = null;
  private stopped = false;
  /** Set while the index is being (re)built: how far it is. */
  progress: { done: number; total: number } | null = null;
  /** True once the index was checked against the vault's messages at start. */
  ready = false;
  /** The index could not be read (missing, corrupt, another version) and was rebuilt. */
  rebuilt = false;

  constructor(private readonly deps: SearchDeps) {
    super();
    deps.ctx.store.onMessagesSaved = (chatId) => this.changed(chatId);
  }

  /** Reads the sealed index and brings it in line with the vault's messages. */
  start(): Promise<void> {
    return this.run(() => this.build());
  }

  stop(): void {
    this.stopped = true;
    if (this.persistTimer !== null) clearTimeout(this.persistTimer);
    this.deps.engine.terminate();
  }

  /** A chat's messages were saved: the index follows (soon, off the page's thread). */
  changed(chatId: string): void {
    this.dirty.add(chatId);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setTimeout(() => {
      this.flushQueued = false;
      void this.run(() => this.flush());
    }, 0);
  }

  /** Waits until every change so far is in the index (tests; a sealed copy follows later). */
  async settled(): Promise<void> {
    while (this.flushQueued || this.dirty.size > 0) {
      await new Promise((r) => setTimeout(r, 0));
      await this.chain;
    }
    await this.chain;
  }

  /** Best matches first, across all chats or within `chatId`. */
  async query(text: string, chatId?: string, limit = 50): Promise<SearchResultView[]> {
    const options: { chat?: string; limit: number } = { limit };
    if (chatId !== undefined) options.chat = chatId;
    const hits = await this.deps.engine.search(text, options);
    const byKey = new Map<string, Map<string, LocalMessage>>();
    const results: SearchResultView[] = [];
    for (const hit of hits) {
      let messages = byKey.get(hit.chat);
      if (messages === undefined) {
        messages = new Map(this.deps.ctx.store.messagesOf(hit.chat).map((m) => [m.key, m]));
        byKey.set(hit.chat, messages);
      }
      const m = messages.get(hit.key);
      const doc = m === undefined ? null : docOf(hit.chat, m);
      if (m === undefined || doc === null) continue; // changed since: its update is on its way
      let parts = snippet(doc.text, hit.terms);
      if (!parts.some((p) => p.match) && doc.name !== undefined) parts = snippet(doc.name, hit.terms);
      results.push({ chatId: hit.chat, title: this.deps.title(hit.chat), key: m.key, id: m.id, at: m.at, sender: m.sender, mine: m.mine, parts });
    }
    return results;
  }

  /** Seals the index into the vault now. */
  async persist(): Promise<void> {
    await this.run(() => this.save());
  }

  /** Runs index work one piece at a time, in order (a failure is logged, not kept). */
  private run(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work).catch((err: unknown) => console.warn("talkee: search index", err));
    this.chain = next;
    return next;
  }

  private async build(): Promise<void> {
    const { store, mls } = this.deps.ctx;
    const bytes = await mls.appGet(SEARCH_ROW);
    const loaded = await this.deps.engine.load(bytes ?? null);
    this.rebuilt = !loaded;
    if (!loaded && bytes !== undefined) console.warn("talkee: search index unreadable, rebuilding it from the vault's messages");
    const chats = [...store.chats.keys()];
    const all: { chatId: string; m: LocalMessage }[] = [];
    for (const chatId of chats) for (const m of store.messagesOf(chatId)) all.push({ chatId, m });
    all.sort((a, b) => a.m.at - b.m.at); // oldest first: the index's newest segments hold the newest messages
    this.progress = { done: 0, total: all.length };
    this.dispatchEvent(new Event("progress"));
    await this.deps.engine.beginSync();
    let changed = 0;
    for (let i = 0; i < all.length && !this.stopped; i += CHUNK) {
      const docs: SearchDoc[] = [];
      for (const { chatId, m } of all.slice(i, i + CHUNK)) {
        const doc = docOf(chatId, m);
        if (doc === null) continue;
        docs.push(doc);
        this.remember(chatId, doc);
      }
      changed += await this.deps.engine.upsert(docs);
      this.progress = { done: Math.min(all.length, i + CHUNK), total: all.length };
      this.dispatchEvent(new Event("progress"));
      await new Promise((r) => setTimeout(r, 0)); // let the page breathe between chunks
    }
    changed += await this.deps.engine.endSync();
    this.progress = null;
    this.ready = true;
    this.dispatchEvent(new Event("indexed"));
    if (changed > 0 || !loaded) this.schedulePersist();
  }

  private remember(chatId: string, doc: SearchDoc): void {
    let keys = this.indexed.get(chatId);
    if (keys === undefined) {
      keys = new Map();
      this.indexed.set(chatId, keys);
    }
    keys.set(doc.key, { text: doc.text, name: doc.name });
  }

  /** The saved chats against what the index holds: only what changed goes to the worker. */
  private async flush(): Promise<void> {
    const chats = [...this.dirty];
    this.dirty.clear();
    let changed = false;
    for (const chatId of chats) {
      const before = this.indexed.get(chatId) ?? new Map<string, { text: string; name: string | undefined }>();
      const now = new Map<string, { text: string; name: string | undefined }>();
      const upserts: SearchDoc[] = [];
      for (const m of this.deps.ctx.store.messagesOf(chatId)) {
        const doc = docOf(chatId, m);
        if (doc === null) continue;
        const entry = { text: doc.text, name: doc.name };
        now.set(m.key, entry);
        const was = before.get(m.key);
        if (was === undefined || was.text !== entry.text || was.name !== entry.name) upserts.push(doc);
      }
      const gone = [...before.keys()].filter((key) => !now.has(key)).map((key) => `${chatId}/${key}`);
      this.indexed.set(chatId, now);
      if (upserts.length === 0 && gone.length === 0) continue;
      for (let i = 0; i < upserts.length; i += CHUNK) await this.deps.engine.upsert(upserts.slice(i, i + CHUNK));
      if (gone.length > 0) await this.deps.engine.remove(gone);
      changed = true;
    }
    if (changed) {
      this.dispatchEvent(new Event("indexed"));
      this.schedulePersist();
    }
  }

  /** Sealed a little after the last change (at most every 10 s while changes keep coming). */
  private schedulePersist(): void {
    if (this.stopped) return;
    const now = Date.now();
    this.unsavedSince ??= now;
    if (this.persistTimer !== null) clearTimeout(this.persistTimer);
    const delay = now - this.unsavedSince > 10_000 ? 0 : (this.deps.persistDelayMs ?? 1500);
    this.persistTimer = setTimeout(() => {
      this.persistTimer = null;
      void this.run(() => this.save());
    }, delay);
  }

  private async save(): Promise<void> {
    if (this.stopped) return;
    this.unsavedSince = null;
    const bytes = await this.deps.engine.serialize();
    await this.deps.ctx.mls.appPut(SEARCH_ROW, bytes);
  }
}
