// What the app keeps on this device, sealed in the vault next to the MLS state
// (rows `app/...` through the worker): session, chats, decrypted messages, outbox, drafts.
import type { Remote } from "comlink";
import type { MlsWorkerApi, OutgoingPayload } from "../mls/api";
import type { LogState } from "./keylog";
import { fromUtf8, utf8 } from "../crypto/encoding";
import type { FileReference } from "../crypto/payload";

export interface SessionRecord {
  user: string; // alice@domain
  token: string | null;
  deviceId: number | null; // the server's device id
  clientDeviceId: string;
  cursor: number;
}

export interface ChatRecord {
  id: string;
  kind: "direct" | "group" | "channel";
  name: string | null; // opened locally (groups/channels) — never stored in the clear
  nameEpoch: number;
  /** The sealed name `name` was opened from (a rename in the same epoch seals it anew). */
  nameSealed?: string;
  /** A group's picture (a small JPEG data URL), sealed with its name (./groupMeta). */
  picture?: string;
  members: { user: string; role: string }[];
  role: string | null;
  favourite: boolean;
  unread: number;
  /** Unread messages that mention me (the list's badge shows "@"); reset with `unread`. */
  unreadMentions?: number;
  lastText: string;
  lastAt: number;
  ttlSeconds: number | null;
  /** The instance that orders this chat (its creator's domain). */
  home?: string;
  /** Users we asked the (remote) home to add; their devices join the group once the home's snapshot lists them. */
  pendingAdds?: string[];
  /** Users we asked the (remote) home to remove; their leaves leave the group once the snapshot no longer lists them. */
  pendingRemoves?: string[];
  joined: boolean; // we hold the MLS group
  removed: boolean;
  /** Marks of our own receipts' ciphertexts (MLS senders cannot decrypt their own messages on a replay). */
  ownControl?: string[];
  /**
   * Our commit the chat's home (another instance) has not ordered yet: the group's new
   * epoch stays pending in the worker until its echo comes back (confirmed) or the home
   * refuses it (`send_rejected`: discarded). Nothing is encrypted in the chat meanwhile.
   */
  pendingCommit?: { cmid: string; ciphertext: string };
  /**
   * Server epochs whose commit this client refused (it brought in an uncertified leaf):
   * the group stays in its MLS epoch, so the server's epoch is ours plus this (./refusedCommits).
   */
  voidedEpochs?: number;
  /** Devices this client refused to add (no valid certificate by the user's identity key): shown in the chat. */
  warnings?: string[];
  /** The safety number the user compared with the other person's and found equal (direct chats). */
  verified?: string;
  /** Our safety number when the other person's did not match it: the chat is marked unsafe. */
  unsafe?: string;
  /**
   * Set when the other person's identity key changed while this chat was verified: sending
   * waits until the user says "send anyway" or verifies again (./contacts `sendGate`).
   */
  held?: string;
}

/** Shows `text` among the chat's security warnings (once, as the newest); false if it was already the newest. */
export function addWarning(chat: ChatRecord, text: string): boolean {
  const warnings = chat.warnings ?? [];
  if (warnings[warnings.length - 1] === text) return false;
  chat.warnings = [...warnings.filter((w) => w !== text), text];
  return true;
}

/** Takes `text` off the chat's security warnings; false if it was not there. */
export function removeWarning(chat: ChatRecord, text: string): boolean {
  if (chat.warnings === undefined || !chat.warnings.includes(text)) return false;
  chat.warnings = chat.warnings.filter((w) => w !== text);
  if (chat.warnings.length === 0) delete chat.warnings;
  return true;
}

export interface ReactionRecord {
  id: number;
  emoji: string;
  user: string;
  removeSecret?: string; // ours only
}

/** A change forwarded to the chat's home and not yet applied there (see ./changes). */
export interface PendingChange {
  action: "edit" | "delete" | "burn" | "unreact";
  /** edit and delete: the text (and edited flag, reactions) it replaced. */
  text?: string;
  edited?: boolean;
  reactions?: ReactionRecord[];
  /** edit: our ciphertext; the home's changed frame carries it. */
  ciphertext?: string;
  /** unreact: the reaction removed. */
  reaction?: ReactionRecord;
}

