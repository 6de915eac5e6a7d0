// Message changes asked for in a chat homed on another instance (edit, delete, burn,
// react, unreact): our instance answers 202 `forwarded`, the home applies the change and
// sends the result back as a normal frame — or refuses it (`change_rejected`: the action
// and seq, no actor). Until then the change shows here at once and what it replaced is kept
// on the message (sealed in the vault with it), to be put back if the home refuses.
import type { LocalMessage, PendingChange, ReactionRecord } from "./store";

export type ChangeAction = PendingChange["action"] | "react";

/** A reaction of ours queued for the chat's home instance, until its frame names its id. */
export const PENDING_REACTION = 0;

/** Remembers a forwarded change (with what it replaced) on the message. */
export function markPending(message: LocalMessage, change: PendingChange): void {
  message.pending = [...(message.pending ?? []), change];
}

/** The oldest pending change of `action` (matching `test`), taken off the message. */
export function settle(message: LocalMessage, action: ChangeAction, test: (c: PendingChange) => boolean = () => true): PendingChange | undefined {
  const list = message.pending ?? [];
  const index = list.findIndex((c) => c.action === action && test(c));
  if (index < 0) return undefined;
  const [change] = list.splice(index, 1);
  if (list.length === 0) delete message.pending;
  return change;
}

/**
 * The message a `change_rejected` is about: the one at `seq` with a pending change of that
 * action (a reaction removal also names the reaction; from an instance that did not, only
 * the first message with one pending). Only the
 * device that asked holds one; other devices of the chat's local members find nothing.
 */
export function rejectedMessage(messages: LocalMessage[], action: string, seq: number, reactionId?: number): LocalMessage | undefined {
  const waiting = (m: LocalMessage): boolean =>
    (m.pending ?? []).some((c) => c.action === action && (reactionId === undefined || c.reaction?.id === reactionId)) ||
    (action === "react" && (m.reactions ?? []).some((r) => r.id === PENDING_REACTION && r.removeSecret !== undefined));
  if (action === "unreact" && reactionId === undefined) return messages.find(waiting);
  return messages.find((m) => m.seq === seq && waiting(m));
}

/**
 * Puts the message back as it was before the refused change; true when something changed
 * here. An edit gets its old text back, a deletion its text and reactions (unless the
 * message is gone meanwhile for another reason), a reaction goes, a removed one returns.
 */
export function undoChange(message: LocalMessage, action: string, reactionId?: number): boolean {
  if (action === "react") {
    const ours = (message.reactions ?? []).findIndex((r) => r.id === PENDING_REACTION && r.removeSecret !== undefined);
    if (ours < 0) return false;
    message.reactions = (message.reactions ?? []).filter((_, i) => i !== ours);
    return true;
  }
  if (action !== "edit" && action !== "delete" && action !== "burn" && action !== "unreact") return false;
  const change = settle(message, action, (c) => reactionId === undefined || c.reaction?.id === reactionId);
  if (change === undefined) return false;
  if (change.action === "edit" && !message.deleted) {
    message.text = change.text ?? message.text;
    message.edited = change.edited ?? false;
  } else if (change.action === "delete" && !message.expired) {
    message.deleted = false;
    message.text = change.text ?? "";
    message.reactions = change.reactions ?? [];
  } else if (change.action === "unreact" && change.reaction !== undefined && !message.deleted) {
    const back: ReactionRecord = change.reaction;
    if (!(message.reactions ?? []).some((r) => r.id === back.id)) message.reactions = [...(message.reactions ?? []), back];
  }
  return true;
}

/** The message is gone for everyone: what pending changes kept of it goes too. */
export function dropKeptTexts(message: LocalMessage): void {
  for (const change of message.pending ?? []) {
    delete change.text;
    delete change.reactions;
  }
}

const WHAT: Record<ChangeAction, string> = {
  edit: "your edit",
  delete: "the deletion",
  burn: "burning this message",
  react: "your reaction",
  unreact: "removing your reaction",
};

const AFTER: Record<ChangeAction, string> = {
  edit: "The message shows its earlier text again.",
  delete: "The message is back.",
  burn: "It may still be there for the others.",
  react: "Your reaction was taken off.",
  unreact: "Your reaction is back.",
};

/** What the person is told, on the message and in the conversation. */
export function rejectionText(action: string, reason: string): string {
  const what = WHAT[action as ChangeAction] ?? "this change";
  const why = reason.trim() === "" ? "" : `: ${reason.trim().replace(/\.?$/, ".")}`;
  const undone = AFTER[action as ChangeAction] ?? "";
  return `The chat's home server refused ${what}${why === "" ? "." : why} ${undone}`.trimEnd();
}
