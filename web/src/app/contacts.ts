// What this device noticed about the people it talks to, said in every chat with them:
// trust on first use, then warnings. The server lists each user's identity key and device
// certificates (GET /v1/devices/of/{user}); this module compares that with the key pinned
// at first contact (src/mls/trust.ts) and with what it saw last time (`app/contacts`):
//   - a different identity key → "Bob's safety number changed" in every chat with Bob, the
//     verified badge goes, and a chat that was verified holds our sends until the user says
//     "send anyway" (which pins the new key) or compares the numbers again (the number is
//     then computed with the new key, and only a match pins it: trust.ts verifySafetyNumber);
//   - a certified device more or fewer → "Bob added a device" / "Bob removed a device".
// The lines are written by this device (`LocalMessage.local`), never sent.
import { fromBase64 } from "../crypto/encoding";
import { verifyCertificate } from "../identity/certificate";
import type { AppContext } from "./context";
import { newId } from "./context";
import { displayName } from "./format";
import type { ListedLog } from "../api/client";
import { extendLog, matchesLog, type LogState } from "./keylog";
import { rememberHead } from "./logGossip";
import { addWarning, type ChatRecord, type ContactRecord, type LocalMessage, type LocalNotice } from "./store";
import { t } from "../i18n/index";

/** A user's identity key and devices as the server lists them (with their key log from a position on). */
export interface ListedDevices {
  identity_key: string | null;
  devices: Array<{ client_device_id: string; certificate: string | null }>;
  log?: ListedLog | null;
}

export interface ContactsDeps {
  readonly ctx: Pick<AppContext, "store" | "user" | "domain" | "emit">;
  /** GET /v1/devices/of/{user}, the key log from `logFrom` on. */
  listDevices(user: string, logFrom?: number): Promise<ListedDevices>;
  /** Our own identity key (null: this device never had it). */
  ownIdentityKey?(): Promise<string | null>;
  /** The identity key this device pinned for `user` (null: none yet). */
  pinned(user: string): Promise<string | null>;
  /** Pins `key` for `user` in place of the old one (the user accepted the change). */
  repin(user: string, key: string): Promise<void>;
  /** After a look at `user`'s key log was saved (./logGossip tells the chats the heads). */
  logSeen?(user: string): void;
  /** Checks of one user closer together than this are skipped (ms). */
  minInterval?: number;
}

/**
 * What changed between what this device saw of a contact (`before`, undefined the first
 * time) and what is listed now. The key is compared with the last one seen, else the pinned
 * one, so a change is said once. Device lines only from the second look on, and not along
 * with a key change (the devices under a new key are that change).
 */
export function contactChanges(before: ContactRecord | undefined, now: ContactRecord, pinned: string | null): LocalNotice["kind"][] {
  const reference = before !== undefined ? before.identityKey : pinned;
  if (reference !== null && now.identityKey !== reference) return ["identity-changed"];
  if (before === undefined) return [];
  const out: LocalNotice["kind"][] = [];
  for (const id of Object.keys(now.devices)) if (!(id in before.devices)) out.push("device-added");
  for (const id of Object.keys(before.devices)) if (!(id in now.devices)) out.push("device-removed");
  return out;
}

/** The chats that hear about `user`: joined, still ours, with them in it. */
export function chatsWith(chats: Iterable<ChatRecord>, user: string): ChatRecord[] {
  return [...chats].filter((c) => c.joined && !c.removed && c.members.some((m) => m.user === user));
}

/** The timeline line for a notice. */
export function localNoticeText(notice: LocalNotice, domain: string): string {
  const who = displayName(notice.user, domain);
  switch (notice.kind) {
    case "identity-changed":
      return t("contacts.keyChanged", { name: who });
    case "device-added":
      return t("contacts.deviceAdded", { name: who });
    case "device-removed":
      return t("contacts.deviceRemoved", { name: who });
  }
}

/** Null when sending may go ahead; else what to ask the user first. */
export function sendGate(chat: ChatRecord, domain: string): string | null {
  if (chat.held === undefined) return null;
  return t("contacts.sendAnyway", { name: displayName(chat.held, domain) });
}

/** Thrown by a send in a held chat: the UI asks (sendGate) and calls `acknowledge` first. */
export class SendHeldError extends Error {
  constructor(readonly prompt: string) {
    super(prompt);
  }
}

/** "2 devices · newest added 3 days ago" (certificate times in Unix seconds). */
export function devicesSummary(created: number[], now: number): string {
  if (created.length === 0) return t("contacts.noDevices");
  const newest = Math.max(...created);
  return t("contacts.devices", { count: created.length, age: ageText(now / 1000 - newest) });
}

function ageText(seconds: number): string {
  const units = [[86400 * 365, "contacts.years"], [86400 * 30, "contacts.months"], [86400, "contacts.days"], [3600, "contacts.hours"], [60, "contacts.minutes"]] as const;
  for (const [size, key] of units) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return t(key, { count: n });
  }
  return t("contacts.justNow");
}

/**
 * The devices listed for `user` whose certificate verifies under the listed identity key,
 * with their certificates' created times. An uncertified one (a ghost) is not counted.
 */
export async function certifiedDevices(user: string, listed: ListedDevices): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (listed.identity_key === null) return out;
  let identityKey: Uint8Array;
  try {
    identityKey = fromBase64(listed.identity_key);
  } catch {
    return out;
  }
  for (const d of listed.devices) {
    if (d.certificate === null) continue;
    try {
      const check = await verifyCertificate(fromBase64(d.certificate), { user, identityKey, deviceId: d.client_device_id });
      if (check.ok) out[d.client_device_id] = check.certificate.created;
    } catch {
      // malformed: not counted
    }
  }
  return out;
}