export interface LocalMessage {
  key: string; // stable local key: client_message_id for ours, "m<id>" for others'
  id: number | null;
  seq: number | null;
  sender: string; // MLS credential from inside the payload
  text: string;
  at: number;
  mine: boolean;
  status: "queued" | "sent" | "delivered" | "read" | "failed";
  error?: string;
  edited?: boolean;
  deleted?: boolean;
  replyTo?: string; // message id (string) of the quoted message
  forwardOf?: string; // original author (user@domain)
  /** Users the message mentions (`user@domain`, from the sealed payload; ./mentions). */
  mentions?: string[];
  editSecret?: string; // base64, ours only
  reactions?: ReactionRecord[];
  expiresAt?: number | null;
  expired?: boolean; // its timer ran out here (the text is gone)
  burn?: boolean;
  revealed?: boolean;
  unavailable?: boolean; // ciphertext this device cannot read (before it joined)
  file?: FileReference;
  /** Changes forwarded to the chat's home instance, not applied there yet. */
  pending?: PendingChange[];
  /** Why the home refused a change of ours (shown on the message). */
  changeError?: string;
  /** A line about the chat rather than a message: who set its self-destruct timer. */
  notice?: ChatNotice;
  /** A line this device wrote itself (never sent): a contact's key or devices changed (./contacts). */
  local?: LocalNotice;
}

/** What this device noticed about a contact and says in every chat with them. */
export interface LocalNotice {
  kind: "identity-changed" | "device-added" | "device-removed";
  user: string;
}

/** What this device last saw of a contact's identity key and certified devices (GET /v1/devices/of/{user}). */
export interface ContactRecord {
  identityKey: string | null;
  /** client_device_id → the certificate's created time (Unix seconds; 0: no certificate). */
  devices: Record<string, number>;
  /** The user's key log as this device saw it last (./keylog), for users of this instance. */
  log?: LogState;
  /** Heads of that log at the sizes this device saw it (size → head; the newest few), for ./logGossip. */
  heads?: Record<string, string>;
}

/** What a member changed in the chat, said end to end (the server's own event names nobody). */
export type ChatNotice = { timer: number | null } | { renamed: string } | { picture: "set" | "removed" };

export interface OutboxEntry {
  cmid: string;
  chatId: string;
  payload: OutgoingPayload;
  editHash: string;
  ttlSeconds?: number;
  burn?: boolean;
  ciphertext?: string;
  epoch?: number;
  blobIds?: string[];
  /** Times the home instance refused it (stale epoch) and it was encrypted again. */
  retries?: number;
}

/** Our own profile: its key (base64, shared with our chats' members through MLS), version and name. */
export interface OwnProfileRecord {
  key: string;
  version: number;
  name: string;
  /** Our picture (a small JPEG `data:` URL). */
  avatar?: string;
}

/** Another user's profile key as one of their messages handed it to us, and what it opened. */
export interface KnownProfileRecord {
  key: string;
  version: number;
  name?: string;
  avatar?: string;
  /** The version `name` was opened from (0: none yet). */
  opened: number;
}

/** Profiles on this device (./profiles), sealed in the vault's `profiles` row. */
export interface ProfilesRecord {
  own: OwnProfileRecord | null;
  others: Record<string, KnownProfileRecord>;
  /** Per chat: the version of our key last handed to it, and the leaves it reached. */
  shared: Record<string, { version: number; leaves: string[] }>;
}

/** A half-written message of one chat (this device only; sealed like every row, never sent). */
export interface Draft {
  text: string;
  /** The id of the message it replies to. */
  replyTo?: string;
}

/** A device added to or revoked from a user's account, still to be applied to our groups. */
export interface DeviceChange {
  /** "certified": approved after it was added (its certificate is new); added like "added". */
  change: "added" | "certified" | "revoked";
  user: string;
  deviceId: number; // the server's id
  clientDeviceId: string; // the leaf credential is user:clientDeviceId
}

/** History a new device of ours is owed by this device (it added the device to that chat). */
export interface HistoryOwed {
  chatId: string;
  deviceId: number;
}

const json = (value: unknown): Uint8Array => utf8(JSON.stringify(value));

