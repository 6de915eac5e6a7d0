// The full-text index over this device's decrypted messages (MiniSearch; why this library:
// bench/search/README.md). It runs in its own worker (./worker.ts) and holds only what the
// page hands it; the page seals its serialized form into the vault (app/search.ts). Terms
// are folded — NFD, combining marks stripped, lower case — so "cafe" finds "Café" and
// "ПРИВЕТ" finds "привет"; the query is split into words like the text, so regex
// characters in it are only separators.
import MiniSearch, { type Options, type SearchResult } from "minisearch";

/** What is indexed of one message: its text and its file's name. */
export interface SearchDoc {
  /** `<chat id>/<message key>` */
  id: string;
  chat: string;
  key: string;
  at: number;
  text: string;
  name?: string;
}

export interface SearchHit {
  id: string;
  chat: string;
  key: string;
  at: number;
  score: number;
  /** The folded index terms that matched (prefix expansions included), for highlighting. */
  terms: string[];
}

/** Bumped when the options or the layout below change: an index of another version is rebuilt. */
export const INDEX_VERSION = 2;

/**
 * Messages per segment. The index is a list of MiniSearch segments, oldest first (filled
 * in time order at a rebuild, new messages into the newest): a query reads the newest
 * segments first and stops once it has enough, so a very common word costs one segment's
 * postings, not the whole history's (bench/search/README.md).
 */
export const SEGMENT = 5000;
/** Case and accent folding: NFD, combining marks (accents, niqqud, harakat) dropped, lower case. */
export function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

// One CJK character per term (no spaces there); runs of letters and digits (with their
// marks); each pictograph (emoji) on its own.
const TOKEN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}])[\p{L}\p{N}\p{M}])+|\p{Extended_Pictographic}/gu;

