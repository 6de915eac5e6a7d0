// The self-destruct choices the conversation offers, and how a duration reads.
import { formatSeconds } from "../../app/format";

/** Choices for a chat's self-destruct default (seconds; null = off). */
export const CHAT_TIMERS: [number | null, string][] = [
  [null, "off"],
  [10, "10 s"],
  [60, "1 min"],
  [3600, "1 hour"],
  [86400, "1 day"],
  [604800, "1 week"],
];

export function formatDuration(seconds: number): string {
  const known = CHAT_TIMERS.find(([v]) => v === seconds);
  return known !== undefined ? known[1] : formatSeconds(seconds);
}

/** The composer's default choice: none, or the chat's own timer. */
export function defaultTimerLabel(ttlSeconds: number | null): string {
  return ttlSeconds === null ? "No timer" : `Chat timer (${formatDuration(ttlSeconds)})`;
}
