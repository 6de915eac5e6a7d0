// Delivery and read receipts: ours go out as encrypted control messages (at most one per
// chat per 400 ms, only when they move forward: read covers delivered); theirs move our
// messages' ticks forward, never back, never over a failed one. Our other devices read
// ours too: what one of them read is no longer unread on this one.
import type { MessagePayload } from "../crypto/payload";
import type { OutgoingPayload } from "../mls/api";
import type { AppContext } from "./context";
import { userOf } from "./format";
import { STATUS_RANK } from "./outbox";
import { countsAsUnread } from "./unread";

export const RECEIPT_DELAY_MS = 400;

export interface ReceiptsDeps {
  readonly ctx: Pick<AppContext, "store" | "user" | "emit">;
  sendControl(chatId: string, payload: OutgoingPayload): Promise<unknown>;
  /** The person is looking at this chat now (a receipt says "read", else "delivered"). */
  reading(chatId: string): boolean;
}

export class Receipts {
  private timers = new Map<string, ReturnType<typeof setTimeout>>();
  private sent = new Map<string, { delivered: number; read: number }>();

  constructor(private readonly deps: ReceiptsDeps) {}

  schedule(chatId: string): void {
    if (this.timers.has(chatId)) return;
    this.timers.set(
      chatId,
      globalThis.setTimeout(() => {
        this.timers.delete(chatId);
        void this.sendNow(chatId).catch((err: unknown) => console.warn("talkee: receipt not sent", err));
      }, RECEIPT_DELAY_MS),
    );
  }

  /** Sends a receipt up to the newest message of others this device holds, if it says more than the last. */
  async sendNow(chatId: string): Promise<void> {
    const others = this.deps.ctx.store.messagesOf(chatId).filter((m) => !m.mine && m.seq !== null && !m.unavailable);
    if (others.length === 0) return;
    const upto = Math.max(...others.map((m) => m.seq!));
    const sent = this.sent.get(chatId) ?? { delivered: 0, read: 0 };
    const kind = this.deps.reading(chatId) ? "read" : "delivered";
    if (sent[kind] >= upto || (kind === "delivered" && sent.read >= upto)) return;
    sent[kind] = upto;
    if (kind === "read") sent.delivered = Math.max(sent.delivered, upto);
    this.sent.set(chatId, sent);
    await this.deps.sendControl(chatId, { text: "", receipt: kind, upto });
  }

  /** Another device of ours read the chat up to `upto`: what it read is not unread here either
   * (the count keeps only later messages), and this device need not say "read" for it again. */
  private async readOnAnotherDevice(chatId: string, upto: number): Promise<void> {
    const { store } = this.deps.ctx;
    const sent = this.sent.get(chatId) ?? { delivered: 0, read: 0 };
    this.sent.set(chatId, { delivered: Math.max(sent.delivered, upto), read: Math.max(sent.read, upto) });
    const chat = store.chats.get(chatId);
    if (chat === undefined || chat.unread === 0) return;
    const left = store.messagesOf(chatId).filter((m) => countsAsUnread(m) && m.seq !== null && m.seq > upto).length;
    if (left >= chat.unread) return;
    chat.unread = left;
    if (left === 0) chat.unreadMentions = 0;
    await store.saveChats();
    this.deps.ctx.emit("chats");
  }

  /** Someone's receipt (decrypted): our messages up to `upto` are delivered or read. */
  async onReceipt(chatId: string, payload: MessagePayload): Promise<void> {
    const { store, user } = this.deps.ctx;
    const kind = payload["receipt"] === "read" ? "read" : "delivered";
    const upto = Number(payload["upto"]);
    if (userOf(payload.sender) === user) {
      if (kind === "read") await this.readOnAnotherDevice(chatId, upto);
      return;
    }
    let changed = false;
    for (const m of store.messagesOf(chatId)) {
      if (m.mine && m.seq !== null && m.seq <= upto && STATUS_RANK[m.status] < STATUS_RANK[kind] && m.status !== "failed") {
        m.status = kind;
        changed = true;
      }
    }
    if (changed) {
      await store.saveMessages(chatId);
      this.deps.ctx.emit("messages", chatId);
    }
  }
}
