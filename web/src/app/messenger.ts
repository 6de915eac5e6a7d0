// The messenger: the facade the UI talks to. It wires the app layer's modules together
// (see README.md, "Module map") and owns only the session's life: start/stop, signing in
// again when the token dies, and which chat is open. All crypto is the core's (the MLS
// worker and web/src/crypto); the modules decide what to encrypt and where to send it.
import type { Remote } from "comlink";
import { Api, NetworkError, type DeviceInfo } from "../api/client";
import { CallManager } from "../calls/call";
import { fromBase64 } from "../crypto/encoding";
import type { FileReference } from "../crypto/payload";
import type { MlsWorkerApi } from "../mls/api";
import { Connection, type LinkState } from "../transport/connection";
import { Reauth, type AccessProblem } from "./access";
import { Approvals } from "./approvals";
import { Blocks } from "./blocks";
import type { Chats } from "./chats";
import { certifiedDevices, sendGate, SendHeldError, type Contacts } from "./contacts";
import type { AppContext, ChangeKind } from "./context";
import type { Devices } from "./devices";
import { Drafts } from "./drafts";
import { prepareMedia } from "./images";
import type { Edits } from "./edits";
import { userOf, type Presence } from "./format";
import { messageFromPayload, unavailableMessage, type Inbound } from "./inbound";
import { TurnLock } from "./lock";
import { Notifications } from "./notifications";
import { Search } from "./search";
import { startSearchWorker } from "../search/client";
import type { Membership } from "./membership";
import { wireModules } from "./modules";
import type { Outbox, SendOptions } from "./outbox";
import type { Profiles } from "./profiles";
import type { Receipts } from "./receipts";
import type { Signals } from "./signals";
import type { AppStore, ChatRecord, LocalMessage } from "./store";
import { checkChatMembers, safetyNumberWith, verifySafetyNumber } from "./trust";
import { Uploads } from "./uploads";
import { voiceFile, type VoiceNote } from "./voice";

/** How often each device asks whether a group owes a scheduled self-update (plus up to the jitter). */
const ROTATION_CHECK_MS = 10 * 60 * 1000;
const ROTATION_JITTER_MS = 30 * 1000;

export type { ChangeKind } from "./context";
export { KEYPACKAGE_POOL } from "./devices";

export class Messenger extends EventTarget implements AppContext {
  readonly conn: Connection;
  /** One-to-one calls in direct chats (signalling over `call` socket frames). */
  readonly calls: CallManager;
  /** Files on their way out (resumed after a reload). */
  readonly uploads: Uploads;
  /** Half-written messages per chat, sealed in the vault (./drafts). */
  readonly drafts: Drafts;
  /** Our display name and the names others set (./profiles). */
  readonly profiles: Profiles;
  /** Search over this device's decrypted messages (./search). */
  readonly search: Search;
  /** Web Push on this device, mutes, the app badge, the tab's side of a push. */
  readonly notifications: Notifications;
  /** The people this user blocked (./blocks). */
  readonly blocks: Blocks;
  /** Set by the UI: a click on a notification opens this chat (answering its call). */
  onOpenRequest: ((chatId: string | null, answerCall: boolean) => void) | null = null;
  readonly lock = new TurnLock();
  readonly ownCiphertexts = new Set<string>();
  activeChat: string | null = null;

  private readonly chats: Chats;
  private readonly outbox: Outbox;
  private readonly membership: Membership;
  private readonly devices: Devices;
  private readonly edits: Edits;
  private readonly receipts: Receipts;
  private readonly signals: Signals;
  private readonly inbound: Inbound;
  private readonly contacts: Contacts;
  private stopped = false;
  private readonly reauth: Reauth;
  /** Approving our other devices, or this one with the recovery phrase (./approvals). */
  readonly approvals: Approvals;
  private timers: number[] = [];

