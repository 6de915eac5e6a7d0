// The messenger: chats, sending through the encrypted outbox, and everything
// that arrives on the device stream. All crypto is the core's (the MLS worker
// and web/src/crypto); this module only decides what to encrypt and where to send it.
import type { Remote } from "comlink";
import { Api, ApiError, NetworkError, humanError, type ChatInfo, type DeviceInfo, type Frame, type SentAnswer, type WireMessage } from "../api/client";
import { newEditSecret, editHash } from "../crypto/blake3";
import { CallManager } from "../calls/call";
import { openWithKey, sealWithKey } from "../crypto/derivedKeys";
import { fromBase64, fromUtf8, toBase64, utf8 } from "../crypto/encoding";
import { decryptFileStream } from "../crypto/files";
import type { FileReference, MessagePayload } from "../crypto/payload";
import type { MlsWorkerApi, OutgoingPayload } from "../mls/api";
import { Connection, type LinkState, type Signal } from "../transport/connection";
import { accessProblemOf, type AccessProblem } from "./access";
import { TurnLock } from "./lock";
import { PENDING_REACTION, dropKeptTexts, markPending, rejectedMessage, rejectionText, settle, undoChange } from "./changes";
import { packHistory, readBundle, sealBundle, type HistoryBundle } from "./history";
import type { AppStore, ChatNotice, ChatRecord, DeviceChange, LocalMessage, OutboxEntry } from "./store";
import { Uploads } from "./uploads";

const NAME_CONTEXT = "talkee-group-name-v1";
const REACTION_CONTEXT = "talkee-reaction-v1";
const STATUS_RANK: Record<LocalMessage["status"], number> = { failed: -1, queued: 0, sent: 1, delivered: 2, read: 3 };

export type ChangeKind = "chats" | "messages" | "link" | "typing" | "presence" | "uploads" | "devices" | "revoked" | "refused";

/** Wait per place in line: the first committer acts at once, the next only if it did not. */
const RANK_STEP_MS = 5000;
/** Other users' devices step in only after the changed device's siblings all had their turn. */
const PEER_GRACE_MS = 20000;
/** KeyPackages this device keeps on the server (claims by others use them up). */
export const KEYPACKAGE_POOL = 5;
/** Tries at a new device's KeyPackage (it uploads them right after signing in). */
const KEYPACKAGE_ROUNDS = 8;

class NoKeyPackageError extends Error {
  override name = "NoKeyPackageError";
}

type DeviceEventFrame = Extract<Frame, { type: "device_event" }>;

/**
 * Who commits a device change in a group, and when: the changed device's siblings (same
 * user) in credential order, then, after a grace period, every other member in that
 * order (a user whose other devices are gone or silent). Each waits for its turn (the
 * answer, in ms) and acts only if the change is still missing; -1: not in the group.
 */
export function committerWait(members: string[], leaf: string, me: string): number {
  const others = members.filter((m) => m !== leaf);
  const siblings = others.filter((m) => userOf(m) === userOf(leaf)).sort();
  const peers = others.filter((m) => userOf(m) !== userOf(leaf)).sort();
  if (siblings.includes(me)) return siblings.indexOf(me) * RANK_STEP_MS;
  if (!peers.includes(me)) return -1;
  const grace = siblings.length > 0 ? siblings.length * RANK_STEP_MS + PEER_GRACE_MS : 0;
  return grace + peers.indexOf(me) * RANK_STEP_MS;
}

function parseDeviceChange(data: Record<string, unknown> | null): DeviceChange | null {
  const change = data?.["change"];
  const user = data?.["user"];
  const deviceId = data?.["device_id"];
  const clientDeviceId = data?.["client_device_id"];
  if ((change !== "added" && change !== "revoked") || typeof user !== "string" || typeof deviceId !== "number" || typeof clientDeviceId !== "string") {
    return null;
  }
  return { change, user, deviceId, clientDeviceId };
}

export function userOf(credential: string): string {
  return credential.split(":")[0] ?? credential;
}

export function domainOf(user: string): string {
  return user.split("@")[1] ?? "";
}

/** How many times a send the home refused (its epoch was stale) is encrypted again. */
export const FORWARD_RETRIES = 3;
/** How long a commit waits for the home's answer before its caller goes on (the answer still settles it). */
const HOME_COMMIT_WAIT_MS = 60_000;

/** What the chat's home did with one of our forwarded commits. */
type HomeOutcome = { kind: "ordered" } | { kind: "rejected"; code: string; message: string } | { kind: "waiting" };

/**
 * Someone's presence as this device knows it. The server says only the hour of a "last
 * seen" (it keeps nothing finer); when this device saw them go from online to away or
 * offline itself, it knows the minute (`exact`).
 */
export interface Presence {
  state: string;
  lastSeen: string | null;
  exact?: boolean;
}

export function nextPresence(before: Presence | undefined, state: string, serverLastSeen: unknown, now: number): Presence {
  if (state === "online") return { state, lastSeen: null };
  if (before?.state === "online") return { state, lastSeen: new Date(now).toISOString(), exact: true };
  if (before?.exact === true && before.lastSeen !== null) return { state, lastSeen: before.lastSeen, exact: true };
  return { state, lastSeen: typeof serverLastSeen === "string" ? serverLastSeen : null };
}

/** "last seen …" for a presence that is not online. */
export function lastSeenText(p: Presence, now: number): string {
  if (p.lastSeen === null) return p.state === "away" ? "away" : "offline";
  const at = Date.parse(p.lastSeen);
  if (Number.isNaN(at)) return "offline";
  const time = (d: Date, options: Intl.DateTimeFormatOptions): string => d.toLocaleTimeString([], options);
  const day = (d: Date): string => (d.toDateString() === new Date(now).toDateString() ? "" : `${d.toLocaleDateString()} `);
  if (p.exact === true) return `last seen ${day(new Date(at))}${time(new Date(at), { hour: "2-digit", minute: "2-digit" })}`;
  // The hour only: within the current hour is "recently", else the hour it began.
  if (now - at < 3600_000) return "last seen recently";
  return `last seen ${day(new Date(at))}around ${time(new Date(at), { hour: "numeric" })}`;
}

/** A notice as a member's client sent it, checked (anything else is not a notice). */
export function chatNotice(value: unknown): ChatNotice | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const timer = (value as Record<string, unknown>)["timer"];
  if (timer === null) return { timer: null };
  return typeof timer === "number" && Number.isInteger(timer) && timer > 0 && timer <= MAX_TIMER_SECONDS ? { timer } : undefined;
}

/** The server's upper bound for a chat's self-destruct timer (apps/chats TTL_MAX_SECONDS). */
const MAX_TIMER_SECONDS = 365 * 86400;

/** What the chat list shows for a chat's latest message. */
export function previewOf(m: Pick<LocalMessage, "text" | "file" | "notice">): string {
  if (m.notice !== undefined) return m.notice.timer === null ? "Self-destruct timer off" : `Self-destruct timer: ${formatSeconds(m.notice.timer)}`;
  return m.text || (m.file ? `File: ${m.file.name}` : "");
}

/** 3600 → "1 hour", 90 → "90 s": the largest whole unit. */
export function formatSeconds(seconds: number): string {
  const units: [number, string, string][] = [[604800, " week", " weeks"], [86400, " day", " days"], [3600, " hour", " hours"], [60, " min", " min"], [1, " s", " s"]];
  const [size, one, many] = units.find(([n]) => seconds % n === 0 && seconds >= n) ?? [1, " s", " s"];
  const n = seconds / size;
  return `${n}${n === 1 ? one : many}`;
}

export function displayName(user: string, domain: string): string {
  const [local, host] = user.split("@");
  return host === domain || host === undefined ? (local ?? user) : user;
}

function newId(): string {
  return crypto.randomUUID();
}

/** Recognises one of our own ciphertexts later (its tail holds the AEAD tag: unique). */
function ownMark(ciphertext: string): string {
  return ciphertext.slice(-44);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => window.setTimeout(r, ms));
}

export class Messenger extends EventTarget {
  readonly conn: Connection;
  /** One-to-one calls in direct chats (signalling over `call` socket frames). */
  readonly calls: CallManager;
  activeChat: string | null = null;
  typing = new Map<string, Map<string, number>>();
  presence = new Map<string, Presence>();
  private ownCiphertexts = new Set<string>();
  private flushing = false;
  /** The last send attempt could not reach the server (the outbox is waiting). */
  stalled = false;
  private receiptTimers = new Map<string, number>();
  private receiptSent = new Map<string, { delivered: number; read: number }>();
  /** Inbound processing and our own commits take turns (commits must not interleave with handshakes). */
  private readonly lock = new TurnLock();
  /** Commits of ours waiting for the chat's home to order or refuse them, by client_message_id. */
  private commitWaiters = new Map<string, (outcome: HomeOutcome) => void>();
  /** Per chat: who waits for its pending commit to be settled (before committing again). */
  private settleWaiters = new Map<string, (() => void)[]>();
  /** Files on their way out (resumed after a reload). */
  readonly uploads: Uploads;
  /** Set when the server ended this device's session and signing in again was refused. */
  accessProblem: AccessProblem | null = null;
  private stopped = false;
  private recovery: Promise<void> | null = null;
  /** Our own devices as the server lists them (keys for history bundles); null = ask again. */
  private ownDeviceList: DeviceInfo[] | null = null;
  private applying = new Set<string>();
  private timers: number[] = [];

