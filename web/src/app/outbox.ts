// The outbox: our messages on their way to the server. A message is sealed in the vault
// (messages + outbox rows) before anything is sent, goes out under the turn lock (never
// ahead of one of our commits the server has not ordered), and is retried with the same
// client_message_id — and the same ciphertext — until the server answers, so it lands
// once. Sends to a chat homed on another instance wait in `store.forwarded` until the
// home's ordered copy comes back (or its refusal puts them back here).
import { ApiError, NetworkError, humanError, isPassing, type Api, type WireMessage } from "../api/client";
import { newEditSecret } from "../crypto/blake3";
import { toBase64 } from "../crypto/encoding";
import type { FileReference } from "../crypto/payload";
import type { OutgoingPayload } from "../mls/api";
import { newId, ownMark, sortBySeq, type AppContext } from "./context";
import { previewOf } from "./format";
import { mentionList } from "./mentions";
import type { ChatNotice, LocalMessage, OutboxEntry } from "./store";

/** How many times a send the home refused (its epoch was stale) is encrypted again. */
export const FORWARD_RETRIES = 3;

export const STATUS_RANK: Record<LocalMessage["status"], number> = { failed: -1, queued: 0, sent: 1, delivered: 2, read: 3 };

export interface SendOptions {
  replyTo?: string;
  forwardOf?: string;
  ttlSeconds?: number;
  burn?: boolean;
  file?: FileReference;
  blobIds?: string[];
  cmid?: string;
  notice?: ChatNotice;
  /** Users mentioned in the text (sealed in the payload as `mentions`). */
  mentions?: string[];
}

export interface OutboxDeps {
  readonly ctx: Pick<AppContext, "mls" | "store" | "credential" | "lock" | "ownCiphertexts" | "emit"> & { readonly api: Pick<Api, "send"> };
  /** The browser thinks it is online (no point trying otherwise). */
  online(): boolean;
  /** The token died (401): sign this device in again; the message stays queued. */
  recoverAuth(): void;
  /** Processes commits we have not seen yet (the home refused a send for a stale epoch). */
  catchUp(chatId: string): Promise<void>;
}

export class Outbox {
  /** The last send attempt could not reach the server (the outbox is waiting). */
  stalled = false;
  private flushing = false;

  constructor(private readonly deps: OutboxDeps) {}

  private get ctx(): OutboxDeps["ctx"] {
    return this.deps.ctx;
  }

  get size(): number {
    return this.ctx.store.outbox.length;
  }