/** The words of a text, as written (fold them to compare). */
export function tokens(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/** Where each word of `text` is: [start, end) in the original string. */
export function tokenSpans(text: string): { start: number; end: number; term: string }[] {
  const spans: { start: number; end: number; term: string }[] = [];
  for (const m of text.matchAll(TOKEN)) spans.push({ start: m.index, end: m.index + m[0].length, term: fold(m[0]) });
  return spans;
}

/** A short digest of what is indexed for a message: tells whether it changed. */
function digest(doc: SearchDoc): string {
  let h = 0x811c9dc5;
  const s = `${doc.text}\u0000${doc.name ?? ""}\u0000${doc.at}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36) + s.length.toString(36);
}

const OPTIONS: Options<SearchDoc> = {
  idField: "id",
  fields: ["text", "name"],
  storeFields: ["chat", "key", "at"],
  tokenize: tokens,
  processTerm: (term) => fold(term),
  // Prefix only for the last word (the one being typed); all words must match.
  searchOptions: { prefix: (_term, i, all) => i === all.length - 1, combineWith: "AND", boost: { text: 1, name: 1.5 } },
};

const segment = (): MiniSearch<SearchDoc> => new MiniSearch<SearchDoc>(OPTIONS);

interface Serialized {
  v: number;
  /** id, digest, segment */
  docs: [string, string, number][];
  segments: unknown[];
}

export class SearchIndex {
  private segments: MiniSearch<SearchDoc>[] = [segment()];
  /** id → [digest, segment] */
  private docs = new Map<string, [string, number]>();
  /** Ids not seen since `beginSync` (removed by `endSync`). */
  private unseen: Set<string> | null = null;

  constructor(private readonly segmentSize = SEGMENT) {}

  get size(): number {
    return this.docs.size;
  }

  /**
   * Takes a serialized index (null: none); false when there was none or it could not be
   * read (corrupt, another version) — the index is then empty and is rebuilt by syncing.
   */
  load(bytes: Uint8Array | null): boolean {
    this.reset();
    if (bytes === null) return false;
    try {
      const data = JSON.parse(new TextDecoder().decode(bytes)) as Serialized;
      if (data.v !== INDEX_VERSION || !Array.isArray(data.docs) || !Array.isArray(data.segments) || data.segments.length === 0) return false;
      const segments = data.segments.map((js) => MiniSearch.loadJS<SearchDoc>(js as Parameters<typeof MiniSearch.loadJS>[0], OPTIONS));
      const docs = new Map(data.docs.map(([id, d, s]) => [id, [d, s] as [string, number]]));
      const count = segments.reduce((n, seg) => n + seg.documentCount, 0);
      if (count !== docs.size || [...docs.values()].some(([, s]) => segments[s] === undefined)) return false;
      this.segments = segments;
      this.docs = docs;
      return true;
    } catch {
      this.reset();
      return false;
    }
  }

  serialize(): Uint8Array {
    const data: Serialized = {
      v: INDEX_VERSION,
      docs: [...this.docs].map(([id, [d, s]]) => [id, d, s]),
      segments: this.segments.map((seg) => seg.toJSON()),
    };
    return new TextEncoder().encode(JSON.stringify(data));
  }

  /** Adds new messages and changed ones (by digest); how many were (re)indexed. */
  upsert(docs: SearchDoc[]): number {
    let changed = 0;
    for (const doc of docs) {
      this.unseen?.delete(doc.id);
      const d = digest(doc);
      const before = this.docs.get(doc.id);
      if (before?.[0] === d) continue;
      let at = this.segments.length - 1;
      if (before !== undefined) {
        at = before[1]; // an edit stays where the message is
        this.segments[at]!.discard(doc.id);
      } else if (this.segments[at]!.documentCount >= this.segmentSize) {
        this.segments.push(segment());
        at++;
      }
      this.segments[at]!.add(doc);
      this.docs.set(doc.id, [d, at]);
      changed++;
    }
    return changed;
  }

  remove(ids: string[]): void {
    for (const id of ids) {
      const entry = this.docs.get(id);
      if (entry === undefined) continue;
      this.docs.delete(id);
      this.segments[entry[1]]!.discard(id);
    }
  }

  /** A full pass starts: every message not upserted before `endSync` leaves the index. */
  beginSync(): void {
    this.unseen = new Set(this.docs.keys());
  }

  /** How many were removed. */
  endSync(): number {
    const gone = [...(this.unseen ?? [])];
    this.unseen = null;
    this.remove(gone);
    return gone.length;
  }

  /**
   * Best first (newer first among equals) among the newest segments that hold `limit`
   * matches; `chat` limits it to one chat.
   */
  search(query: string, options: { chat?: string; limit?: number } = {}): SearchHit[] {
    if (tokens(query).length === 0) return [];
    const chat = options.chat;
    const limit = options.limit ?? 50;
    const found: SearchResult[] = [];
    for (let s = this.segments.length - 1; s >= 0 && found.length < limit; s--) {
      found.push(...this.segments[s]!.search(query, chat === undefined ? {} : { filter: (r) => r["chat"] === chat }));
    }
    found.sort((a, b) => b.score - a.score || (b["at"] as number) - (a["at"] as number));
    return found.slice(0, limit).map((r) => ({
      id: String(r.id),
      chat: r["chat"] as string,
      key: r["key"] as string,
      at: r["at"] as number,
      score: r.score,
      terms: r.terms,
    }));
  }

  private reset(): void {
    this.segments = [segment()];
    this.docs = new Map();
    this.unseen = null;
  }
}

/** A piece of a snippet: `match` pieces are shown highlighted. */
export interface SnippetPart {
  text: string;
  match: boolean;
}

/**
 * The part of `text` around its first matching word (about `width` characters), split
 * into plain and matching pieces. A word matches when its folded form is one of `terms`
 * (the hit's matched terms) or starts with one of `prefixes` (the words typed).
 */
export function snippet(text: string, terms: string[], prefixes: string[] = [], width = 120): SnippetPart[] {
  const wanted = new Set(terms);
  const typed = prefixes.map(fold).filter((p) => p !== "");
  const matches = tokenSpans(text).filter((s) => wanted.has(s.term) || typed.some((p) => s.term.startsWith(p)));
  let from = 0;
  let to = text.length;
  if (text.length > width) {
    const first = matches[0]?.start ?? 0;
    from = Math.max(0, first - Math.floor(width / 4));
    // Not in the middle of a word (or a surrogate pair).
    while (from > 0 && /\S/u.test(text[from - 1] ?? "") && first - from < width / 2) from--;
    to = Math.min(text.length, from + width);
    if (to < text.length && /[\uD800-\uDBFF]/.test(text[to - 1] ?? "")) to--; // not half an emoji
  }
  const parts: SnippetPart[] = [];
  const push = (s: string, match: boolean): void => {
    if (s !== "") parts.push({ text: s, match });
  };
  if (from > 0) push("…", false);
  let at = from;
  for (const m of matches) {
    if (m.end <= from || m.start >= to) continue;
    const start = Math.max(m.start, from);
    push(text.slice(at, start), false);
    push(text.slice(start, Math.min(m.end, to)), true);
    at = Math.min(m.end, to);
  }
  push(text.slice(at, to), false);
  if (to < text.length) push("…", false);
  return parts;
}