  constructor(
    readonly api: Api,
    readonly mls: Remote<MlsWorkerApi>,
    readonly store: AppStore,
    readonly credential: string,
    private readonly relogin: () => Promise<void>,
  ) {
    super();
    this.uploads = this.makeUploads();
    this.calls = new CallManager({
      credential,
      chatKeys: (chatId, epoch) => this.mls.chatKeys(chatId, epoch),
      directPeer: (chatId) => {
        const chat = this.store.chats.get(chatId);
        if (chat === undefined || chat.kind !== "direct" || !chat.joined || chat.removed) return null;
        return chat.members.find((m) => m.user !== this.user)?.user ?? null;
      },
      sendSignal: (chatId, payload) => this.conn.signal({ type: "call", chat_id: chatId, payload }),
      turn: () => this.api.turnCredentials(),
    });
    this.conn = new Connection(api, {
      token: () => this.api.token ?? "",
      cursor: () => this.store.session?.cursor ?? 0,
      onFrame: (frame) => this.withLock(() => this.onFrame(frame)),
      saveCursor: async (cursor) => {
        if (this.store.session !== null) {
          this.store.session.cursor = cursor;
          await this.store.saveSession();
        }
      },
      onSignal: (signal) => this.onSignal(signal),
      onState: () => {
        this.emit("link");
        if (this.conn.online) void this.flushOutbox();
      },
      onSynced: async () => {
        void this.flushOutbox();
        // Device changes not applied yet (a killed tab, or the link dropped meanwhile).
        for (const change of [...this.store.deviceChanges]) void this.applyDeviceChange(change);
        void this.sendOwedHistory();
        void this.refillKeyPackages();
      },
      onAuthFailed: () => void this.recoverAuth(),
    });
    this.timers.push(window.setInterval(() => this.expireMessages(), 2000));
    // A send that failed on the way (the link dropped mid-request) is retried; the
    // client_message_id makes the retry land once.
    this.timers.push(
      window.setInterval(() => {
        if (this.store.outbox.length > 0 && this.conn.online) void this.flushOutbox();
      }, 4000),
    );
    document.addEventListener("visibilitychange", () => {
      this.conn.signal({ type: "presence", state: document.visibilityState === "visible" ? "online" : "away" });
    });
  }

  get user(): string {
    return userOf(this.credential);
  }

  get domain(): string {
    return this.user.split("@")[1] ?? "";
  }

  emit(kind: ChangeKind, chatId?: string, text?: string): void {
    this.dispatchEvent(new CustomEvent("change", { detail: { kind, chatId, text } }));
  }

  get linkState(): LinkState {
    return this.conn.state;
  }

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  async start(): Promise<void> {
    this.conn.start();
    void this.uploads.resume().catch((err: unknown) => console.warn("talkee: uploads not resumed", err));
    try {
      await this.refreshChats();
      this.resumePendingMembers();
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
    }
  }

  stop(): void {
    this.stopped = true;
    this.calls.stop();
    this.conn.stop();
    this.uploads.stop();
    for (const t of this.timers) window.clearInterval(t);
    this.timers = [];
  }

  /**
   * The token died (socket closed 4001/4003, or 401): sign this device in again. A refusal
   * (blocked account, revoked device, changed password) is kept in `accessProblem` for the
   * UI to say so; a network problem or a busy server is retried.
   */
  recoverAuth(): Promise<void> {
    if (this.recovery === null) this.recovery = this.recoverLoop().finally(() => (this.recovery = null));
    return this.recovery;
  }

  /** The person's "Try again": after any attempt already on its way, one of our own. */
  async retryAuth(): Promise<void> {
    if (this.recovery !== null) await this.recovery;
    if (this.accessProblem !== null) await this.recoverAuth();
  }

