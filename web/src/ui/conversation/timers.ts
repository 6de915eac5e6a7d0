// The self-destruct choices the conversation offers, and how a duration reads.
import { formatSeconds } from "../../app/format";
import { t } from "../../i18n/index";

/** Choices for a chat's self-destruct default (seconds; null = off). */
export const CHAT_TIMERS: (number | null)[] = [null, 10, 60, 3600, 86400, 604800];

/** How a choice reads: "off", "10 s", "1 hour" (in the interface's language). */
export function timerLabel(seconds: number | null): string {
  return seconds === null ? t("timers.off") : formatSeconds(seconds);
}

export function formatDuration(seconds: number): string {
  return formatSeconds(seconds);
}

/** The composer's default choice: none, or the chat's own timer. */
export function defaultTimerLabel(ttlSeconds: number | null): string {
  return ttlSeconds === null ? t("timers.none") : t("timers.chat", { duration: formatDuration(ttlSeconds) });
}