  constructor(
    readonly api: Api,
    readonly mls: Remote<MlsWorkerApi>,
    readonly store: AppStore,
    readonly credential: string,
    /** Signs this device in again: with the password it holds, or with one the person typed. */
    relogin: (password?: string) => Promise<void>,
  ) {
    super();
    this.reauth = new Reauth({
      domain: () => this.domain,
      relogin,
      reconnect: () => this.conn.start(),
      emit: (kind) => this.emit(kind),
      stopped: () => this.stopped,
    });
    this.approvals = new Approvals({
      api,
      mls,
      store,
      user: () => this.user,
      refreshDevices: () => this.devices.own(true),
      emit: (kind) => this.emit(kind),
    });
    ({
      chats: this.chats,
      outbox: this.outbox,
      membership: this.membership,
      devices: this.devices,
      edits: this.edits,
      receipts: this.receipts,
      signals: this.signals,
      inbound: this.inbound,
      contacts: this.contacts,
      profiles: this.profiles,
    } = wireModules(this, {
      online: () => navigator.onLine,
      recoverAuth: () => void this.recoverAuth(),
      activeChat: () => this.activeChat,
      visible: () => document.visibilityState === "visible",
      // Someone new to show our presence to (presence goes only to our chats).
      newChat: () => window.setTimeout(() => this.conn.signal({ type: "presence", state: "online" }), 1500),
      onCall: (chatId, payload) => void this.calls.onSignal(chatId, payload),
      onCallRefused: (chatId) => this.calls.refused(chatId),
      blocked: (user) => this.blocks.has(user),
    }));
    this.blocks = new Blocks({ api, changed: () => (this.emit("blocks"), this.emit("chats")) });
    this.calls = new CallManager({
      credential,
      chatKeys: (chatId, epoch) => this.mls.chatKeys(chatId, epoch),
      directPeer: (chatId) => {
        const chat = this.store.chats.get(chatId);
        if (chat === undefined || chat.kind !== "direct" || !chat.joined || chat.removed) return null;
        const peer = chat.members.find((m) => m.user !== this.user)?.user ?? null;
        // No calls with someone blocked: theirs do not ring, ours are not offered.
        return peer === null || this.blocks.has(peer) ? null : peer;
      },
      sendSignal: (chatId, payload) => this.conn.signal({ type: "call", chat_id: chatId, payload }),
      turn: () => this.api.turnCredentials(),
    });
    this.drafts = new Drafts(this);
    this.search = new Search({ ctx: this, engine: startSearchWorker(), title: (id) => {
        const chat = this.store.chats.get(id);
        return chat === undefined ? "" : this.chatTitle(chat);
      },
    });
    this.uploads = new Uploads(this.api, this.mls, {
      send: (record, ref) => this.send(record.chatId, record.caption, { file: ref, blobIds: [ref.blob_id], cmid: record.id }),
      sent: (record) =>
        this.store.outbox.some((e) => e.cmid === record.id) || this.store.messagesOf(record.chatId).some((m) => m.key === record.id),
      changed: (chatId) => this.emit("uploads", chatId),
    });
    this.conn = new Connection(api, {
      token: () => this.api.token ?? "",
      cursor: () => this.store.session?.cursor ?? 0,
      onFrame: (frame) => this.lock.run(() => this.inbound.onFrame(frame)),
      saveCursor: async (cursor) => {
        if (this.store.session !== null) {
          this.store.session.cursor = cursor;
          await this.store.saveSession();
        }
      },
      onSignal: (signal) => this.signals.route(signal),
      onState: () => {
        this.emit("link");
        if (this.conn.online) void this.outbox.flush();
      },
      onSynced: async () => {
        void this.outbox.flush();
        // Self-updates that fell due while this device was away, once it has caught up.
        window.setTimeout(() => void this.rotate(), Math.floor(Math.random() * ROTATION_JITTER_MS));
        // Device changes not applied yet (a killed tab, or the link dropped meanwhile), owed history, the KeyPackage pool.
        this.devices.resume();
        // Our profile key to chats (or new members) that have not had it; names we hold a newer key for.
        void this.profiles.shareAll().catch((err: unknown) => console.warn("talkee: profiles not shared", err));
      },
      onAuthFailed: () => void this.recoverAuth(),
      onSignedOut: () => this.reauth.signedOut(),
      onAccountDeleted: () => this.emit("deleted"),
    });
    this.notifications = new Notifications({
      api,
      describe: (chatId) => {
        const chat = this.store.chats.get(chatId);
        return chat === undefined ? null : { title: this.chatTitle(chat), preview: this.preview(chat), mentioned: (chat.unreadMentions ?? 0) > 0, picture: this.chats.picture(chat) };
      },
      showing: (chatId) => this.activeChat === chatId && document.visibilityState === "visible" && document.hasFocus(),
      unreadTotal: () => [...this.store.chats.values()].reduce((n, c) => n + c.unread, 0),
      open: (chatId, action) => {
        if (action === "decline") void this.calls.decline().catch(() => undefined);
        else this.onOpenRequest?.(chatId, action === "answer");
      },
    });
    const every = (ms: number, tick: () => void): void => void this.timers.push(window.setInterval(tick, ms));
    every(2000, () => this.edits.expire(Date.now()));
    // Scheduled key rotation (membership.rotateDue): every few minutes, from a moment of its
    // own on each device, so the members of a group rarely all commit at once.
    every(ROTATION_CHECK_MS + Math.floor(Math.random() * ROTATION_JITTER_MS), () => this.conn.online && void this.rotate());
    // A send that failed on the way (the link dropped, or the server said "not now") is
    // retried; the client_message_id makes the retry land once.
    every(4000, () => this.store.outbox.length > 0 && this.conn.online && void this.outbox.flush());
    document.addEventListener("visibilitychange", () => {
      this.conn.signal({ type: "presence", state: document.visibilityState === "visible" ? "online" : "away" });
    });
  }