export class Contacts {
  private readonly lastCheck = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly deps: ContactsDeps) {}

  /**
   * Looks at `user`'s listed key and devices and says what changed in every chat with them;
   * checks their key log (for our own user, only the log: every identity key in it must be ours).
   */
  check(user: string, now = Date.now(), force = false): Promise<void> {
    const last = this.lastCheck.get(user);
    if (!force && last !== undefined && now - last < (this.deps.minInterval ?? 10_000)) return this.running.get(user) ?? Promise.resolve();
    this.lastCheck.set(user, now);
    const work = this.look(user, now).finally(() => this.running.delete(user));
    this.running.set(user, work);
    return work;
  }

  private async look(user: string, now: number): Promise<void> {
    const { store } = this.deps.ctx;
    const before = store.contacts.get(user);
    const listed = await this.deps.listDevices(user, before?.log?.size ?? 0);
    const seen: ContactRecord = { identityKey: listed.identity_key, devices: await certifiedDevices(user, listed) };
    const log = await this.checkLog(user, before?.log, listed);
    if (log !== undefined) seen.log = log;
    const own = user === this.deps.ctx.user;
    const kinds = own ? [] : contactChanges(before, seen, await this.deps.pinned(user));
    rememberHead(seen, before);
    store.contacts.set(user, seen);
    await store.saveContacts();
    this.deps.logSeen?.(user);
    if (kinds.length > 0) await this.tell(user, kinds, now);
  }

  /**
   * The key log listed with `user`'s keys: it must extend what this device saw and show the
   * keys the server hands out; our own must hold only our identity key. A failure is a
   * warning in every chat concerned; the state kept is the last one that checked.
   */
  private async checkLog(user: string, seen: LogState | undefined, listed: ListedDevices): Promise<LogState | undefined> {
    if (listed.log === undefined || listed.log === null) return seen;
    const who = displayName(user, this.deps.ctx.domain);
    const own = user === this.deps.ctx.user;
    const extended = await extendLog(user, seen, listed.log);
    let problem: string | null = null;
    if (extended === "fork") {
      problem = own
        ? "The server rewrote your account's key log: it may be showing others keys you did not make."
        : `The server rewrote ${who}'s key log: it may be hiding a change of ${who}'s keys.`;
    } else if (!matchesLog(extended, listed)) {
      problem = own
        ? "The server hands out keys for your account that its key log does not show."
        : `The server hands out keys for ${who} that its key log does not show.`;
    } else if (own && extended.identityKey !== null) {
      const mine = (await this.deps.ownIdentityKey?.()) ?? null;
      if (mine !== null && extended.identityKey !== mine) problem = "Your account's key log shows an identity key that is not yours: the server may be showing others a key it made.";
    }
    if (problem !== null) await this.warn(own ? null : user, problem);
    return extended === "fork" ? seen : extended;
  }

  /** A security warning on every chat with `user` (every chat for our own account's problems). */
  private async warn(user: string | null, text: string): Promise<void> {
    const { store } = this.deps.ctx;
    const chats = user === null ? [...store.chats.values()].filter((c) => c.joined && !c.removed) : chatsWith(store.chats.values(), user);
    const touched = chats.filter((c) => !(c.warnings ?? []).includes(text) && addWarning(c, text));
    if (touched.length === 0) return;
    await store.saveChats();
    for (const chat of touched) this.deps.ctx.emit("chats", chat.id);
  }

  /** Writes the lines into every chat with `user`; a key change also unverifies (and holds a verified chat). */
  async tell(user: string, kinds: LocalNotice["kind"][], now = Date.now()): Promise<string[]> {
    const { store } = this.deps.ctx;
    const touched: string[] = [];
    for (const chat of chatsWith(store.chats.values(), user)) {
      const list = store.messagesOf(chat.id);
      // After the last message ordered so far (a notice has no seq of its own).
      const seqs = list.map((m) => m.seq).filter((s): s is number => s !== null);
      for (const kind of kinds) {
        const line: LocalMessage = {
          key: `local-${newId()}`,
          id: null,
          seq: seqs.length > 0 ? Math.max(...seqs) : null,
          sender: user,
          text: "",
          at: now,
          mine: false,
          status: "sent",
          local: { kind, user },
        };
        store.insert(chat.id, line);
        if (kind === "identity-changed") {
          if (chat.verified !== undefined) chat.held = user;
          delete chat.verified;
        }
      }
      await store.saveMessages(chat.id);
      touched.push(chat.id);
    }
    if (touched.length > 0) await store.saveChats();
    for (const id of touched) this.deps.ctx.emit("messages", id);
    if (touched.length > 0) this.deps.ctx.emit("chats");
    return touched;
  }

  /**
   * "Send anyway": the user accepts `user`'s new identity key — it is pinned in place of the
   * old one (their devices under it are added again) and the chat's sends go.
   */
  async acknowledge(chatId: string): Promise<void> {
    const { store } = this.deps.ctx;
    const chat = store.chats.get(chatId);
    if (chat?.held === undefined) return;
    await this.acceptKey(chat.held);
    delete chat.held;
    await store.saveChats();
    this.deps.ctx.emit("chats", chatId);
  }

  /** Pins the identity key last listed for `user` (when it differs from the pinned one). */
  async acceptKey(user: string): Promise<void> {
    const listed = await this.candidateKey(user);
    if (listed !== null) await this.deps.repin(user, listed);
  }

  /** The identity key last listed for `user` when it is not the pinned one (a change not accepted yet). */
  async candidateKey(user: string): Promise<string | null> {
    const listed = this.deps.ctx.store.contacts.get(user)?.identityKey ?? null;
    return listed !== null && listed !== (await this.deps.pinned(user)) ? listed : null;
  }
}
