// Signals: the socket's unstored frames — typing, presence and call signalling — routed
// to what keeps them. Call signals go to the call manager only for the chat they name;
// our own typing is never shown back to us.
import type { Signal } from "../transport/connection";
import { nextPresence, type Presence } from "./format";

/** How long a "typing" lasts without another one. */
export const TYPING_MS = 5000;

export interface SignalsDeps {
  readonly user: string;
  /** The call manager's entry point (sealed signalling for one chat). */
  onCall(chatId: string, payload: string): void;
  /** The server refused our call signal in this chat (the other person blocked us). */
  onCallRefused?(chatId: string): void;
  changed(kind: "typing" | "presence", chatId?: string): void;
  now?: () => number;
}

export class Signals {
  /** Per chat: who is typing, until when (ms). */
  readonly typing = new Map<string, Map<string, number>>();
  readonly presence = new Map<string, Presence>();

  constructor(private readonly deps: SignalsDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  route(signal: Signal): void {
    if (signal.type === "typing" && typeof signal["chat_id"] === "string" && typeof signal["user"] === "string") {
      if (signal["user"] === this.deps.user) return;
      const chatId = signal["chat_id"];
      const chatTyping = this.typing.get(chatId) ?? new Map<string, number>();
      chatTyping.set(signal["user"], this.now() + TYPING_MS);
      this.typing.set(chatId, chatTyping);
      this.deps.changed("typing", chatId);
      globalThis.setTimeout(() => this.deps.changed("typing", chatId), TYPING_MS + 100);
      return;
    }
    if (signal.type === "presence" && typeof signal["user"] === "string") {
      this.presence.set(signal["user"], nextPresence(this.presence.get(signal["user"]), String(signal["state"]), signal["last_seen"], this.now()));
      this.deps.changed("presence");
      return;
    }
    if (signal.type === "call" && typeof signal["chat_id"] === "string" && typeof signal["payload"] === "string") {
      this.deps.onCall(signal["chat_id"], signal["payload"]);
      return;
    }
    if (signal.type === "error" && signal["code"] === "not_accepted" && typeof signal["chat_id"] === "string") {
      this.deps.onCallRefused?.(signal["chat_id"]);
      return;
    }
    if (signal.type === "error") console.warn("talkee: server said", signal["code"], signal["message"]);
  }

  /** They sent a message: no longer typing. */
  stoppedTyping(chatId: string, user: string): void {
    this.typing.get(chatId)?.delete(user);
  }

  typingUsers(chatId: string): string[] {
    const now = this.now();
    return [...(this.typing.get(chatId) ?? new Map<string, number>()).entries()].filter(([, until]) => until > now).map(([u]) => u);
  }
}
