// Where "New messages" goes in a conversation: the unread count is this client's own
// (./inbound counts others' messages that arrive while the chat is not on screen), so
// the first unread message is that many of those messages back from the end.
import type { LocalMessage } from "./store";

/** A message that counts as unread when it arrives (not ours, not a notice or a local line). */
export function countsAsUnread(m: LocalMessage): boolean {
  return !m.mine && m.notice === undefined && m.local === undefined && !m.unavailable;
}

/** The key of the first of the last `unread` counting messages (null: nothing unread). */
export function firstUnreadKey(messages: readonly LocalMessage[], unread: number): string | null {
  if (unread <= 0) return null;
  let seen = 0;
  let first: string | null = null;
  for (let i = messages.length - 1; i >= 0 && seen < unread; i--) {
    const m = messages[i]!;
    if (!countsAsUnread(m)) continue;
    seen++;
    first = m.key;
  }
  return first;
}