  /** Shows the message as queued, persists it with its outbox entry, then tries to send. */
  async queue(chatId: string, text: string, options: SendOptions = {}): Promise<void> {
    const { store } = this.ctx;
    const { secret, editHash: hash } = await newEditSecret();
    const payload: OutgoingPayload = { text };
    if (options.notice !== undefined) payload.notice = options.notice;
    if (options.replyTo !== undefined) payload.reply_to = options.replyTo;
    if (options.forwardOf !== undefined) payload.forward_of = options.forwardOf;
    if (options.file !== undefined) payload.file = options.file;
    if (options.mentions !== undefined && options.mentions.length > 0) payload.mentions = options.mentions;
    const cmid = options.cmid ?? newId();
    const entry: OutboxEntry = { cmid, chatId, payload, editHash: hash };
    // The chat's timer as this person saw it when writing (the server applies it too).
    const ttlSeconds = options.ttlSeconds ?? store.chats.get(chatId)?.ttlSeconds ?? undefined;
    if (ttlSeconds) entry.ttlSeconds = ttlSeconds;
    if (options.burn) entry.burn = true;
    if (options.blobIds !== undefined) entry.blobIds = options.blobIds;
    const local: LocalMessage = {
      key: cmid,
      id: null,
      seq: null,
      sender: this.ctx.credential,
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
    if (payload.mentions !== undefined) local.mentions = options.mentions;
    // Persist first: the message survives a killed tab and goes out once (client_message_id).
    store.insert(chatId, local);
    store.outbox.push(entry);
    await store.saveMessages(chatId);
    await store.saveOutbox();
    const chat = store.chats.get(chatId);
    if (chat !== undefined) {
      chat.lastText = previewOf(local);
      chat.lastAt = local.at;
    }
    await store.saveChats();
    this.ctx.emit("messages", chatId);
    this.ctx.emit("link");
    void this.flush();
  }

  /** Sends what is queued, oldest first, until it is empty or the link is down. */
  async flush(): Promise<void> {
    if (this.flushing || !this.deps.online()) return;
    this.flushing = true;
    try {
      while (this.ctx.store.outbox.length > 0) {
        // Under the lock: a message is never encrypted in, or posted ahead of, one of
        // our commits that the server has not ordered yet.
        if (!(await this.ctx.lock.run(() => this.sendFirstQueued()))) break;
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Sends the oldest outbox entry; false when the link is down (it stays queued). */
  private async sendFirstQueued(): Promise<boolean> {
    const { store, api, mls } = this.ctx;
    // A chat whose epoch awaits the home's answer to our commit waits (its next messages
    // would be in that epoch); the others go on, each chat's messages in order.
    const waiting = (chatId: string): boolean => store.chats.get(chatId)?.pendingCommit !== undefined;
    const entry = store.outbox.find((e) => !waiting(e.chatId));
    if (entry === undefined) return false;
    if (entry.ciphertext === undefined) {
      const enc = await mls.encrypt(entry.chatId, entry.payload);
      entry.ciphertext = toBase64(enc.ciphertext);
      entry.epoch = enc.epoch;
      await store.saveOutbox();
    }
    this.ctx.ownCiphertexts.add(entry.ciphertext);
    const local = store.messagesOf(entry.chatId).find((m) => m.key === entry.cmid);
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
      // Whom it mentions, for their pushes in chats they muted (README: the server learns this).
      const wake = mentionList(entry.payload.mentions);
      if (wake !== undefined && wake.length > 0) body.wake = wake;
      const sent = await api.send(entry.chatId, body);
      if (sent.forwarded === true || sent.id === null) {
        // Homed on another instance: accepted here, ordered there. Kept (sealed in the
        // vault) until its `event` comes back, recognised by the ciphertext we posted.
        store.forwarded.push(entry);
        await store.saveForwarded();
      }
      if (local !== undefined) {
        local.id = sent.id;
        local.seq = sent.seq;
        // The server's clock starts when it stores the message (a queued one waited).
        if (entry.ttlSeconds) local.expiresAt = Date.now() + entry.ttlSeconds * 1000;
        if (STATUS_RANK[local.status] < STATUS_RANK.sent) local.status = "sent";
      }
    } catch (err) {
      if (err instanceof NetworkError || isPassing(err)) {
        // Kept queued and sent again (same id and ciphertext) by the next flush.
        this.stalled = true;
        this.ctx.emit("link");
        return false;
      }
      if (err instanceof ApiError && err.status === 401) {
        // The token died: the message stays queued until this device is signed in again.
        this.deps.recoverAuth();
        return false;
      }
      if (local !== undefined) {
        local.status = "failed";
        local.error = humanError(err);
      }
    }
    this.stalled = false;
    store.outbox = store.outbox.filter((e) => e !== entry);
    sortBySeq(store.messagesOf(entry.chatId));
    await store.saveMessages(entry.chatId);
    await store.saveOutbox();
    this.ctx.emit("messages", entry.chatId);
    this.ctx.emit("link");
    return true;
  }

  /**
   * An encrypted control message (receipts, profile keys); never queued: a lost receipt is
   * harmless, and profile keys are handed out again until one went (./profiles). False
   * when it could not go now.
   */
  sendControl(chatId: string, payload: OutgoingPayload): Promise<boolean> {
    return this.ctx.lock.run(() => this.sendControlLocked(chatId, payload));
  }

  private async sendControlLocked(chatId: string, payload: OutgoingPayload): Promise<boolean> {
    const { store, mls, api } = this.ctx;
    const chat = store.chats.get(chatId);
    if (chat === undefined || !chat.joined || chat.removed) return false;
    if (chat.kind === "channel" && chat.role !== "owner" && chat.role !== "admin") return false;
    if (chat.pendingCommit !== undefined) return false; // the epoch may still change back: a receipt is not worth it
    const enc = await mls.encrypt(chatId, payload);
    const ciphertext = toBase64(enc.ciphertext);
    this.ctx.ownCiphertexts.add(ciphertext);
    // Remember it before it goes out: a replay after a reload must not try to decrypt
    // our own receipt (MLS senders cannot), even if the tab died before the answer.
    chat.ownControl = [...(chat.ownControl ?? []), ownMark(ciphertext)].slice(-300);
    await store.saveChats();
    await api.send(chatId, { client_message_id: newId(), kind: "application", epoch: enc.epoch, ciphertext });
    return true;
  }

  /** One of our queued sends (encrypted, its answer not in yet) has this ciphertext. */
  holds(ciphertext: string): boolean {
    return this.ctx.store.outbox.some((e) => e.ciphertext === ciphertext);
  }

  /**
   * An ordered frame for the chat: when it is one of our forwarded sends (recognised by
   * its ciphertext), the message takes the home's id and seq (and its place) and true is
   * returned; else false.
   */
  async ordered(m: WireMessage): Promise<boolean> {
    const { store } = this.ctx;
    const entry = m.ciphertext === null ? undefined : store.forwarded.find((e) => e.ciphertext === m.ciphertext);
    if (entry === undefined) return false;
    this.ctx.ownCiphertexts.delete(m.ciphertext ?? "");
    const local = store.messagesOf(m.chat_id).find((x) => x.key === entry.cmid);
    if (local !== undefined) {
      local.id = m.id;
      local.seq = m.seq;
      if (entry.ttlSeconds) local.expiresAt = Date.now() + entry.ttlSeconds * 1000;
      sortBySeq(store.messagesOf(m.chat_id));
      await store.saveMessages(m.chat_id);
    }
    store.forwarded = store.forwarded.filter((e) => e !== entry);
    await store.saveForwarded();
    this.ctx.emit("messages", m.chat_id);
    return true;
  }

  /**
   * The home refused one of our forwarded sends (`send_rejected`, by client_message_id —
   * nobody else knows it): typically a commit won the epoch first. That commit reaches us
   * ahead of the refusal (one ordered stream from the home); we catch up on anything
   * missed, encrypt the same payload again and send it with the same client_message_id
   * (at most FORWARD_RETRIES times; other refusals mark it failed). False: not ours.
   */
  async rejected(chatId: string, cmid: unknown, code: string, message: string): Promise<boolean> {
    const { store } = this.ctx;
    const entry = store.forwarded.find((e) => e.cmid === cmid && e.chatId === chatId);
    if (entry === undefined) return false; // not ours (every local member's devices hear of it)
    store.forwarded = store.forwarded.filter((e) => e !== entry);
    const local = store.messagesOf(chatId).find((x) => x.key === entry.cmid);
    const retries = (entry.retries ?? 0) + 1;
    if (code === "stale_epoch" && retries <= FORWARD_RETRIES) {
      await this.deps.catchUp(chatId);
      const again: OutboxEntry = { ...entry, retries };
      delete again.ciphertext;
      delete again.epoch;
      store.outbox.unshift(again);
      if (local !== undefined) local.status = "queued";
    } else if (local !== undefined) {
      local.status = "failed";
      local.error = humanError(new ApiError(409, code || "rejected", message !== "" ? message : "The chat's home server refused this message."));
    }
    await store.saveOutbox();
    await store.saveForwarded();
    await store.saveMessages(chatId);
    this.ctx.emit("messages", chatId);
    this.ctx.emit("link");
    void this.flush();
    return true;
  }
}
