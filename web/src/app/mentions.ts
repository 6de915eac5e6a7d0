// Mentions: "@bob" in a group's message. The mentioned users travel inside the sealed
// payload (`mentions`: a list of `user@domain`), never in anything the server reads.
// Pure functions shared by the composer's picker, the inbound path and the bubble.
import { displayName } from "./format";

/** More than this many mentioned users in one payload is not believed. */
export const MAX_MENTIONS = 50;
const USER = /^[^\s@:]{1,150}@[^\s@:]{1,253}$/;

/** What follows an "@" being typed right before the caret (null: no mention is being typed). */
export interface MentionQuery {
  /** Index of the "@" in the text. */
  start: number;
  /** What was typed after it, up to the caret. */
  query: string;
}

export function mentionQuery(text: string, caret: number): MentionQuery | null {
  const before = text.slice(0, caret);
  const at = before.lastIndexOf("@");
  if (at < 0) return null;
  // The "@" starts a word (else it is an e-mail address), and nothing typed since breaks it.
  if (at > 0 && !/\s/.test(before.charAt(at - 1))) return null;
  const query = before.slice(at + 1);
  if (/\s/.test(query) || query.length > 64) return null;
  return { start: at, query };
}

/** How a user is written after the "@": as the writer sees the name (`bob`, or `carol@b.test`). */
export function mentionLabel(user: string, domain: string): string {
  return `@${displayName(user, domain)}`;
}

/** The members the picker offers for a query: not me, whose name starts (else contains) it. */
export function mentionCandidates(members: readonly string[], query: string, me: string, domain: string, limit = 8): string[] {
  const q = query.toLowerCase();
  const others = members.filter((u) => u !== me);
  const name = (u: string): string => displayName(u, domain).toLowerCase();
  const starts = others.filter((u) => name(u).startsWith(q));
  const contains = others.filter((u) => !name(u).startsWith(q) && (name(u).includes(q) || u.toLowerCase().includes(q)));
  const byName = (a: string, b: string): number => name(a).localeCompare(name(b));
  return [...starts.sort(byName), ...contains.sort(byName)].slice(0, limit);
}

/** The text with the typed "@query" replaced by the user's label and a space; the caret after it. */
export function insertMention(text: string, q: MentionQuery, caret: number, user: string, domain: string): { text: string; caret: number } {
  const label = `${mentionLabel(user, domain)} `;
  const after = text.slice(caret).replace(/^ /, "");
  return { text: text.slice(0, q.start) + label + after, caret: q.start + label.length };
}

/** Of the users picked while writing, those whose mention is still in the text being sent. */
export function mentionsIn(text: string, picked: Iterable<string>, domain: string): string[] {
  const found = new Set<string>();
  for (const user of picked) if (labelSpans(text, [user], domain).length > 0) found.add(user);
  return [...found];
}

/** A payload's `mentions`, checked: a list of distinct `user@domain` (anything else: none). */
export function mentionList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const users = value.filter((u): u is string => typeof u === "string" && USER.test(u));
  if (users.length === 0 || users.length > MAX_MENTIONS) return undefined;
  return [...new Set(users)];
}

export interface MentionSpan {
  start: number;
  end: number;
  user: string;
}

/**
 * Where the mentioned users' labels stand in a text (for highlighting). A label counts
 * at a word start and not followed by more of a name. A mention written on another
 * instance may carry the full address or only the name part: both are looked for.
 */
export function labelSpans(text: string, users: readonly string[], domain: string): MentionSpan[] {
  const labels: { label: string; user: string }[] = [];
  for (const user of users) {
    for (const label of new Set([`@${user}`, mentionLabel(user, domain), `@${user.split("@")[0] ?? user}`])) labels.push({ label, user });
  }
  labels.sort((a, b) => b.label.length - a.label.length);
  const spans: MentionSpan[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text.charAt(i) !== "@" || (i > 0 && !/\s|[(["']/.test(text.charAt(i - 1)))) continue;
    const hit = labels.find(({ label }) => text.startsWith(label, i) && endsName(text, i + label.length));
    if (hit === undefined) continue;
    spans.push({ start: i, end: i + hit.label.length, user: hit.user });
    i += hit.label.length - 1;
  }
  return spans;
}

/** Nothing more of a name follows at `j` (a full stop ending the sentence is fine). */
function endsName(text: string, j: number): boolean {
  const c = text.charAt(j);
  if (c === ".") return !/[\w-]/.test(text.charAt(j + 1));
  return !/[\w@-]/.test(c);
}

/** The message mentions this user (from a payload's list; our own messages never do). */
export function mentionsMe(m: { mentions?: readonly string[]; mine: boolean }, me: string): boolean {
  return !m.mine && (m.mentions?.includes(me) ?? false);
}
