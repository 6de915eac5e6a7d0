// Key-log heads compared between clients (issue 20, key transparency): the server could show
// different people different logs for the same user (a split view) and each client's own
// check (./keylog, ./contacts) would pass. So each device tells the chats a user is in what
// head it saw of that user's log, in an encrypted control message `{keylog_heads: {user:
// {size, head}}}` (sealed by MLS like any message: the server sees a padded ciphertext), and
// checks the heads others tell it:
//   - same size, other head → the two were shown different logs;
//   - a bigger size than this device sees after looking again → the server shows them entries
//     it hides from us (an append-only log never shrinks, and they saw theirs before telling);
//   - a smaller size → compared with the head this device saw at that size, when it kept it.
// Either way the chats with that user say so. It proves that members who talk see one log
// for the users they compare; it says nothing about users nobody in the chat has looked up.
import type { MessagePayload } from "../crypto/payload";
import type { OutgoingPayload } from "../mls/api";
import type { AppContext } from "./context";
import { chatsWith } from "./contacts";
import { displayName, userOf } from "./format";
import { addWarning, type ContactRecord } from "./store";

/** Heads kept per user (sizes seen), oldest dropped first. */
const KEPT_HEADS = 32;

export type LogHeads = Record<string, { size: number; head: string }>;

export interface LogGossipDeps {
  readonly ctx: Pick<AppContext, "store" | "user" | "domain" | "emit">;
  sendControl(chatId: string, payload: OutgoingPayload): Promise<unknown>;
  /** Looks at `user`'s keys and log again now (./contacts check, not skipped as too recent). */
  recheck(user: string): Promise<void>;
}

/** The heads a payload carries (malformed entries left out). */
export function headsOf(value: unknown): LogHeads {
  const out: LogHeads = {};
  if (value === null || typeof value !== "object") return out;
  for (const [user, v] of Object.entries(value as Record<string, unknown>)) {
    const entry = v as { size?: unknown; head?: unknown } | null;
    if (entry !== null && typeof entry === "object" && Number.isInteger(entry.size) && typeof entry.head === "string") {
      out[user] = { size: entry.size as number, head: entry.head };
    }
  }
  return out;
}

/** Remembers the head of `record`'s log at its size (called when a look at the user's log saved it). */
export function rememberHead(record: ContactRecord, before: ContactRecord | undefined): void {
  const heads = { ...(before?.heads ?? {}) };
  if (record.log !== undefined) heads[String(record.log.size)] = record.log.head;
  const sizes = Object.keys(heads).map(Number).sort((a, b) => a - b);
  for (const size of sizes.slice(0, Math.max(0, sizes.length - KEPT_HEADS))) delete heads[String(size)];
  record.heads = heads;
}

/** What is wrong between the head we saw at their size and theirs (null: consistent, or not comparable). */
export function headConflict(record: ContactRecord | undefined, theirs: { size: number; head: string }): "fork" | "hidden" | null {
  const ours = record?.log;
  if (ours === undefined) return null;
  if (theirs.size > ours.size) return "hidden";
  const seen = theirs.size === ours.size ? ours.head : record?.heads?.[String(theirs.size)];
  return seen !== undefined && seen !== theirs.head ? "fork" : null;
}

export class LogGossip {
  /** What we last told each chat (chat id → JSON of the heads), this session. */
  private readonly told = new Map<string, string>();

  constructor(private readonly deps: LogGossipDeps) {}

  /** After a look at `user`'s log: each chat with them hears the heads we see of its members' logs (when they changed). */
  async seen(user: string): Promise<void> {
    const { store } = this.deps.ctx;
    const chats = user === this.deps.ctx.user ? [...store.chats.values()].filter((c) => c.joined && !c.removed) : chatsWith(store.chats.values(), user);
    for (const chat of chats) {
      const heads: LogHeads = {};
      for (const member of chat.members) {
        const log = store.contacts.get(member.user)?.log;
        if (log !== undefined) heads[member.user] = { size: log.size, head: log.head };
      }
      const text = JSON.stringify(heads);
      if (Object.keys(heads).length === 0 || this.told.get(chat.id) === text) continue;
      this.told.set(chat.id, text);
      await this.deps.sendControl(chat.id, { text: "", keylog_heads: heads }).catch((err: unknown) => {
        this.told.delete(chat.id);
        console.warn("talkee: key-log heads not sent", chat.id, err);
      });
    }
  }

  /** Another member's device told the chat the heads it sees. */
  async onHeads(chatId: string, payload: MessagePayload): Promise<void> {
    const { store, domain } = this.deps.ctx;
    const sender = userOf(payload.sender);
    for (const [user, theirs] of Object.entries(headsOf(payload["keylog_heads"]))) {
      if (!(store.chats.get(chatId)?.members ?? []).some((m) => m.user === user)) continue; // only about members
      let conflict = headConflict(store.contacts.get(user), theirs);
      if (conflict === "hidden" || store.contacts.get(user)?.log === undefined) {
        await this.deps.recheck(user).catch(() => undefined);
        conflict = headConflict(store.contacts.get(user), theirs);
      }
      if (conflict === null) continue;
      const whose = user === this.deps.ctx.user ? "your account" : displayName(user, domain);
      const who = sender === this.deps.ctx.user ? "Another of your devices" : `${displayName(sender, domain)}'s device`;
      const text =
        conflict === "hidden"
          ? `${who} was shown more of ${whose}'s key log than this device: the server is showing people different keys.`
          : `${who} and this device were shown different key logs for ${whose}: the server is showing people different keys.`;
      console.warn("talkee: key-log heads differ", user, sender, conflict);
      const chats = [store.chats.get(chatId), ...chatsWith(store.chats.values(), user)].filter((c) => c !== undefined);
      const touched = [...new Set(chats)].filter((c) => addWarning(c, text));
      if (touched.length === 0) continue;
      await store.saveChats();
      for (const c of touched) this.deps.ctx.emit("chats", c.id);
    }
  }
}