  private async recoverLoop(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.relogin();
        this.accessProblem = null;
        this.emit("link");
        this.conn.start();
        return;
      } catch (err) {
        if (err instanceof NetworkError || (err instanceof ApiError && (err.status === 429 || err.status >= 500))) {
          await sleep(Math.min(30_000, 2000 * 2 ** attempt));
          continue;
        }
        if (err instanceof ApiError && err.code === "device_revoked") {
          // Revoked (from another device or by the administrator): nothing here may outlive it.
          this.emit("revoked");
          return;
        }
        this.accessProblem = accessProblemOf(err, this.domain);
        this.emit("link");
        return;
      }
    }
  }

  // ---- chats -----------------------------------------------------------------

  chatTitle(chat: ChatRecord): string {
    if (chat.kind === "direct") {
      const other = chat.members.find((m) => m.user !== this.user);
      return other !== undefined ? displayName(other.user, this.domain) : "Direct chat";
    }
    return chat.name ?? (chat.kind === "channel" ? "Channel" : "Group");
  }

  /** The chat list's preview line, from what this device holds (never a burn-on-read text). */
  preview(chat: ChatRecord): string {
    const list = this.store.messagesOf(chat.id);
    const last = list[list.length - 1];
    if (last === undefined) return chat.lastText;
    if (last.deleted) return last.expired ? "Message expired" : "Message deleted";
    if (last.unavailable) return "Encrypted message";
    if (last.burn && !last.mine && !last.revealed) return "Burn-after-reading message";
    if (last.text !== "") return last.text;
    return last.file !== undefined ? `File: ${last.file.name}` : chat.lastText;
  }

  async refreshChats(): Promise<void> {
    const list = await this.api.chats();
    const seen = new Set<string>();
    for (const info of list) {
      seen.add(info.id);
      await this.mergeChat(info);
    }
    for (const chat of this.store.chats.values()) {
      if (!seen.has(chat.id) && !chat.removed) chat.removed = true;
    }
    await this.store.saveChats();
    this.emit("chats");
  }

  async refreshChat(chatId: string): Promise<void> {
    try {
      await this.mergeChat(await this.api.chat(chatId));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        const chat = this.store.chats.get(chatId);
        if (chat !== undefined) chat.removed = true;
      } else {
        throw err;
      }
    }
    await this.store.saveChats();
    this.emit("chats");
  }

  private async mergeChat(info: ChatInfo): Promise<ChatRecord> {
    let chat = this.store.chats.get(info.id);
    if (chat === undefined) {
      // Someone new to show our presence to (presence goes only to our chats).
      window.setTimeout(() => this.conn.signal({ type: "presence", state: "online" }), 1500);
      chat = {
        id: info.id,
        kind: info.kind,
        name: null,
        nameEpoch: -1,
        members: [],
        role: null,
        favourite: false,
        unread: 0,
        lastText: "",
        lastAt: Date.parse(info.created),
        ttlSeconds: null,
        joined: (await this.mls.listGroups()).includes(info.id),
        removed: false,
      };
      this.store.chats.set(info.id, chat);
    }
    chat.members = info.members.map((m) => ({ user: m.user, role: m.role }));
    chat.role = info.role;
    chat.favourite = info.favourite;
    chat.ttlSeconds = info.ttl_seconds;
    if (info.home !== undefined) chat.home = info.home;
    chat.removed = false;
    if (info.encrypted_name !== null && chat.joined && info.name_epoch !== chat.nameEpoch) {
      try {
        const keys = await this.mls.chatKeys(info.id);
        if (keys.epoch === info.name_epoch) {
          chat.name = fromUtf8(await openWithKey(keys.groupNameKey, fromBase64(info.encrypted_name), NAME_CONTEXT));
          chat.nameEpoch = info.name_epoch;
        }
      } catch {
        /* sealed under an epoch this device never had: keep what we know */
      }
    }
    return chat;
  }

  private async sealName(chatId: string, name: string): Promise<void> {
    const keys = await this.mls.chatKeys(chatId);
    const sealed = await sealWithKey(keys.groupNameKey, utf8(name), NAME_CONTEXT);
    await this.api.setName(chatId, toBase64(sealed), keys.epoch);
    const chat = this.store.chats.get(chatId);
    if (chat !== undefined) {
      chat.name = name;
      chat.nameEpoch = keys.epoch;
    }
  }

  /** The chat is ordered by another instance (member changes and sends are forwarded there). */
  homedElsewhere(chat: ChatRecord): boolean {
    return chat.home !== undefined && chat.home !== "" && chat.home !== this.domain;
  }

  /**
   * Member changes the remote home applied at our request (its snapshot arrived): the
   * added people's devices join the MLS group, the removed people's leaves leave it.
   */
  private async applyPendingMembers(chatId: string): Promise<void> {
    const chat = this.store.chats.get(chatId);
    if (chat === undefined || !chat.joined) return;
    const isMember = (u: string): boolean => chat.members.some((m) => m.user === u);
    const added = (chat.pendingAdds ?? []).filter(isMember);
    const removed = (chat.pendingRemoves ?? []).filter((u) => !isMember(u));
    if (added.length === 0 && removed.length === 0) return;
    await this.withLock(async () => {
      const group = await this.mls.group(chatId);
      const inGroup = new Set(group.members.map(userOf));
      const toAdd = added.filter((u) => !inGroup.has(u));
      if (toAdd.length > 0) await this.addDevices(chatId, toAdd, false);
      const leaves = group.members.filter((m) => removed.includes(userOf(m)));
      if (leaves.length > 0) await this.commit(chatId, () => this.mls.removeMembers(chatId, leaves), undefined);
      // The name is re-sealed for the new epoch, as after any of our commits.
      if (chat.name && (toAdd.length > 0 || leaves.length > 0)) await this.sealName(chatId, chat.name);
    });
    // Only now: a tab closed (or a link lost) before the commit went in does it again on
    // its next start (resumePendingMembers).
    chat.pendingAdds = (chat.pendingAdds ?? []).filter((u) => !added.includes(u));
    chat.pendingRemoves = (chat.pendingRemoves ?? []).filter((u) => !removed.includes(u));
    await this.store.saveChats();
  }

  /** Member changes of ours whose commit never went in (the tab closed, the link dropped). */
  private resumePendingMembers(): void {
    for (const chat of this.store.chats.values()) {
      if ((chat.pendingAdds ?? []).length === 0 && (chat.pendingRemoves ?? []).length === 0) continue;
      void this.applyPendingMembers(chat.id).catch((err: unknown) => console.warn("talkee: member change not applied to the group", err));
    }
  }

  /** Opens (or creates) the direct chat with `username`. */
  async startDirect(username: string): Promise<string> {
    const id = newId();
    const info = await this.api.createChat({ id, kind: "direct", members: [username.trim()] });
    if (info.id !== id) {
      await this.mergeChat(info);
      await this.store.saveChats();
      this.emit("chats");
      return info.id;
    }
    await this.withLock(async () => {
      await this.mls.createGroup(id);
      const chat = await this.mergeChat(info);
      chat.joined = true;
      await this.store.saveChats();
      await this.addDevices(id, info.members.map((m) => m.user));
    });
    this.emit("chats");
    return id;
  }

  async createGroup(kind: "group" | "channel", name: string, members: string[]): Promise<string> {
    const id = newId();
    const info = await this.api.createChat({ id, kind, members: members.map((m) => m.trim()).filter((m) => m !== "") });
    await this.withLock(async () => {
      await this.mls.createGroup(id);
      const chat = await this.mergeChat(info);
      chat.joined = true;
      chat.name = name;
      await this.store.saveChats();
      await this.addDevices(id, info.members.map((m) => m.user));
      await this.sealName(id, name);
      await this.store.saveChats();
    });
    this.emit("chats");
    return id;
  }

  async addMember(chatId: string, username: string, role: string): Promise<void> {
    const address = username.trim();
    const known = this.store.chats.get(chatId);
    const user = address.includes("@") ? address : `${address}@${this.domain}`;
    const info = await this.api.addMembers(chatId, [address], role);
    if (known !== undefined) {
      // Their devices join the group with our commit; until it is in, this is remembered
      // (a tab closed or a link lost in between does it on its next start).
      known.pendingAdds = [...new Set([...(known.pendingAdds ?? []), user])];
      await this.store.saveChats();
    }
    if (known !== undefined && this.homedElsewhere(known)) {
      // 202: the home applies it and sends the new member list (a `chat` event, which may
      // already have come: the answer's list is older); their devices join the group once
      // the list names them (applyPendingMembers).
      await this.refreshChat(chatId);
      await this.applyPendingMembers(chatId);
      return;
    }
    await this.mergeChat(info);
    const before = new Set((await this.mls.group(chatId)).members.map(userOf));
    const added = info.members.map((m) => m.user).filter((u) => !before.has(u));
    await this.withLock(async () => {
      if (added.length > 0) await this.addDevices(chatId, added, false);
      const chat = this.store.chats.get(chatId);
      if (chat?.name) await this.sealName(chatId, chat.name);
    });
    const chat = this.store.chats.get(chatId);
    if (chat !== undefined) chat.pendingAdds = (chat.pendingAdds ?? []).filter((u) => u !== user && !added.includes(u));
    await this.store.saveChats();
    this.emit("chats");
  }

  async removeMember(chatId: string, user: string): Promise<void> {
    await this.api.removeMember(chatId, user);
    const known = this.store.chats.get(chatId);
    if (known !== undefined && this.homedElsewhere(known) && user !== this.user) {
      // 202: the home removes them and sends the new list (a `chat` event); their leaves
      // leave the group when that list no longer names them (applyPendingMembers).
      known.pendingRemoves = [...new Set([...(known.pendingRemoves ?? []), user])];
      await this.store.saveChats();
      await this.refreshChat(chatId);
      await this.applyPendingMembers(chatId);
      return;
    }
    if (user === this.user) {
      // Leaving: the remaining members' next commit takes our leaf out of the group.
      const chat = this.store.chats.get(chatId);
      if (chat !== undefined) chat.removed = true;
      await this.store.saveChats();
      this.emit("chats");
      return;
    }
    await this.withLock(async () => {
      const group = await this.mls.group(chatId);
      const leaves = group.members.filter((m) => userOf(m) === user);
      if (leaves.length > 0) {
        await this.commit(chatId, () => this.mls.removeMembers(chatId, leaves), undefined);
      }
      const chat = this.store.chats.get(chatId);
      if (chat?.name) await this.sealName(chatId, chat.name);
    });
    await this.refreshChat(chatId);
  }

  async setRole(chatId: string, user: string, role: string): Promise<void> {
    await this.mergeChat(await this.api.setRole(chatId, user, role));
    await this.store.saveChats();
    this.emit("chats");
  }

  /**
   * The chat's self-destruct default (null: off): messages sent from now on expire for
   * everyone. Either person in a direct chat; owners and admins in groups and channels.
   */
  async setChatTimer(chatId: string, ttlSeconds: number | null): Promise<void> {
    await this.mergeChat(await this.api.setTimer(chatId, ttlSeconds));
    await this.store.saveChats();
    this.emit("chats");
    // Who set it, for everyone in the chat, end to end (queued like a message).
    await this.send(chatId, "", { notice: { timer: ttlSeconds } });
  }

  async setFavourite(chatId: string, favourite: boolean): Promise<void> {
    await this.api.setFavourite(chatId, favourite);
    const chat = this.store.chats.get(chatId);
    if (chat !== undefined) chat.favourite = favourite;
    await this.store.saveChats();
    this.emit("chats");
  }

  /** Claims one KeyPackage per device of these users and adds them with a commit + Welcome. */
  private async addDevices(chatId: string, users: string[], withOwnDevices = true): Promise<void> {
    const wanted = [...new Set(withOwnDevices ? [...users, this.user] : users.filter((u) => u !== this.user))];
    const claimed = await this.api.claimKeyPackages(wanted);
    const deviceIds: number[] = [];
    const packages: Uint8Array[] = [];
    const missing: string[] = [];
    for (const [user, devices] of Object.entries(claimed)) {
      let any = false;
      for (const d of devices) {
        if (d.device_id === this.store.session?.deviceId) continue;
        if (d.keypackage === null) continue;
        deviceIds.push(d.device_id);
        packages.push(fromBase64(d.keypackage));
        any = true;
      }
      if (!any && user !== this.user) missing.push(displayName(user, this.domain));
    }
    if (packages.length > 0) {
      await this.commit(chatId, () => this.mls.addMembers(chatId, packages), deviceIds);
    }
    if (missing.length > 0) {
      throw new Error(`${missing.join(", ")} has no device ready to receive messages yet.`);
    }
  }

  /**
   * Posts one of our commits; on 409 (another commit won the epoch) drops ours, catches
   * up and asks `make` again, which answers null when the winner already did the job.
   * True when our commit went in.
   */
  private async commit(
    chatId: string,
    make: () => Promise<{ epoch: number; commit: Uint8Array; welcome?: Uint8Array } | null>,
    welcomeDevices: number[] | undefined,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.settledCommit(chatId); // one of ours still awaits the home: it goes first
      const result = await make();
      if (result === null) return false;
      const ciphertext = toBase64(result.commit);
      this.ownCiphertexts.add(ciphertext);
      const cmid = newId();
      const body: Parameters<Api["send"]>[1] = { client_message_id: cmid, kind: "commit", epoch: result.epoch - 1, ciphertext };
      if (welcomeDevices !== undefined && result.welcome !== undefined) {
        body.welcome = { device_ids: welcomeDevices, payload: toBase64(result.welcome) };
      }
      const chat = this.store.chats.get(chatId);
      // Recorded before it goes out: after a reload the home's echo is still recognised.
      if (chat !== undefined) {
        chat.pendingCommit = { cmid, ciphertext };
        await this.store.saveChats();
      }
      let sent: SentAnswer;
      try {
        sent = await this.api.send(chatId, body);
      } catch (err) {
        await this.clearPendingCommit(chatId);
        await this.mls.discardCommit(chatId);
        if (!(err instanceof ApiError && err.code === "stale_epoch")) throw err;
        console.info("talkee: another commit won the epoch; catching up", chatId);
        await this.catchUpHandshakes(chatId);
        continue;
      }
      if (sent.forwarded !== true && sent.id !== null) {
        await this.clearPendingCommit(chatId);
        await this.mls.confirmCommit(chatId);
        return true;
      }
      // Homed elsewhere (202): our instance only queued it. The new epoch stays pending
      // until the home's ordered echo comes back (onCommit confirms it) or the home refuses
      // it (onSendRejected discards it) — both frames, so the lock is let go meanwhile.
      const outcome = await this.homeAnswer(chatId, cmid);
      if (outcome.kind !== "rejected") return true;
      if (outcome.code !== "stale_epoch") throw new ApiError(409, outcome.code || "rejected", outcome.message || "The chat's home server refused this change.");
      console.info("talkee: the home ordered another commit first; catching up", chatId);
      await this.catchUpHandshakes(chatId);
    }
    throw new Error("The group changed too often; try again.");
  }

  /** Waits (without the lock) for the home's answer to our forwarded commit `cmid`. */
  private async homeAnswer(chatId: string, cmid: string): Promise<HomeOutcome> {
    let timer = 0;
    const answer = new Promise<HomeOutcome>((resolve) => {
      this.commitWaiters.set(cmid, resolve);
      timer = window.setTimeout(() => resolve({ kind: "waiting" }), HOME_COMMIT_WAIT_MS);
    });
    try {
      const outcome = await this.lock.releasedUntil(answer);
      if (outcome.kind === "waiting") console.warn("talkee: no answer from the chat's home yet; the commit stays pending", chatId);
      return outcome;
    } finally {
      window.clearTimeout(timer);
      this.commitWaiters.delete(cmid);
    }
  }

  /** Until our pending commit in the chat (if any) is settled by the home; without the lock meanwhile. */
  private async settledCommit(chatId: string): Promise<void> {
    for (let round = 0; round < 3 && this.store.chats.get(chatId)?.pendingCommit !== undefined; round++) {
      let timer = 0;
      await this.lock.releasedUntil(
        new Promise<void>((resolve) => {
          this.settleWaiters.set(chatId, [...(this.settleWaiters.get(chatId) ?? []), resolve]);
          timer = window.setTimeout(resolve, HOME_COMMIT_WAIT_MS);
        }),
      );
      window.clearTimeout(timer);
    }
  }

  private async clearPendingCommit(chatId: string): Promise<void> {
    const chat = this.store.chats.get(chatId);
    if (chat?.pendingCommit === undefined) return;
    delete chat.pendingCommit;
    await this.store.saveChats();
    for (const resolve of this.settleWaiters.get(chatId) ?? []) resolve();
    this.settleWaiters.delete(chatId);
    void this.flushOutbox(); // messages held back while the epoch was open
  }

  /**
   * The home answered our forwarded commit (under the lock, from a frame): ordered — the
   * new epoch is ours for good; refused — back to the epoch before it (unless the winning
   * commit, processed just before, already did that). Whoever waits is told; with nobody
   * waiting (a reload, or it waited too long) a refused commit is only caught up on: what
   * it was for (a device, a member) is tried again by its own bookkeeping.
   */
  private async settleOwnCommit(chat: ChatRecord, outcome: HomeOutcome): Promise<void> {
    const pending = chat.pendingCommit;
    if (pending === undefined) return;
    await this.clearPendingCommit(chat.id);
    if (outcome.kind === "ordered") {
      await this.mls.confirmCommit(chat.id);
    } else {
      await this.mls.discardCommit(chat.id).catch(() => undefined); // already dropped for the winner
    }
    const waiter = this.commitWaiters.get(pending.cmid);
    if (waiter !== undefined) waiter(outcome);
    else if (outcome.kind === "rejected") await this.catchUpHandshakes(chat.id);
  }

  /** Processes commits we have not seen yet (after losing a commit race). */
  private async catchUpHandshakes(chatId: string): Promise<void> {
    await sleep(200);
    const group = await this.mls.group(chatId);
    const page = await this.api.history(chatId, null, 200);
    for (const m of page.messages) {
      if (m.kind === "commit" && m.epoch >= group.epoch && m.ciphertext !== null && !this.ownCiphertexts.has(m.ciphertext)) {
        try {
          await this.mls.processHandshake(chatId, fromBase64(m.ciphertext));
        } catch {
          /* not for our epoch */
        }
      }
    }
  }

  // ---- sending -----------------------------------------------------------------

  async send(
    chatId: string,
    text: string,
    options: { replyTo?: string; forwardOf?: string; ttlSeconds?: number; burn?: boolean; file?: FileReference; blobIds?: string[]; cmid?: string; notice?: ChatNotice } = {},
  ): Promise<void> {
    const { secret, editHash: hash } = await newEditSecret();
    const payload: OutgoingPayload = { text };
    if (options.notice !== undefined) payload.notice = options.notice;
    if (options.replyTo !== undefined) payload.reply_to = options.replyTo;
    if (options.forwardOf !== undefined) payload.forward_of = options.forwardOf;
    if (options.file !== undefined) payload.file = options.file;
    const cmid = options.cmid ?? newId();
    const entry: OutboxEntry = { cmid, chatId, payload, editHash: hash };
    // The chat's timer as this person saw it when writing (the server applies it too).
    const ttlSeconds = options.ttlSeconds ?? this.store.chats.get(chatId)?.ttlSeconds ?? undefined;
    if (ttlSeconds) entry.ttlSeconds = ttlSeconds;
    if (options.burn) entry.burn = true;
    if (options.blobIds !== undefined) entry.blobIds = options.blobIds;
    const local: LocalMessage = {
      key: cmid,
      id: null,
      seq: null,
      sender: this.credential,
      text,
      at: Date.now(),
      mine: true,
      status: "queued",
      editSecret: toBase64(secret),
      reactions: [],
      expiresAt: ttlSeconds ? Date.now() + ttlSeconds * 1000 : null,
      burn: options.burn ?? false,
    };
    if (options.replyTo !== undefined) local.replyTo = options.replyTo;
    if (options.forwardOf !== undefined) local.forwardOf = options.forwardOf;
    if (options.file !== undefined) local.file = options.file;
    if (options.notice !== undefined) local.notice = options.notice;
    // Persist first: the message survives a killed tab and goes out once (client_message_id).
    this.store.insert(chatId, local);
    this.store.outbox.push(entry);
    await this.store.saveMessages(chatId);
    await this.store.saveOutbox();
    this.touchChat(chatId, previewOf(local), local.at, false);
    await this.store.saveChats();
    this.emit("messages", chatId);
    this.emit("link");
    void this.flushOutbox();
  }

  get queued(): number {
    return this.store.outbox.length;
  }

  async flushOutbox(): Promise<void> {
    if (this.flushing || !navigator.onLine) return;
    this.flushing = true;
    try {
      while (this.store.outbox.length > 0) {
        // Under the lock: a message is never encrypted in, or posted ahead of, one of
        // our commits that the server has not ordered yet.
        if (!(await this.withLock(() => this.sendFirstQueued()))) break;
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Sends the oldest outbox entry; false when the link is down (it stays queued). */
  private async sendFirstQueued(): Promise<boolean> {
    // A chat whose epoch awaits the home's answer to our commit waits (its next messages
    // would be in that epoch); the others go on, each chat's messages in order.
    const waiting = (chatId: string): boolean => this.store.chats.get(chatId)?.pendingCommit !== undefined;
    const entry = this.store.outbox.find((e) => !waiting(e.chatId));
    if (entry === undefined) return false;
    if (entry.ciphertext === undefined) {
      const enc = await this.mls.encrypt(entry.chatId, entry.payload);
      entry.ciphertext = toBase64(enc.ciphertext);
      entry.epoch = enc.epoch;
      await this.store.saveOutbox();
    }
    this.ownCiphertexts.add(entry.ciphertext);
    const local = this.store.messagesOf(entry.chatId).find((m) => m.key === entry.cmid);
    try {
      const body: Parameters<Api["send"]>[1] = {
        client_message_id: entry.cmid,
        kind: "application",
        epoch: entry.epoch ?? 0,
        ciphertext: entry.ciphertext,
        edit_hash: entry.editHash,
      };
      if (entry.ttlSeconds) body.ttl_seconds = entry.ttlSeconds;
      if (entry.burn) body.burn_on_read = true;
      if (entry.blobIds !== undefined) body.blob_ids = entry.blobIds;
      const sent = await this.api.send(entry.chatId, body);
      if (sent.forwarded === true || sent.id === null) {
        // Homed on another instance: accepted here, ordered there. Kept (sealed in the
        // vault) until its `event` comes back, recognised by the ciphertext we posted.
        this.store.forwarded.push(entry);
        await this.store.saveForwarded();
      }
      if (local !== undefined) {
        local.id = sent.id;
        local.seq = sent.seq;
        // The server's clock starts when it stores the message (a queued one waited).
        if (entry.ttlSeconds) local.expiresAt = Date.now() + entry.ttlSeconds * 1000;
        if (STATUS_RANK[local.status] < STATUS_RANK.sent) local.status = "sent";
      }
    } catch (err) {
      if (err instanceof NetworkError) {
        this.stalled = true;
        this.emit("link");
        return false;
      }
      if (err instanceof ApiError && err.status === 401) {
        // The token died: the message stays queued until this device is signed in again.
        void this.recoverAuth();
        return false;
      }
      if (local !== undefined) {
        local.status = "failed";
        local.error = humanError(err);
      }
    }
    this.stalled = false;
    this.store.outbox = this.store.outbox.filter((e) => e !== entry);
    const list = this.store.messagesOf(entry.chatId);
    list.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER) || a.at - b.at);
    await this.store.saveMessages(entry.chatId);
    await this.store.saveOutbox();
    this.emit("messages", entry.chatId);
    this.emit("link");
    return true;
  }

  /** An encrypted control message (receipts); never queued: a lost receipt is harmless. */
  private async sendControl(chatId: string, payload: OutgoingPayload): Promise<void> {
    return this.withLock(() => this.sendControlLocked(chatId, payload));
  }

  private async sendControlLocked(chatId: string, payload: OutgoingPayload): Promise<void> {
    const chat = this.store.chats.get(chatId);
    if (chat === undefined || !chat.joined || chat.removed) return;
    if (chat.kind === "channel" && chat.role !== "owner" && chat.role !== "admin") return;
    if (chat.pendingCommit !== undefined) return; // the epoch may still change back: a receipt is not worth it
    const enc = await this.mls.encrypt(chatId, payload);
    const ciphertext = toBase64(enc.ciphertext);
    this.ownCiphertexts.add(ciphertext);
    // Remember it before it goes out: a replay after a reload must not try to decrypt
    // our own receipt (MLS senders cannot), even if the tab died before the answer.
    chat.ownControl = [...(chat.ownControl ?? []), ownMark(ciphertext)].slice(-300);
    await this.store.saveChats();
    await this.api.send(chatId, { client_message_id: newId(), kind: "application", epoch: enc.epoch, ciphertext });
  }

  async edit(chatId: string, message: LocalMessage, text: string): Promise<void> {
    return this.withLock(() => this.editLocked(chatId, message, text));
  }

  private async editLocked(chatId: string, message: LocalMessage, text: string): Promise<void> {
    if (message.id === null || message.editSecret === undefined) return;
    this.checkEpochSettled(chatId);
    const payload: OutgoingPayload = { text, edit_of: String(message.id) };
    if (message.replyTo !== undefined) payload.reply_to = message.replyTo;
    const enc = await this.mls.encrypt(chatId, payload);
    const ciphertext = toBase64(enc.ciphertext);
    this.ownCiphertexts.add(ciphertext);
    const answer = await this.api.editMessage(message.id, message.editSecret, ciphertext);
    // Forwarded to the chat's home (202): shown edited now; its changed frame carries our
    // ciphertext (which we, its sender, cannot decrypt); a refusal puts the old text back.
    if (answer.forwarded === true) markPending(message, { action: "edit", text: message.text, edited: message.edited ?? false, ciphertext });
    message.text = text;
    message.edited = true;
    delete message.changeError;
    await this.store.saveMessages(chatId);
    this.emit("messages", chatId);
  }

  async remove(chatId: string, message: LocalMessage): Promise<void> {
    return this.withLock(() => this.removeLocked(chatId, message));
  }

  private async removeLocked(chatId: string, message: LocalMessage): Promise<void> {
    if (message.id === null || message.deleted) return;
    const answer = await this.api.deleteMessage(message.id, message.mine ? (message.editSecret ?? null) : null);
    // Forwarded (202): gone here now; kept aside until the home's deleted frame, to come back if it refuses.
    if (answer.forwarded === true) markPending(message, { action: "delete", text: message.text, reactions: message.reactions ?? [] });
    delete message.changeError;
    this.tombstone(message, chatId);
    await this.store.saveMessages(chatId);
    this.emit("messages", chatId);
  }

  /** Edits and reactions are sealed in the current epoch: not while the home may still refuse our commit. */
  private checkEpochSettled(chatId: string): void {
    if (this.store.chats.get(chatId)?.pendingCommit !== undefined) {
      throw new ApiError(409, "commit_pending", "This chat's encryption keys are being renewed. Try again in a moment.");
    }
  }

  /** Gone (deleted, expired, burnt): the text leaves this device too, with the worker's cached copy. */
  private tombstone(message: LocalMessage, chatId: string): void {
    message.deleted = true;
    message.text = "";
    message.reactions = [];
    if (message.id !== null) {
      void this.mls.forgetMessage(chatId, String(message.id)).catch((err: unknown) => console.warn("talkee: cached copy not dropped", err));
    }
  }

  async burn(chatId: string, message: LocalMessage): Promise<void> {
    message.revealed = true;
    this.emit("messages", chatId);
    if (message.id !== null) {
      try {
        const answer = await this.api.burn(message.id);
        if (answer.forwarded === true) {
          markPending(message, { action: "burn" });
          await this.store.saveMessages(chatId);
        }
      } catch {
        /* already gone */
      }
    }
  }

  async react(chatId: string, message: LocalMessage, emoji: string): Promise<void> {
    return this.withLock(() => this.reactLocked(chatId, message, emoji));
  }

  private async reactLocked(chatId: string, message: LocalMessage, emoji: string): Promise<void> {
    if (message.id === null || message.deleted) return;
    const ours = (message.reactions ?? []).filter((r) => r.user === this.user && r.emoji === emoji && r.removeSecret !== undefined);
    if (ours.some((r) => r.id === PENDING_REACTION)) {
      throw new ApiError(409, "reaction_pending", "Your reaction is still on its way to the chat's home server. Try again in a moment.");
    }
    const mine = ours[0];
    if (mine === undefined) this.checkEpochSettled(chatId);
    if (mine !== undefined) {
      const answer = await this.api.unreact(mine.id, mine.removeSecret!);
      // Forwarded (202): gone here now; back if the home refuses (its frame confirms).
      if (answer?.forwarded === true) markPending(message, { action: "unreact", reaction: mine });
      message.reactions = (message.reactions ?? []).filter((r) => r.id !== mine.id);
    } else {
      const keys = await this.mls.chatKeys(chatId);
      const sealed = await sealWithKey(keys.reactionKey, utf8(JSON.stringify({ emoji, user: this.user })), REACTION_CONTEXT);
      const epoch = new Uint8Array(4);
      new DataView(epoch.buffer).setUint32(0, keys.epoch);
      const body = new Uint8Array(4 + sealed.length);
      body.set(epoch);
      body.set(sealed, 4);
      const { secret } = await newEditSecret();
      const sent = await this.api.react(message.id, toBase64(body), await editHash(secret));
      // id 0: forwarded to the chat's home; its `reaction` frame brings the id (onReaction)
      const id = sent.id ?? PENDING_REACTION;
      message.reactions = (message.reactions ?? []).filter((r) => r.id !== id || id === PENDING_REACTION);
      message.reactions.push({ id, emoji, user: this.user, removeSecret: toBase64(secret) });
    }
    delete message.changeError;
    await this.store.saveMessages(chatId);
    this.emit("messages", chatId);
  }

  /**
   * Encrypts (padded to its bucket, in the core) and uploads a file in chunks, then
   * sends the message that carries its key, name and type (see ./uploads: it survives
   * a reload or a dropped link). Progress comes as "uploads" changes.
   */
  sendFile(chatId: string, file: File, caption: string): Promise<void> {
    return this.uploads.start(chatId, file, caption);
  }

  private makeUploads(): Uploads {
    return new Uploads(this.api, this.mls, {
      send: (record, ref) => this.send(record.chatId, record.caption, { file: ref, blobIds: [ref.blob_id], cmid: record.id }),
      sent: (record) =>
        this.store.outbox.some((e) => e.cmid === record.id) || this.store.messagesOf(record.chatId).some((m) => m.key === record.id),
      changed: (chatId) => this.emit("uploads", chatId),
    });
  }

  /** Downloads and decrypts a file; the result has the original bytes and type. */
  async openFile(ref: FileReference): Promise<Blob> {
    const source = await this.api.fetchBlob(ref.blob_id);
    const plain = await decryptFileStream(source, fromBase64(ref.key), ref.size);
    return new Response(plain).blob().then((b) => new Blob([b], { type: ref.mime }));
  }

  typingIn(chatId: string): void {
    this.conn.signal({ type: "typing", chat_id: chatId });
  }

  /** Opening a chat: unread back to zero and a read receipt for what is shown. */
  async open(chatId: string | null): Promise<void> {
    this.activeChat = chatId;
    if (chatId === null) return;
    const chat = this.store.chats.get(chatId);
    if (chat !== undefined && chat.unread > 0) {
      chat.unread = 0;
      await this.store.saveChats();
      this.emit("chats");
    }
    this.scheduleReceipt(chatId);
  }

  /** Older messages from the server; readable only if this device decrypted them before. */
  async loadOlder(chatId: string): Promise<number> {
    const list = this.store.messagesOf(chatId);
    const seqs = list.map((m) => m.seq).filter((s): s is number => s !== null);
    const before = seqs.length > 0 ? Math.min(...seqs) : null;
    if (before !== null && before <= 1) return 0;
    const page = await this.api.history(chatId, before, 50);
    let added = 0;
    for (const m of page.messages) {
      if (m.kind !== "application" || this.store.findById(chatId, m.id) !== undefined) continue;
      const cached = await this.mls.cachedMessage(chatId, String(m.id));
      if (cached !== undefined && cached["receipt"] !== undefined) continue;
      const local = cached !== undefined ? this.fromPayload(m, cached) : this.unavailable(m);
      this.store.insert(chatId, local);
      added++;
    }
    if (added > 0) {
      await this.store.saveMessages(chatId);
      this.emit("messages", chatId);
    }
    return added;
  }

  private unavailable(m: WireMessage): LocalMessage {
    return {
      key: `m${m.id}`,
      id: m.id,
      seq: m.seq,
      sender: "",
      text: "",
      at: Date.parse(m.created),
      mine: false,
      status: "sent",
      deleted: m.deleted,
      unavailable: !m.deleted,
    };
  }

  private fromPayload(m: WireMessage, payload: MessagePayload): LocalMessage {
    const local: LocalMessage = {
      key: `m${m.id}`,
      id: m.id,
      seq: m.seq,
      sender: payload.sender,
      text: payload.text,
      at: Date.parse(m.created),
      mine: userOf(payload.sender) === this.user,
      status: "sent",
      edited: m.edited_at !== null,
      deleted: m.deleted,
      reactions: [],
      expiresAt: m.expires_at !== null ? Date.parse(m.expires_at) : null,
      burn: m.burn_on_read,
    };
    if (typeof payload.reply_to === "string") local.replyTo = payload.reply_to;
    if (typeof payload.forward_of === "string") local.forwardOf = payload.forward_of;
    if (payload.file !== undefined) local.file = payload.file;
    const notice = chatNotice(payload["notice"]);
    if (notice !== undefined) local.notice = notice;
    return local;
  }

  // ---- receiving ----------------------------------------------------------------

  private async onFrame(frame: Frame): Promise<void> {
    if (frame.type === "device_event") return this.onDeviceEvent(frame);
    if (frame.type === "reaction") return this.onReaction(frame);
    const m = frame.message;
    const chat = this.store.chats.get(m.chat_id);
    if (chat === undefined || !chat.joined) {
      // A chat we learn about now (or whose Welcome has not come yet): nothing to decrypt.
      if (chat === undefined) await this.refreshChat(m.chat_id).catch(() => undefined);
      return;
    }
    if (m.kind === "commit") return this.onCommit(chat, m);
    if (m.kind !== "application") return;
    const existing = this.store.findById(m.chat_id, m.id);
    if (m.deleted) {
      if (existing !== undefined && (existing.pending ?? []).length > 0) {
        // Our forwarded deletion or burn applied at the home (or it went another way):
        // nothing of the text is kept for an undo any more.
        settle(existing, "delete");
        settle(existing, "burn");
        dropKeptTexts(existing);
        await this.store.saveMessages(m.chat_id);
      }
      if (existing !== undefined && existing.burn && existing.revealed && !existing.deleted) {
        // Burnt because we read it: leave it on screen a little, then it is gone here too.
        window.setTimeout(() => {
          this.tombstone(existing, m.chat_id);
          void this.store.saveMessages(m.chat_id).then(() => this.emit("messages", m.chat_id));
        }, 15000);
        return;
      }
      if (existing !== undefined && !existing.deleted) {
        this.tombstone(existing, m.chat_id);
        await this.store.saveMessages(m.chat_id);
        this.emit("messages", m.chat_id);
      }
      return;
    }
    if (m.ciphertext === null) return;
    const forwarded = this.store.forwarded.find((e) => e.ciphertext === m.ciphertext);
    if (forwarded !== undefined) return this.onForwardedOrdered(forwarded, m);
    if (existing !== undefined && settle(existing, "edit", (c) => c.ciphertext === m.ciphertext) !== undefined) {
      // The home applied our forwarded edit: its text is already shown (we cannot decrypt our own ciphertext).
      this.ownCiphertexts.delete(m.ciphertext);
      existing.edited = true;
      await this.store.saveMessages(m.chat_id);
      this.emit("messages", m.chat_id);
      return;
    }
    if (this.ownCiphertexts.has(m.ciphertext)) {
      this.ownCiphertexts.delete(m.ciphertext);
      return; // ours, already shown (ids arrive with the POST answer)
    }
    const queued = this.store.outbox.find((e) => e.ciphertext === m.ciphertext);
    if (queued !== undefined) return;
    // Already have it (an edit of one of this device's own messages is never decryptable here;
    // a sibling device's edit of its message is).
    if (existing !== undefined && ((existing.mine && existing.sender === this.credential) || m.edited_at === null)) return;
    if (chat.ownControl?.includes(ownMark(m.ciphertext))) return; // one of our receipts, replayed
    let payload: MessagePayload;
    try {
      const result = await this.mls.decrypt(m.chat_id, fromBase64(m.ciphertext), String(m.id));
      if (result.kind !== "application") return;
      payload = result.payload;
    } catch (err) {
      // Decrypted before, but the tab died before the app stored it: the worker keeps
      // the plaintext in the same vault transaction as the ratchet step (swipe-safe).
      const cached = await this.mls.cachedMessage(m.chat_id, String(m.id)).catch((e: unknown) => {
        console.warn("talkee: message cache unreadable", m.id, e);
        return undefined;
      });
      if (cached !== undefined) return this.accept(chat, m, cached, existing);
      console.warn("talkee: could not decrypt message", m.id, `seq ${m.seq} epoch ${m.epoch} edited ${m.edited_at !== null}`, err);
      if (existing === undefined) {
        this.store.insert(m.chat_id, this.unavailable(m));
        await this.store.saveMessages(m.chat_id);
        this.emit("messages", m.chat_id);
      }
      return;
    }
    return this.accept(chat, m, payload, existing);
  }

  /** The home ordered one of our forwarded messages: it takes its id and seq (and its place). */
  private async onForwardedOrdered(entry: OutboxEntry, m: WireMessage): Promise<void> {
    this.ownCiphertexts.delete(m.ciphertext ?? "");
    const local = this.store.messagesOf(m.chat_id).find((x) => x.key === entry.cmid);
    if (local !== undefined) {
      local.id = m.id;
      local.seq = m.seq;
      if (entry.ttlSeconds) local.expiresAt = Date.now() + entry.ttlSeconds * 1000;
      const list = this.store.messagesOf(m.chat_id);
      list.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER) || a.at - b.at);
      await this.store.saveMessages(m.chat_id);
    }
    this.store.forwarded = this.store.forwarded.filter((e) => e !== entry);
    await this.store.saveForwarded();
    this.emit("messages", m.chat_id);
  }

  /**
   * The home refused one of our forwarded sends (`send_rejected`, by client_message_id —
   * nobody else knows it): typically a commit won the epoch first. That commit reaches us
   * ahead of the refusal (one ordered stream from the home); we catch up on anything
   * missed, encrypt the same payload again and send it with the same client_message_id.
   */
  private async onSendRejected(chatId: string, data: Record<string, unknown>): Promise<void> {
    const cmid = data["client_message_id"];
    const chat = this.store.chats.get(chatId);
    if (chat?.pendingCommit !== undefined && chat.pendingCommit.cmid === cmid) {
      const error = data["error"] as { code?: unknown; message?: unknown } | undefined;
      const code = typeof error?.code === "string" ? error.code : "";
      return this.settleOwnCommit(chat, { kind: "rejected", code, message: typeof error?.message === "string" ? error.message : "" });
    }
    const entry = this.store.forwarded.find((e) => e.cmid === cmid && e.chatId === chatId);
    if (entry === undefined) return; // not ours (every local member's devices hear of it)
    this.store.forwarded = this.store.forwarded.filter((e) => e !== entry);
    const error = data["error"] as { code?: unknown; message?: unknown } | undefined;
    const code = typeof error?.code === "string" ? error.code : "";
    const local = this.store.messagesOf(chatId).find((x) => x.key === entry.cmid);
    const retries = (entry.retries ?? 0) + 1;
    if (code === "stale_epoch" && retries <= FORWARD_RETRIES) {
      await this.catchUpHandshakes(chatId);
      const again: OutboxEntry = { ...entry, retries };
      delete again.ciphertext;
      delete again.epoch;
      this.store.outbox.unshift(again);
      if (local !== undefined) local.status = "queued";
    } else if (local !== undefined) {
      local.status = "failed";
      local.error = humanError(new ApiError(409, code || "rejected", typeof error?.message === "string" && error.message !== "" ? error.message : "The chat's home server refused this message."));
    }
    await this.store.saveOutbox();
    await this.store.saveForwarded();
    await this.store.saveMessages(chatId);
    this.emit("messages", chatId);
    this.emit("link");
    void this.flushOutbox();
  }

  /**
   * The home refused a message change forwarded from our instance (`change_rejected`:
   * action and seq, no actor — every local member's devices hear of it). The device that
   * asked has it pending: the change is undone here (a refused edit or deletion is put
   * back from what the message kept, a reaction goes, a removed one returns) and the
   * person is told why. What happened at the home meanwhile (the message deleted there,
   * say) arrives as its own frame ahead of the refusal, and is not undone.
   */
  private async onChangeRejected(chatId: string, data: Record<string, unknown>): Promise<void> {
    const action = typeof data["action"] === "string" ? data["action"] : "";
    const seq = typeof data["seq"] === "number" ? data["seq"] : -1;
    const reactionId = typeof data["reaction_id"] === "number" ? data["reaction_id"] : undefined;
    const message = rejectedMessage(this.store.messagesOf(chatId), action, seq, reactionId);
    if (message === undefined || !undoChange(message, action, reactionId)) return; // not ours
    const error = data["error"] as { code?: unknown; message?: unknown } | undefined;
    const reason = typeof error?.message === "string" ? error.message : "";
    const text = rejectionText(action, reason);
    message.changeError = text;
    await this.store.saveMessages(chatId);
    this.emit("messages", chatId);
    this.emit("refused", chatId, text);
  }

  /** A decrypted application message: a receipt, an edit, or a new message to show. */
  private async accept(chat: ChatRecord, m: WireMessage, payload: MessagePayload, existing: LocalMessage | undefined): Promise<void> {
    if (typeof payload["receipt"] === "string") return this.onReceipt(chat, payload);
    if (existing !== undefined) {
      existing.text = payload.text;
      existing.edited = true;
      await this.store.saveMessages(m.chat_id);
      this.emit("messages", m.chat_id);
      return;
    }
    const local = this.fromPayload(m, payload);
    this.typing.get(m.chat_id)?.delete(userOf(payload.sender)); // they sent it: no longer typing
    this.store.insert(m.chat_id, local);
    await this.store.saveMessages(m.chat_id);
    this.touchChat(m.chat_id, previewOf(local), local.at, !local.mine && local.notice === undefined && this.activeChat !== m.chat_id);
    await this.store.saveChats();
    this.emit("messages", m.chat_id);
    this.emit("chats");
    if (!local.mine && local.notice === undefined) this.scheduleReceipt(m.chat_id);
  }

  private touchChat(chatId: string, text: string, at: number, unread: boolean): void {
    const chat = this.store.chats.get(chatId);
    if (chat === undefined) return;
    chat.lastText = text;
    chat.lastAt = at;
    if (unread) chat.unread += 1;
  }

  private async onCommit(chat: ChatRecord, m: WireMessage): Promise<void> {
    if (m.ciphertext === null) return;
    if (chat.pendingCommit?.ciphertext === m.ciphertext) return this.settleOwnCommit(chat, { kind: "ordered" });
    if (this.ownCiphertexts.has(m.ciphertext)) return;
    const group = await this.mls.group(chat.id);
    // With a commit of ours pending, the group is one epoch ahead: a commit of the epoch
    // before won it at the home (the worker drops ours and applies that one).
    const floor = chat.pendingCommit !== undefined ? group.epoch - 1 : group.epoch;
    if (m.epoch < floor) return; // before we joined, or already applied
    try {
      const result = await this.mls.processHandshake(chat.id, fromBase64(m.ciphertext));
      if (result.kind === "handshake" && result.removed) {
        chat.removed = true;
        chat.joined = false;
      }
    } catch (err) {
      console.warn("talkee: commit not applied", err);
    }
    await this.refreshChat(chat.id).catch(() => undefined);
  }

  private async onDeviceEvent(frame: DeviceEventFrame): Promise<void> {
    if (frame.kind === "device") {
      const change = parseDeviceChange(frame.data);
      if (change === null || change.deviceId === this.store.session?.deviceId) return;
      if (change.user === this.user) this.ownDeviceList = null;
      this.store.deviceChanges.push(change);
      await this.store.saveDeviceChanges();
      this.emit("devices");
      void this.applyDeviceChange(change);
      return;
    }
    if (frame.kind === "sync_bundle") return this.importBundle(frame);
    if (frame.kind === "welcome" && frame.payload !== null) {
      try {
        const group = await this.mls.joinFromWelcome(fromBase64(frame.payload));
        const chat = this.store.chats.get(group.groupId);
        if (chat !== undefined) chat.joined = true;
        await this.refreshChat(group.groupId).catch(() => undefined);
        const chatAfter = this.store.chats.get(group.groupId);
        if (chatAfter !== undefined) chatAfter.joined = true;
        await this.store.saveChats();
        this.emit("chats");
      } catch (err) {
        console.warn("talkee: welcome not for this device", err);
      }
      void this.topUpKeyPackages(1);
      return;
    }
    if (frame.kind === "chat" && frame.chat_id !== null) {
      const change = frame.data?.["change"];
      if (change === "left") {
        const chat = this.store.chats.get(frame.chat_id);
        if (chat !== undefined) {
          chat.removed = true;
          chat.joined = false; // our group state is stale now; a new Welcome brings us back
          await this.store.saveChats();
          this.emit("chats");
        }
        return;
      }
      if (change === "send_rejected" && frame.data !== null) return this.onSendRejected(frame.chat_id, frame.data);
      if (change === "change_rejected" && frame.data !== null) return this.onChangeRejected(frame.chat_id, frame.data);
      await this.refreshChat(frame.chat_id).catch(() => undefined);
      void this.applyPendingMembers(frame.chat_id).catch((err: unknown) => console.warn("talkee: member change not applied to the group", err));
    }
  }

  private async onReaction(frame: Extract<Frame, { type: "reaction" }>): Promise<void> {
    const r = frame.reaction;
    const message = this.store.findById(frame.chat_id, r.message_id);
    if (message === undefined) return;
    if (r.deleted || r.ciphertext === null) {
      settle(message, "unreact", (c) => c.reaction?.id === r.id); // ours, forwarded: applied at the home
      message.reactions = (message.reactions ?? []).filter((x) => x.id !== r.id);
    } else {
      if ((message.reactions ?? []).some((x) => x.id === r.id)) return;
      try {
        const bytes = fromBase64(r.ciphertext);
        const epoch = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
        const keys = await this.mls.chatKeys(frame.chat_id);
        if (keys.epoch !== epoch) return;
        const value = JSON.parse(fromUtf8(await openWithKey(keys.reactionKey, bytes.subarray(4), REACTION_CONTEXT))) as { emoji: string; user: string };
        const pending = (message.reactions ?? []).find(
          (x) => x.id === PENDING_REACTION && x.user === value.user && x.emoji === value.emoji,
        );
        if (pending !== undefined) pending.id = r.id;
        else message.reactions = [...(message.reactions ?? []), { id: r.id, emoji: value.emoji, user: value.user }];
      } catch {
        return;
      }
    }
    await this.store.saveMessages(frame.chat_id);
    this.emit("messages", frame.chat_id);
  }

  // ---- devices: ours and our peers' ------------------------------------------------

  async ownDevices(fresh = false): Promise<DeviceInfo[]> {
    if (fresh || this.ownDeviceList === null) this.ownDeviceList = await this.api.devices();
    return this.ownDeviceList;
  }

  /** Revokes another of our devices; the server's `device revoked` event then takes its leaf out. */
  async revokeDevice(deviceId: number): Promise<void> {
    if (deviceId === this.store.session?.deviceId) throw new Error("Use Sign out to remove this device.");
    await this.api.revokeDevice(deviceId);
    this.ownDeviceList = null;
    this.emit("devices");
  }

  /**
   * A device was added to (revoked from) an account we share chats with: its leaf goes
   * into (out of) every such group with a commit. One device does it per group
   * (committerWait); the next in line waits and checks, and a lost race (409) is caught
   * up and checked again before any retry.
   */
  private async applyDeviceChange(change: DeviceChange): Promise<void> {
    const key = `${change.change}/${change.deviceId}`;
    if (this.applying.has(key)) return;
    this.applying.add(key);
    const leaf = `${change.user}:${change.clientDeviceId}`;
    let complete = true;
    try {
      const chats = [...this.store.chats.values()].filter(
        (c) => c.joined && !c.removed && (change.user === this.user || c.members.some((m) => m.user === change.user)),
      );
      const results = await Promise.allSettled(chats.map((c) => this.applyDeviceChangeTo(c.id, change, leaf)));
      for (const r of results) {
        if (r.status === "rejected") {
          console.warn("talkee: device change not applied", key, r.reason);
          if (r.reason instanceof NetworkError) complete = false; // again on the next start
        }
      }
    } finally {
      this.applying.delete(key);
    }
    if (!complete) return;
    this.store.deviceChanges = this.store.deviceChanges.filter((c) => `${c.change}/${c.deviceId}` !== key);
    await this.store.saveDeviceChanges();
  }

  private async applyDeviceChangeTo(chatId: string, change: DeviceChange, leaf: string): Promise<void> {
    const adding = change.change === "added";
    for (let round = 0; round < KEYPACKAGE_ROUNDS; round++) {
      const group = await this.mls.group(chatId);
      if (group.members.includes(leaf) === adding) return; // done (by us or another device)
      const wait = committerWait(group.members, leaf, this.credential);
      if (wait < 0) return;
      await sleep(round === 0 ? wait : Math.min(1500 * round, 8000));
      const outcome = await this.withLock(() => this.commitDeviceChange(chatId, change, leaf));
      if (outcome === "no_keypackage") continue;
      if (outcome === "committed" && adding && change.user === this.user) await this.sendOwedHistory();
      return;
    }
    throw new Error(`${leaf} has no KeyPackage yet; not added to ${chatId}`);
  }

  private async commitDeviceChange(chatId: string, change: DeviceChange, leaf: string): Promise<"done" | "committed" | "no_keypackage"> {
    const adding = change.change === "added";
    let keyPackage: Uint8Array | null = null;
    let committed: boolean;
    try {
      committed = await this.commit(
        chatId,
        async () => {
          const group = await this.mls.group(chatId);
          if (group.members.includes(leaf) === adding) return null;
          if (!adding) return this.mls.removeMembers(chatId, [leaf]);
          if (keyPackage === null) {
            const claimed = await this.api.claimKeyPackages([change.user], [change.deviceId]);
            const entry = claimed[change.user]?.find((d) => d.device_id === change.deviceId);
            if (entry === undefined) return null; // revoked meanwhile: nothing to add
            if (entry.keypackage === null) throw new NoKeyPackageError();
            keyPackage = fromBase64(entry.keypackage);
          }
          return this.mls.addMembers(chatId, [keyPackage]);
        },
        adding ? [change.deviceId] : undefined,
      );
    } catch (err) {
      if (err instanceof NoKeyPackageError) return "no_keypackage";
      throw err;
    }
    if (!committed) return "done";
    if (adding && change.user === this.user) {
      // Ours to send now that our commit put the device in; kept until every part is up.
      this.store.historyOwed.push({ chatId, deviceId: change.deviceId });
      await this.store.saveHistoryOwed();
    }
    // The name is sealed under the epoch's exporter: seal it again for the new epoch
    // (owners and admins may; our own new device also gets it in the history bundle).
    const chat = this.store.chats.get(chatId);
    if (chat?.name && (chat.role === "owner" || chat.role === "admin")) {
      await this.sealName(chatId, chat.name).catch((err: unknown) => console.warn("talkee: name not sealed again", err));
    }
    await this.store.saveChats();
    return "committed";
  }

  /** Sends the history bundles this device owes (again after a failed upload: the import skips what it has). */
  private async sendOwedHistory(): Promise<void> {
    for (const owed of [...this.store.historyOwed]) {
      const key = `history/${owed.chatId}/${owed.deviceId}`;
      if (this.applying.has(key)) continue;
      this.applying.add(key);
      try {
        await this.sendHistory(owed.chatId, owed.deviceId);
        this.store.historyOwed = this.store.historyOwed.filter((o) => o !== owed);
        await this.store.saveHistoryOwed();
      } catch (err) {
        console.warn("talkee: history bundle not sent yet", owed.chatId, err);
        if (!(err instanceof NetworkError)) {
          this.store.historyOwed = this.store.historyOwed.filter((o) => o !== owed);
          await this.store.saveHistoryOwed();
        }
      } finally {
        this.applying.delete(key);
      }
    }
  }

  /** The chat's history from this device, signed and sealed to our new device, in ≤ 4 MiB bundles. */
  private async sendHistory(chatId: string, toDeviceId: number): Promise<void> {
    const target = (await this.ownDevices(true)).find((d) => d.id === toDeviceId);
    if (target === undefined) return; // revoked meanwhile
    const chat = this.store.chats.get(chatId);
    for (const part of packHistory(chatId, chat?.name ?? null, this.store.messagesOf(chatId))) {
      const signature = await this.mls.signSyncBundle(part);
      const sealed = await sealBundle(part, signature, fromBase64(target.x25519_pub));
      await this.api.uploadSyncBundle(toDeviceId, chatId, toBase64(sealed));
    }
  }

  /** A history bundle from another of our devices: its messages join what this device shows. */
  private async importBundle(frame: DeviceEventFrame): Promise<void> {
    const chatId = frame.chat_id;
    const fromId = frame.from_device_id ?? null;
    if (frame.payload === null || chatId === null || fromId === null) return;
    const mine = (list: DeviceInfo[]): DeviceInfo | undefined => list.find((d) => d.id === fromId && !d.current);
    const sender = mine(await this.ownDevices()) ?? mine(await this.ownDevices(true));
    if (sender === undefined) {
      console.warn("talkee: history bundle not from one of our devices; ignored", fromId);
      return;
    }
    let bundle: HistoryBundle;
    try {
      const opened = await this.mls.openSealedBundle(fromBase64(frame.payload));
      bundle = await readBundle(opened, fromBase64(sender.ed25519_pub), chatId);
    } catch (err) {
      console.warn("talkee: history bundle rejected", err);
      return;
    }
    if (!this.store.chats.has(chatId)) await this.refreshChat(chatId);
    const chat = this.store.chats.get(chatId);
    if (chat === undefined) return;
    if (chat.name === null && bundle.name !== null) chat.name = bundle.name;
    for (const m of bundle.messages) {
      const existing = m.id === null ? undefined : this.store.findById(chatId, m.id);
      if (existing !== undefined && !existing.unavailable) continue;
      const local: LocalMessage = { ...m, mine: userOf(m.sender) === this.user, unavailable: false };
      if (existing !== undefined) Object.assign(existing, local);
      else this.store.insert(chatId, local);
    }
    const list = this.store.messagesOf(chatId);
    const last = list[list.length - 1];
    if (last !== undefined && last.at >= chat.lastAt) {
      chat.lastText = last.text || (last.file ? `File: ${last.file.name}` : "");
      chat.lastAt = last.at;
    }
    await this.store.saveMessages(chatId);
    await this.store.saveChats();
    this.emit("messages", chatId);
    this.emit("chats");
  }

  // ---- receipts ------------------------------------------------------------------

  private scheduleReceipt(chatId: string): void {
    if (this.receiptTimers.has(chatId)) return;
    this.receiptTimers.set(
      chatId,
      window.setTimeout(() => {
        this.receiptTimers.delete(chatId);
        void this.sendReceipts(chatId).catch((err: unknown) => console.warn("talkee: receipt not sent", err));
      }, 400),
    );
  }

  private async sendReceipts(chatId: string): Promise<void> {
    const others = this.store.messagesOf(chatId).filter((m) => !m.mine && m.seq !== null && !m.unavailable);
    if (others.length === 0) return;
    const upto = Math.max(...others.map((m) => m.seq!));
    const sent = this.receiptSent.get(chatId) ?? { delivered: 0, read: 0 };
    const reading = this.activeChat === chatId && document.visibilityState === "visible";
    const kind = reading ? "read" : "delivered";
    if (sent[kind] >= upto || (kind === "delivered" && sent.read >= upto)) return;
    sent[kind] = upto;
    if (kind === "read") sent.delivered = Math.max(sent.delivered, upto);
    this.receiptSent.set(chatId, sent);
    await this.sendControl(chatId, { text: "", receipt: kind, upto });
  }

  private async onReceipt(chat: ChatRecord, payload: MessagePayload): Promise<void> {
    const kind = payload["receipt"] === "read" ? "read" : "delivered";
    const upto = Number(payload["upto"]);
    if (userOf(payload.sender) === this.user) return;
    let changed = false;
    for (const m of this.store.messagesOf(chat.id)) {
      if (m.mine && m.seq !== null && m.seq <= upto && STATUS_RANK[m.status] < STATUS_RANK[kind] && m.status !== "failed") {
        m.status = kind;
        changed = true;
      }
    }
    if (changed) {
      await this.store.saveMessages(chat.id);
      this.emit("messages", chat.id);
    }
  }

  // ---- signals -----------------------------------------------------------------------

  private onSignal(signal: Signal): void {
    if (signal.type === "typing" && typeof signal["chat_id"] === "string" && typeof signal["user"] === "string") {
      if (signal["user"] === this.user) return;
      const chatTyping = this.typing.get(signal["chat_id"]) ?? new Map<string, number>();
      chatTyping.set(signal["user"], Date.now() + 5000);
      this.typing.set(signal["chat_id"], chatTyping);
      this.emit("typing", signal["chat_id"]);
      window.setTimeout(() => this.emit("typing", signal["chat_id"] as string), 5100);
      return;
    }
    if (signal.type === "presence" && typeof signal["user"] === "string") {
      this.presence.set(signal["user"], nextPresence(this.presence.get(signal["user"]), String(signal["state"]), signal["last_seen"], Date.now()));
      this.emit("presence");
      return;
    }
    if (signal.type === "call" && typeof signal["chat_id"] === "string" && typeof signal["payload"] === "string") {
      void this.calls.onSignal(signal["chat_id"], signal["payload"]);
      return;
    }
    if (signal.type === "error") console.warn("talkee: server said", signal["code"], signal["message"]);
  }

  typingUsers(chatId: string): string[] {
    const now = Date.now();
    return [...(this.typing.get(chatId) ?? new Map<string, number>()).entries()].filter(([, until]) => until > now).map(([u]) => u);
  }

  private expireMessages(): void {
    const now = Date.now();
    for (const chat of this.store.chats.values()) {
      let changed = false;
      for (const m of this.store.messagesOf(chat.id)) {
        if (!m.deleted && m.expiresAt != null && m.expiresAt <= now) {
          this.tombstone(m, chat.id);
          m.expired = true;
          changed = true;
        }
      }
      if (changed) {
        void this.store.saveMessages(chat.id);
        this.emit("messages", chat.id);
      }
    }
  }

  /** Tops the server's pool of our KeyPackages up (claims that lost a race never send a Welcome). */
  private async refillKeyPackages(): Promise<void> {
    try {
      const current = (await this.ownDevices(true)).find((d) => d.current);
      if (current !== undefined && current.keypackage_count < KEYPACKAGE_POOL) {
        await this.topUpKeyPackages(KEYPACKAGE_POOL - current.keypackage_count);
      }
    } catch (err) {
      console.warn("talkee: KeyPackage pool not checked", err);
    }
  }

  async topUpKeyPackages(count: number): Promise<void> {
    try {
      const kps = await this.mls.makeKeyPackages(count);
      await this.api.uploadKeyPackages(kps.map((k) => toBase64(k)));
    } catch (err) {
      console.warn("talkee: KeyPackage upload failed", err);
    }
  }
}
