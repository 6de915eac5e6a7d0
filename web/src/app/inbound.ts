// Inbound events: every stored frame of the device stream (socket, long-poll or DNS
// tunnel), one at a time under the turn lock, routed to what it concerns — commits to
// membership, device events to devices, our own sends' echoes to the outbox, the home's
// refusals to whoever asked — and application messages decrypted here (never our own
// ciphertexts: MLS senders cannot), then shown, or taken as an edit or a receipt.
import type { Remote } from "comlink";
import type { Frame, WireMessage } from "../api/client";
import { openWithKey } from "../crypto/derivedKeys";
import { fromBase64, fromUtf8 } from "../crypto/encoding";
import type { MessagePayload } from "../crypto/payload";
import type { MlsWorkerApi } from "../mls/api";
import { PENDING_REACTION, dropKeptTexts, rejectedMessage, rejectionText, settle, undoChange } from "./changes";
import { ownMark, type AppContext } from "./context";
import type { Chats } from "./chats";
import type { Devices, DeviceEventFrame } from "./devices";
import { REACTION_CONTEXT, type Edits } from "./edits";
import { chatNotice, previewOf, userOf } from "./format";
import { mentionList, mentionsMe } from "./mentions";
import type { Membership } from "./membership";
import type { Outbox } from "./outbox";
import type { Profiles } from "./profiles";
import type { Receipts } from "./receipts";
import type { ChatRecord, LocalMessage } from "./store";
import { pinWelcomeMembers, withCertifiedLeaves } from "./trust";
import type { LogGossip } from "./logGossip";

/** How long a burnt message we read stays on screen after the server burnt it. */
const BURNT_LINGER_MS = 15000;

