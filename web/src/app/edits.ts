// Changes to messages already sent: edits, deletions, burn-after-reading, reactions, and
// the self-destruct timer's expiry. In a chat homed on another instance the server
// answers 202 and the change is kept pending on the message (./changes) until the home's
// frame settles it or its refusal undoes it. Edits and new reactions are sealed in the
// current epoch, so they wait (are refused) while one of our commits is pending there.
import type { Remote } from "comlink";
import { ApiError, type Api } from "../api/client";
import { editHash, newEditSecret } from "../crypto/blake3";
import { sealWithKey } from "../crypto/derivedKeys";
import { toBase64, utf8 } from "../crypto/encoding";
import type { MlsWorkerApi, OutgoingPayload } from "../mls/api";
import { PENDING_REACTION, markPending } from "./changes";
import type { AppContext } from "./context";
import { mentionsIn } from "./mentions";
import type { LocalMessage } from "./store";

export const REACTION_CONTEXT = "talkee-reaction-v1";

export interface EditsDeps {
  readonly ctx: Pick<AppContext, "store" | "user" | "domain" | "lock" | "ownCiphertexts" | "emit"> & {
    readonly api: Pick<Api, "editMessage" | "deleteMessage" | "burn" | "react" | "unreact">;
    readonly mls: Pick<Remote<MlsWorkerApi>, "encrypt" | "chatKeys" | "forgetMessage">;
  };
  /** Throws while one of our commits in the chat awaits its home (Membership.checkEpochSettled). */
  checkEpochSettled(chatId: string): void;
}

export class Edits {
  constructor(private readonly deps: EditsDeps) {}

  private get ctx(): EditsDeps["ctx"] {
    return this.deps.ctx;
  }

  edit(chatId: string, message: LocalMessage, text: string): Promise<void> {
    return this.ctx.lock.run(() => this.editLocked(chatId, message, text));
  }

  private async editLocked(chatId: string, message: LocalMessage, text: string): Promise<void> {
    if (message.id === null || message.editSecret === undefined) return;
    this.deps.checkEpochSettled(chatId);
    const payload: OutgoingPayload = { text, edit_of: String(message.id) };
    if (message.replyTo !== undefined) payload.reply_to = message.replyTo;
    // The edited text's mentions replace the old ones (groups only, as when writing).
    const chat = this.ctx.store.chats.get(chatId);
    const others = chat === undefined || chat.kind === "direct" ? [] : chat.members.map((m) => m.user).filter((u) => u !== this.ctx.user);
    const mentions = mentionsIn(text, others, this.ctx.domain);
    if (mentions.length > 0) payload.mentions = mentions;
    const enc = await this.ctx.mls.encrypt(chatId, payload);
    const ciphertext = toBase64(enc.ciphertext);
    this.ctx.ownCiphertexts.add(ciphertext);
    const answer = await this.ctx.api.editMessage(message.id, message.editSecret, ciphertext);
    // Forwarded to the chat's home (202): shown edited now; its changed frame carries our
    // ciphertext (which we, its sender, cannot decrypt); a refusal puts the old text back.
    if (answer.forwarded === true) markPending(message, { action: "edit", text: message.text, edited: message.edited ?? false, ciphertext });
    message.text = text;
    message.edited = true;
    if (mentions.length > 0) message.mentions = mentions;
    else delete message.mentions;
    delete message.changeError;
    await this.ctx.store.saveMessages(chatId);
    this.ctx.emit("messages", chatId);
  }

  remove(chatId: string, message: LocalMessage): Promise<void> {
    return this.ctx.lock.run(() => this.removeLocked(chatId, message));
  }

  private async removeLocked(chatId: string, message: LocalMessage): Promise<void> {
    if (message.id === null || message.deleted) return;
    const answer = await this.ctx.api.deleteMessage(message.id, message.mine ? (message.editSecret ?? null) : null);
    // Forwarded (202): gone here now; kept aside until the home's deleted frame, to come back if it refuses.
    if (answer.forwarded === true) markPending(message, { action: "delete", text: message.text, reactions: message.reactions ?? [] });
    delete message.changeError;
    this.tombstone(message, chatId);
    await this.ctx.store.saveMessages(chatId);
    this.ctx.emit("messages", chatId);
  }