  /** Our 60-digit safety number with `user` (null: no identity key here, or none pinned for them).
   * After their key changed (./contacts), the number with the new key: what comparing again must match. */
  async safetyNumber(user: string, chatId?: string): Promise<string | null> {
    // Joined by a Welcome: nothing pinned for them yet; check their leaves here and pin.
    if (chatId !== undefined && (await this.mls.pinnedIdentity(user)) === null) {
      await checkChatMembers(this, chatId, user).catch((err: unknown) => console.warn("talkee: certificates not checked", err));
    }
    return safetyNumberWith(this, user, (await this.contacts.candidateKey(user)) ?? undefined);
  }

  /** True when `theirs` (typed or scanned) equals our number; the chat is marked verified (or not). */
  async verifySafetyNumber(chatId: string, user: string, theirs: string): Promise<boolean> {
    return verifySafetyNumber(this, chatId, user, theirs, (await this.contacts.candidateKey(user)) ?? undefined);
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

  async start(): Promise<void> {
    this.conn.start();
    void this.search.start();
    void this.uploads.resume().catch((err: unknown) => console.warn("talkee: uploads not resumed", err));
    void this.blocks.load().catch((err: unknown) => console.warn("talkee: block list not loaded", err));
    try {
      await this.chats.refreshAll();
      this.membership.resumePending();
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
    }
  }

  stop(): void {
    this.stopped = true;
    this.calls.stop();
    this.conn.stop();
    this.uploads.stop();
    this.search.stop();
    for (const t of this.timers) window.clearInterval(t);
    this.timers = [];
  }

  // ---- the session (./access) -------------------------------------------------------

  /** Set when the server ended this device's session and signing in again was refused. */
  get accessProblem(): AccessProblem | null {
    return this.reauth.problem;
  }

  /** The token died (socket closed 4001/4003, or 401): sign this device in again. */
  recoverAuth(): Promise<void> {
    return this.reauth.recover();
  }

  /** The person typed their password after a sign-out or a password change elsewhere. */
  signInAgain(password: string): Promise<void> {
    return this.reauth.signInAgain(password);
  }

  /** The person's "Try again". */
  retryAuth(): Promise<void> {
    return this.reauth.retry();
  }

  // ---- chats and members (./chats, ./membership) -------------------------------------

  chatTitle(chat: ChatRecord): string {
    return this.chats.title(chat);
  }

  preview(chat: ChatRecord): string {
    return this.chats.preview(chat);
  }

  /** A person's display name from their profile, else their address (`bob`, `bob@elsewhere`). */
  nameOf(user: string): string {
    return this.chats.personName(user);
  }

  /** Renames a group or channel (owners, admins); every member sees "… renamed the group to …". */
  renameGroup(chatId: string, name: string): Promise<void> {
    return this.chats.rename(chatId, name, (id, notice) => this.send(id, "", { notice }));
  }
  /** A group's picture (null: none), sealed with its name; every member sees who changed it. */
  setGroupPicture = (chatId: string, picture: string | null): Promise<void> => this.chats.setPicture(chatId, picture, (id, notice) => this.send(id, "", { notice }));

  startDirect(username: string): Promise<string> {
    return this.membership.startDirect(username);
  }

  createGroup(kind: "group" | "channel", name: string, members: string[]): Promise<string> {
    return this.membership.createGroup(kind, name, members);
  }

  addMember(chatId: string, username: string, role: string): Promise<void> {
    return this.membership.addMember(chatId, username, role);
  }

  removeMember(chatId: string, user: string): Promise<void> {
    return this.membership.removeMember(chatId, user);
  }

  setRole(chatId: string, user: string, role: string): Promise<void> {
    return this.chats.setRole(chatId, user, role);
  }

  /**
   * The chat's self-destruct default (null: off): messages sent from now on expire for
   * everyone. Either person in a direct chat; owners and admins in groups and channels.
   */
  async setChatTimer(chatId: string, ttlSeconds: number | null): Promise<void> {
    await this.chats.setTimer(chatId, ttlSeconds);
    // Who set it, for everyone in the chat, end to end (queued like a message).
    await this.send(chatId, "", { notice: { timer: ttlSeconds } });
  }

  setFavourite(chatId: string, favourite: boolean): Promise<void> {
    return this.chats.setFavourite(chatId, favourite);
  }

  // ---- sending and changing messages (./outbox, ./edits) -----------------------------

  /** Refused with `SendHeldError` in a verified chat whose other person's key changed (until `acknowledge`). */
  async send(chatId: string, text: string, options: SendOptions = {}): Promise<void> {
    const chat = this.store.chats.get(chatId);
    const prompt = chat === undefined ? null : sendGate(chat, this.domain);
    if (prompt !== null) throw new SendHeldError(prompt);
    await this.outbox.queue(chatId, text, options);
    // Sending counts towards the rotation policy's message count: a self-update owed now goes after it.
    void this.rotate([chatId]);
  }

  /** Scheduled self-updates owed in these chats (all by default), by the page's clock. */
  private async rotate(chatIds?: string[]): Promise<void> {
    try {
      await this.mls.setClock(Date.now());
      await this.membership.rotateDue(chatIds);
    } catch (err) {
      console.warn("talkee: rotation check failed", err);
    }
  }

  /** What to ask before sending in this chat (null: nothing). */
  sendPrompt(chatId: string): string | null {
    const chat = this.store.chats.get(chatId);
    return chat === undefined ? null : sendGate(chat, this.domain);
  }

  /** "Send anyway": the other person's new identity key is accepted and the chat's sends go. */
  acknowledgeKeyChange(chatId: string): Promise<void> {
    return this.contacts.acknowledge(chatId);
  }

  /** Looks at the other members' identity keys and devices now (see ./contacts). */
  checkContacts(chatId: string): void {
    const chat = this.store.chats.get(chatId);
    for (const m of chat?.members ?? []) {
      if (m.user !== this.user) void this.contacts.check(m.user).catch((err: unknown) => console.warn("talkee: contact not checked", m.user, err));
    }
    // Our own key log too: every identity key in it must be ours (./keylog).
    void this.contacts.check(this.user).catch((err: unknown) => console.warn("talkee: own key log not checked", err));
  }

  /** A member's certified devices' created times (Unix seconds), as the server lists them now. */
  async certifiedDevicesOf(user: string): Promise<number[]> {
    return Object.values(await certifiedDevices(user, await this.api.certificatesOf(user)));
  }

  get queued(): number {
    return this.outbox.size;
  }

  /** The last send attempt could not reach the server (the outbox is waiting). */
  get stalled(): boolean {
    return this.outbox.stalled;
  }

  edit(chatId: string, message: LocalMessage, text: string): Promise<void> {
    return this.edits.edit(chatId, message, text);
  }

  remove(chatId: string, message: LocalMessage): Promise<void> {
    return this.edits.remove(chatId, message);
  }

  burn(chatId: string, message: LocalMessage): Promise<void> {
    return this.edits.burn(chatId, message);
  }

  react(chatId: string, message: LocalMessage, emoji: string): Promise<void> {
    return this.edits.react(chatId, message, emoji);
  }

  /**
   * Cleans a picture (./images: no EXIF/GPS, scaled, a thumbnail), encrypts and uploads it
   * in chunks, then sends the message with its key, name and type (./uploads: survives a
   * reload or a dropped link). Progress comes as "uploads" changes.
   */
  sendFile(chatId: string, file: File, caption: string): Promise<void> {
    return this.uploads.start(chatId, file, caption, prepareMedia);
  }

  /** A recorded voice message: an encrypted file like any other, its duration and waveform inside the payload. */
  sendVoice(chatId: string, recording: Blob, note: VoiceNote): Promise<void> {
    return this.uploads.start(chatId, voiceFile(recording), "", undefined, note);
  }

  /** Downloads and decrypts a file (./uploads); `progress`: 0…1 of the download. */
  openFile(ref: FileReference, progress?: (fraction: number) => void): Promise<Blob> {
    return this.uploads.open(ref, progress);
  }

  // ---- reading ----------------------------------------------------------------------

  /** Opening a chat: unread back to zero and a read receipt for what is shown. */
  async open(chatId: string | null): Promise<void> {
    this.activeChat = chatId;
    if (chatId === null) return;
    const chat = this.store.chats.get(chatId);
    if (chat !== undefined && (chat.unread > 0 || (chat.unreadMentions ?? 0) > 0)) {
      chat.unread = 0;
      chat.unreadMentions = 0;
      await this.store.saveChats();
      this.emit("chats");
    }
    this.receipts.schedule(chatId);
    this.checkContacts(chatId);
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
      if (cached !== undefined && (cached["receipt"] ?? cached["profile_key"] ?? cached["keylog_heads"]) !== undefined) continue;
      this.store.insert(chatId, cached !== undefined ? messageFromPayload(m, cached, this.user) : unavailableMessage(m));
      added++;
    }
    if (added > 0) {
      await this.store.saveMessages(chatId);
      this.emit("messages", chatId);
    }
    return added;
  }

  // ---- signals (./signals) -------------------------------------------------------------

  get presence(): Map<string, Presence> {
    return this.signals.presence;
  }

  typingIn(chatId: string): void {
    this.conn.signal({ type: "typing", chat_id: chatId });
  }

  typingUsers(chatId: string): string[] {
    return this.signals.typingUsers(chatId);
  }

  // ---- devices (./devices) -------------------------------------------------------------

  ownDevices(fresh = false): Promise<DeviceInfo[]> {
    return this.devices.own(fresh);
  }

  revokeDevice(deviceId: number): Promise<void> {
    return this.devices.revoke(deviceId);
  }

  /** Approves another of our devices (after the person compared its approval code). */
  approveDevice(deviceId: number): Promise<void> {
    return this.devices.approve(deviceId);
  }
}