/** A message this device cannot read (not decrypted here before): shown as such. */
export function unavailableMessage(m: WireMessage): LocalMessage {
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

/** A decrypted message as this device shows it (`mine`: sent by any of our user's devices). */
export function messageFromPayload(m: WireMessage, payload: MessagePayload, user: string): LocalMessage {
  const local: LocalMessage = {
    key: `m${m.id}`,
    id: m.id,
    seq: m.seq,
    sender: payload.sender,
    text: payload.text,
    at: Date.parse(m.created),
    mine: userOf(payload.sender) === user,
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
  const mentions = mentionList(payload["mentions"]);
  if (mentions !== undefined) local.mentions = mentions;
  const notice = chatNotice(payload["notice"]);
  if (notice !== undefined) local.notice = notice;
  return local;
}

export interface InboundDeps {
  readonly ctx: Pick<AppContext, "store" | "user" | "domain" | "credential" | "ownCiphertexts" | "emit"> & {
    readonly mls: Pick<Remote<MlsWorkerApi>, "decrypt" | "cachedMessage" | "chatKeys" | "joinFromWelcome" | "learnCertificates" | "checkMembers" | "pinnedIdentity">;
    readonly api: Pick<AppContext["api"], "certificatesOf">;
  };
  readonly chats: Pick<Chats, "refresh" | "touch">;
  readonly outbox: Pick<Outbox, "ordered" | "rejected" | "holds">;
  readonly membership: Pick<Membership, "onCommit" | "rejected" | "applyPending">;
  readonly devices: Pick<Devices, "onDeviceEvent" | "importBundle" | "topUpKeyPackages">;
  readonly edits: Pick<Edits, "tombstone">;
  readonly receipts: Pick<Receipts, "schedule" | "onReceipt">;
  /** Members' profile keys in, ours out to whoever a commit or a Welcome brought. */
  readonly profiles: Pick<Profiles, "onShare" | "membersChanged">;
  /** Key-log heads other members' devices tell the chat (./logGossip). */
  readonly gossip?: Pick<LogGossip, "onHeads">;
  /** They sent a message: no longer typing. */
  stoppedTyping(chatId: string, user: string): void;
  /** The chat the person has open (its new messages are not unread). */
  activeChat(): string | null;
  /** A user this one blocked (./blocks): their messages are kept, not counted or previewed. */
  blocked?(user: string): boolean;
}

export class Inbound {
  constructor(private readonly deps: InboundDeps) {}

  private get ctx(): InboundDeps["ctx"] {
    return this.deps.ctx;
  }

  /** One stored frame; the caller holds the turn lock and moves the cursor afterwards. */
  async onFrame(frame: Frame): Promise<void> {
    if (frame.type === "device_event") return this.onDeviceEvent(frame);
    if (frame.type === "reaction") return this.onReaction(frame);
    const { store } = this.ctx;
    const m = frame.message;
    const chat = store.chats.get(m.chat_id);
    if (chat === undefined || !chat.joined) {
      // A chat we learn about now (or whose Welcome has not come yet): nothing to decrypt.
      if (chat === undefined) await this.deps.chats.refresh(m.chat_id).catch(() => undefined);
      // The echo of our own first commit may come before the chat is recorded as joined.
      if (m.kind === "commit") this.deps.profiles.membersChanged();
      return;
    }
    if (m.kind === "commit") {
      await this.deps.membership.onCommit(chat, m);
      this.deps.profiles.membersChanged();
      return;
    }
    if (m.kind !== "application") return;
    const existing = store.findById(m.chat_id, m.id);
    if (m.deleted) return this.onDeleted(m, existing);
    if (m.ciphertext === null) return;
    if (await this.deps.outbox.ordered(m)) return; // one of our forwarded sends, ordered by the home
    if (existing !== undefined && settle(existing, "edit", (c) => c.ciphertext === m.ciphertext) !== undefined) {
      // The home applied our forwarded edit: its text is already shown (we cannot decrypt our own ciphertext).
      this.ctx.ownCiphertexts.delete(m.ciphertext);
      existing.edited = true;
      await store.saveMessages(m.chat_id);
      this.ctx.emit("messages", m.chat_id);
      return;
    }
    if (this.ctx.ownCiphertexts.has(m.ciphertext)) {
      this.ctx.ownCiphertexts.delete(m.ciphertext);
      return; // ours, already shown (ids arrive with the POST answer)
    }
    if (this.deps.outbox.holds(m.ciphertext)) return;
    // Already have it (an edit of one of this device's own messages is never decryptable here;
    // a sibling device's edit of its message is).
    if (existing !== undefined && ((existing.mine && existing.sender === this.ctx.credential) || m.edited_at === null)) return;
    if (chat.ownControl?.includes(ownMark(m.ciphertext))) return; // one of our receipts, replayed
    let payload: MessagePayload;
    try {
      const result = await this.ctx.mls.decrypt(m.chat_id, fromBase64(m.ciphertext), String(m.id));
      if (result.kind !== "application") return;
      payload = result.payload;
    } catch (err) {
      // Decrypted before, but the tab died before the app stored it: the worker keeps
      // the plaintext in the same vault transaction as the ratchet step (swipe-safe).
      const cached = await this.ctx.mls.cachedMessage(m.chat_id, String(m.id)).catch((e: unknown) => {
        console.warn("talkee: message cache unreadable", m.id, e);
        return undefined;
      });
      if (cached !== undefined) return this.accept(chat, m, cached, existing);
      console.warn("talkee: could not decrypt message", m.id, `seq ${m.seq} epoch ${m.epoch} edited ${m.edited_at !== null}`, err);
      if (existing === undefined) {
        store.insert(m.chat_id, unavailableMessage(m));
        await store.saveMessages(m.chat_id);
        this.ctx.emit("messages", m.chat_id);
      }
      return;
    }
    return this.accept(chat, m, payload, existing);
  }

  /** A deleted (or burnt, or expired) message's frame: the text goes here too. */
  private async onDeleted(m: WireMessage, existing: LocalMessage | undefined): Promise<void> {
    const { store } = this.ctx;
    if (existing !== undefined && (existing.pending ?? []).length > 0) {
      // Our forwarded deletion or burn applied at the home (or it went another way):
      // nothing of the text is kept for an undo any more.
      settle(existing, "delete");
      settle(existing, "burn");
      dropKeptTexts(existing);
      await store.saveMessages(m.chat_id);
    }
    if (existing !== undefined && existing.burn && existing.revealed && !existing.deleted) {
      // Burnt because we read it: leave it on screen a little, then it is gone here too.
      globalThis.setTimeout(() => {
        this.deps.edits.tombstone(existing, m.chat_id);
        void store.saveMessages(m.chat_id).then(() => this.ctx.emit("messages", m.chat_id));
      }, BURNT_LINGER_MS);
      return;
    }
    if (existing !== undefined && !existing.deleted) {
      this.deps.edits.tombstone(existing, m.chat_id);
      await store.saveMessages(m.chat_id);
      this.ctx.emit("messages", m.chat_id);
    }
  }

  /** A decrypted application message: a receipt, an edit, or a new message to show. */
  private async accept(chat: ChatRecord, m: WireMessage, payload: MessagePayload, existing: LocalMessage | undefined): Promise<void> {
    const { store } = this.ctx;
    if (typeof payload["receipt"] === "string") return this.deps.receipts.onReceipt(chat.id, payload);
    if (payload["profile_key"] !== undefined) return this.deps.profiles.onShare(payload);
    if (payload["keylog_heads"] !== undefined) return this.deps.gossip?.onHeads(chat.id, payload);
    if (existing !== undefined) {
      existing.text = payload.text;
      existing.edited = true;
      const mentions = mentionList(payload["mentions"]);
      if (mentions !== undefined) existing.mentions = mentions;
      else delete existing.mentions;
      await store.saveMessages(m.chat_id);
      this.ctx.emit("messages", m.chat_id);
      return;
    }
    const local = messageFromPayload(m, payload, this.ctx.user);
    this.deps.stoppedTyping(m.chat_id, userOf(payload.sender));
    store.insert(m.chat_id, local);
    await store.saveMessages(m.chat_id);
    const blocked = !local.mine && (this.deps.blocked?.(userOf(local.sender)) ?? false);
    const counts = !local.mine && local.notice === undefined && !blocked;
    if (!blocked) this.deps.chats.touch(m.chat_id, previewOf(local), local.at, counts && this.deps.activeChat() !== m.chat_id, mentionsMe(local, this.ctx.user));
    await store.saveChats();
    this.ctx.emit("messages", m.chat_id);
    this.ctx.emit("chats");
    if (counts) this.deps.receipts.schedule(m.chat_id);
  }

  private async onDeviceEvent(frame: DeviceEventFrame): Promise<void> {
    const { store } = this.ctx;
    if (frame.kind === "device") return this.deps.devices.onDeviceEvent(frame.data);
    if (frame.kind === "sync_bundle") return this.deps.devices.importBundle(frame);
    if (frame.kind === "welcome" && frame.payload !== null) {
      try {
        const bytes = fromBase64(frame.payload);
        // A Welcome whose tree holds a leaf without a valid device certificate is refused.
        const group = await withCertifiedLeaves(this.ctx, frame.chat_id, () => this.ctx.mls.joinFromWelcome(bytes));
        if (group === null) {
          void this.deps.devices.topUpKeyPackages(1);
          return;
        }
        await pinWelcomeMembers(this.ctx, group.groupId, group.members);
        const chat = store.chats.get(group.groupId);
        if (chat !== undefined) chat.joined = true;
        await this.deps.chats.refresh(group.groupId).catch(() => undefined);
        const chatAfter = store.chats.get(group.groupId);
        if (chatAfter !== undefined) chatAfter.joined = true;
        await store.saveChats();
        this.ctx.emit("chats");
        this.deps.profiles.membersChanged();
      } catch (err) {
        console.warn("talkee: welcome not for this device", err);
      }
      void this.deps.devices.topUpKeyPackages(1);
      return;
    }
    if (frame.kind === "chat" && frame.chat_id !== null) {
      const change = frame.data?.["change"];
      if (change === "left") {
        const chat = store.chats.get(frame.chat_id);
        if (chat !== undefined) {
          chat.removed = true;
          chat.joined = false; // our group state is stale now; a new Welcome brings us back
          await store.saveChats();
          this.ctx.emit("chats");
        }
        return;
      }
      if (change === "send_rejected" && frame.data !== null) return this.onSendRejected(frame.chat_id, frame.data);
      if (change === "change_rejected" && frame.data !== null) return this.onChangeRejected(frame.chat_id, frame.data);
      await this.deps.chats.refresh(frame.chat_id).catch(() => undefined);
      void this.deps.membership.applyPending(frame.chat_id).catch((err: unknown) => console.warn("talkee: member change not applied to the group", err));
    }
  }

  /** The home refused one of our forwarded sends or commits (by client_message_id). */
  private async onSendRejected(chatId: string, data: Record<string, unknown>): Promise<void> {
    const cmid = data["client_message_id"];
    const error = data["error"] as { code?: unknown; message?: unknown } | undefined;
    const code = typeof error?.code === "string" ? error.code : "";
    const message = typeof error?.message === "string" ? error.message : "";
    if (await this.deps.membership.rejected(chatId, cmid, code, message)) return;
    await this.deps.outbox.rejected(chatId, cmid, code, message);
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
    const message = rejectedMessage(this.ctx.store.messagesOf(chatId), action, seq, reactionId);
    if (message === undefined || !undoChange(message, action, reactionId)) return; // not ours
    const error = data["error"] as { code?: unknown; message?: unknown } | undefined;
    const reason = typeof error?.message === "string" ? error.message : "";
    const text = rejectionText(action, reason);
    message.changeError = text;
    await this.ctx.store.saveMessages(chatId);
    this.ctx.emit("messages", chatId);
    this.ctx.emit("refused", chatId, text);
  }

  private async onReaction(frame: Extract<Frame, { type: "reaction" }>): Promise<void> {
    const r = frame.reaction;
    const message = this.ctx.store.findById(frame.chat_id, r.message_id);
    if (message === undefined) return;
    if (r.deleted || r.ciphertext === null) {
      settle(message, "unreact", (c) => c.reaction?.id === r.id); // ours, forwarded: applied at the home
      message.reactions = (message.reactions ?? []).filter((x) => x.id !== r.id);
    } else {
      if ((message.reactions ?? []).some((x) => x.id === r.id)) return;
      try {
        const bytes = fromBase64(r.ciphertext);
        const epoch = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
        const keys = await this.ctx.mls.chatKeys(frame.chat_id);
        if (keys.epoch !== epoch) return;
        const value = JSON.parse(fromUtf8(await openWithKey(keys.reactionKey, bytes.subarray(4), REACTION_CONTEXT))) as { emoji: string; user: string };
        const pending = (message.reactions ?? []).find((x) => x.id === PENDING_REACTION && x.user === value.user && x.emoji === value.emoji);
        if (pending !== undefined) pending.id = r.id;
        else message.reactions = [...(message.reactions ?? []), { id: r.id, emoji: value.emoji, user: value.user }];
      } catch {
        return;
      }
    }
    await this.ctx.store.saveMessages(frame.chat_id);
    this.ctx.emit("messages", frame.chat_id);
  }
}