  /** Gone (deleted, expired, burnt): the text leaves this device too, with the worker's cached copy. */
  tombstone(message: LocalMessage, chatId: string): void {
    message.deleted = true;
    message.text = "";
    message.reactions = [];
    if (message.id !== null) {
      void this.ctx.mls.forgetMessage(chatId, String(message.id)).catch((err: unknown) => console.warn("talkee: cached copy not dropped", err));
    }
  }

  async burn(chatId: string, message: LocalMessage): Promise<void> {
    message.revealed = true;
    this.ctx.emit("messages", chatId);
    if (message.id !== null) {
      try {
        const answer = await this.ctx.api.burn(message.id);
        if (answer.forwarded === true) {
          markPending(message, { action: "burn" });
          await this.ctx.store.saveMessages(chatId);
        }
      } catch {
        /* already gone */
      }
    }
  }

  react(chatId: string, message: LocalMessage, emoji: string): Promise<void> {
    return this.ctx.lock.run(() => this.reactLocked(chatId, message, emoji));
  }

  private async reactLocked(chatId: string, message: LocalMessage, emoji: string): Promise<void> {
    if (message.id === null || message.deleted) return;
    const { api, mls, user } = this.ctx;
    const ours = (message.reactions ?? []).filter((r) => r.user === user && r.emoji === emoji && r.removeSecret !== undefined);
    if (ours.some((r) => r.id === PENDING_REACTION)) {
      throw new ApiError(409, "reaction_pending", "Your reaction is still on its way to the chat's home server. Try again in a moment.");
    }
    const mine = ours[0];
    if (mine === undefined) this.deps.checkEpochSettled(chatId);
    if (mine !== undefined) {
      const answer = await api.unreact(mine.id, mine.removeSecret!);
      // Forwarded (202): gone here now; back if the home refuses (its frame confirms).
      if (answer?.forwarded === true) markPending(message, { action: "unreact", reaction: mine });
      message.reactions = (message.reactions ?? []).filter((r) => r.id !== mine.id);
    } else {
      const keys = await mls.chatKeys(chatId);
      const sealed = await sealWithKey(keys.reactionKey, utf8(JSON.stringify({ emoji, user })), REACTION_CONTEXT);
      const epoch = new Uint8Array(4);
      new DataView(epoch.buffer).setUint32(0, keys.epoch);
      const body = new Uint8Array(4 + sealed.length);
      body.set(epoch);
      body.set(sealed, 4);
      const { secret } = await newEditSecret();
      const sent = await api.react(message.id, toBase64(body), await editHash(secret));
      // id 0: forwarded to the chat's home; its `reaction` frame brings the id (Inbound)
      const id = sent.id ?? PENDING_REACTION;
      message.reactions = (message.reactions ?? []).filter((r) => r.id !== id || id === PENDING_REACTION);
      message.reactions.push({ id, emoji, user, removeSecret: toBase64(secret) });
    }
    delete message.changeError;
    await this.ctx.store.saveMessages(chatId);
    this.ctx.emit("messages", chatId);
  }

  /** Messages whose self-destruct time has come: gone here (the server's purge takes the ciphertext). */
  expire(now: number): void {
    const { store } = this.ctx;
    for (const chat of store.chats.values()) {
      let changed = false;
      for (const m of store.messagesOf(chat.id)) {
        if (!m.deleted && m.expiresAt != null && m.expiresAt <= now) {
          this.tombstone(m, chat.id);
          m.expired = true;
          changed = true;
        }
      }
      if (changed) {
        void store.saveMessages(chat.id);
        this.ctx.emit("messages", chat.id);
      }
    }
  }
}