export class AppStore {
  session: SessionRecord | null = null;
  chats = new Map<string, ChatRecord>();
  private messages = new Map<string, LocalMessage[]>();
  outbox: OutboxEntry[] = [];
  /** Sent to a chat homed on another instance: accepted here, not yet ordered there (matched by ciphertext). */
  forwarded: OutboxEntry[] = [];
  deviceChanges: DeviceChange[] = [];
  historyOwed: HistoryOwed[] = [];
  contacts = new Map<string, ContactRecord>();
  drafts = new Map<string, Draft>();
  profiles: ProfilesRecord = { own: null, others: {}, shared: {} };
  /** Told after a chat's messages were saved (the search index follows them: ./search). */
  onMessagesSaved: ((chatId: string) => void) | null = null;

  constructor(private readonly mls: Remote<MlsWorkerApi>) {}

  private async read<T>(key: string): Promise<T | undefined> {
    const bytes = await this.mls.appGet(key);
    return bytes === undefined ? undefined : (JSON.parse(fromUtf8(bytes)) as T);
  }

  async load(): Promise<void> {
    this.session = (await this.read<SessionRecord>("session")) ?? null;
    const chats = (await this.read<ChatRecord[]>("chats")) ?? [];
    this.chats = new Map(chats.map((c) => [c.id, c]));
    this.outbox = (await this.read<OutboxEntry[]>("outbox")) ?? [];
    this.forwarded = (await this.read<OutboxEntry[]>("forwarded")) ?? [];
    this.deviceChanges = (await this.read<DeviceChange[]>("devicechanges")) ?? [];
    this.historyOwed = (await this.read<HistoryOwed[]>("historyowed")) ?? [];
    this.contacts = new Map(Object.entries((await this.read<Record<string, ContactRecord>>("contacts")) ?? {}));
    this.drafts = new Map(Object.entries((await this.read<Record<string, Draft>>("drafts")) ?? {}));
    this.profiles = (await this.read<ProfilesRecord>("profiles")) ?? this.profiles;
    for (const key of await this.mls.appKeys("msgs/")) {
      const list = await this.read<LocalMessage[]>(key);
      if (list !== undefined) this.messages.set(key.slice("msgs/".length), list);
    }
  }

  async saveSession(): Promise<void> {
    await this.mls.appPut("session", json(this.session));
  }

  async saveChats(): Promise<void> {
    await this.mls.appPut("chats", json([...this.chats.values()]));
  }

  async saveOutbox(): Promise<void> {
    await this.mls.appPut("outbox", json(this.outbox));
  }

  async saveForwarded(): Promise<void> {
    await this.mls.appPut("forwarded", json(this.forwarded));
  }

  async saveDeviceChanges(): Promise<void> {
    await this.mls.appPut("devicechanges", json(this.deviceChanges));
  }

  async saveHistoryOwed(): Promise<void> {
    await this.mls.appPut("historyowed", json(this.historyOwed));
  }

  async saveContacts(): Promise<void> {
    await this.mls.appPut("contacts", json(Object.fromEntries(this.contacts)));
  }

  async saveDrafts(): Promise<void> {
    await this.mls.appPut("drafts", json(Object.fromEntries(this.drafts)));
  }

  async saveProfiles(): Promise<void> {
    await this.mls.appPut("profiles", json(this.profiles));
  }

  messagesOf(chatId: string): LocalMessage[] {
    let list = this.messages.get(chatId);
    if (list === undefined) {
      list = [];
      this.messages.set(chatId, list);
    }
    return list;
  }

  async saveMessages(chatId: string): Promise<void> {
    await this.mls.appPut(`msgs/${chatId}`, json(this.messagesOf(chatId)));
    this.onMessagesSaved?.(chatId);
  }

  findById(chatId: string, id: number | string): LocalMessage | undefined {
    const n = Number(id);
    return this.messagesOf(chatId).find((m) => m.id === n);
  }

  /** Keeps messages ordered by seq (queued ones, without a seq yet, stay last). */
  insert(chatId: string, message: LocalMessage): void {
    const list = this.messagesOf(chatId);
    list.push(message);
    list.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER) || a.at - b.at);
  }
}
