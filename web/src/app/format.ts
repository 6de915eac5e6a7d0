// Pure helpers the app layer and the UI share: names, previews, notices, presence text.
// No state, no I/O.
import type { FileReference } from "../crypto/payload";
import { formatClock, formatDate, t } from "../i18n/index";
import type { ChatNotice, LocalMessage } from "./store";
import { formatVoiceDuration, readVoiceNote } from "./voice";

export function userOf(credential: string): string {
  return credential.split(":")[0] ?? credential;
}

export function domainOf(user: string): string {
  return user.split("@")[1] ?? "";
}

export function displayName(user: string, domain: string): string {
  const [local, host] = user.split("@");
  return host === domain || host === undefined ? (local ?? user) : user;
}

/** The server's upper bound for a chat's self-destruct timer (apps/chats TTL_MAX_SECONDS). */
const MAX_TIMER_SECONDS = 365 * 86400;

/** Longest group name kept (characters). */
export const MAX_GROUP_NAME = 120;

/** A group name as it is set and shown: one line, no control or direction-override characters, bounded. */
export function cleanGroupName(name: string): string {
  const cleaned = name.normalize("NFC").replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, "").replace(/\s+/gu, " ").trim();
  return [...cleaned].slice(0, MAX_GROUP_NAME).join("");
}

/** A notice as a member's client sent it, checked (anything else is not a notice). */
export function chatNotice(value: unknown): ChatNotice | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const renamed = (value as Record<string, unknown>)["renamed"];
  if (typeof renamed === "string") {
    const name = cleanGroupName(renamed);
    return name === "" ? undefined : { renamed: name };
  }
  const picture = (value as Record<string, unknown>)["picture"];
  if (picture === "set" || picture === "removed") return { picture };
  const timer = (value as Record<string, unknown>)["timer"];
  if (timer === null) return { timer: null };
  return typeof timer === "number" && Number.isInteger(timer) && timer > 0 && timer <= MAX_TIMER_SECONDS ? { timer } : undefined;
}

/** What the chat list shows for a chat's latest message. */
export function previewOf(m: Pick<LocalMessage, "text" | "file" | "notice">): string {
  if (m.notice !== undefined) return noticeText(m.notice);
  return m.text || (m.file ? fileLabel(m.file) : "");
}

/** How a file reads in a preview: "Voice message (0:02)" or "File: name.pdf". */
export function fileLabel(file: FileReference): string {
  const voice = readVoiceNote(file.voice);
  return voice !== null ? t("format.voice", { duration: formatVoiceDuration(voice.duration_ms) }) : t("format.file", { name: file.name });
}

/** What a notice says happened, without who: the chat list's line, and the timeline's after the name. */
export function noticeText(notice: ChatNotice): string {
  if ("renamed" in notice) return t("format.renamed", { name: notice.renamed });
  if ("picture" in notice) return notice.picture === "set" ? t("format.pictureSet") : t("format.pictureRemoved");
  return notice.timer === null ? t("format.timerOff") : t("format.timer", { duration: formatSeconds(notice.timer) });
}

/** 3600 → "1 hour", 90 → "90 s": the largest whole unit. */
export function formatSeconds(seconds: number): string {
  const units = [[604800, "format.weeks"], [86400, "format.days"], [3600, "format.hours"], [60, "format.minutes"], [1, "format.seconds"]] as const;
  const [size, key] = units.find(([n]) => seconds % n === 0 && seconds >= n) ?? [1, "format.seconds"];
  return t(key, { count: seconds / size });
}

/**
 * Someone's presence as this device knows it. The server says only the hour of a "last
 * seen" (it keeps nothing finer); when this device saw them go from online to away or
 * offline itself, it knows the minute (`exact`).
 */
export interface Presence {
  state: string;
  lastSeen: string | null;
  exact?: boolean;
}

export function nextPresence(before: Presence | undefined, state: string, serverLastSeen: unknown, now: number): Presence {
  if (state === "online") return { state, lastSeen: null };
  if (before?.state === "online") return { state, lastSeen: new Date(now).toISOString(), exact: true };
  if (before?.exact === true && before.lastSeen !== null) return { state, lastSeen: before.lastSeen, exact: true };
  return { state, lastSeen: typeof serverLastSeen === "string" ? serverLastSeen : null };
}

/** "last seen …" for a presence that is not online. */
export function lastSeenText(p: Presence, now: number): string {
  if (p.lastSeen === null) return p.state === "away" ? t("format.away") : t("format.offline");
  const at = Date.parse(p.lastSeen);
  if (Number.isNaN(at)) return t("format.offline");
  const day = new Date(at).toDateString() === new Date(now).toDateString() ? "" : `${formatDate(at)} `;
  if (p.exact === true) return t("format.lastSeen", { day, time: formatClock(at) });
  // The hour only: within the current hour is "recently", else the hour it began.
  if (now - at < 3600_000) return t("format.lastSeenRecently");
  return t("format.lastSeenAround", { day, time: formatClock(at, { hour: "numeric" }) });
}

/** Calendar days from `at` to `now`, in this browser's time zone (0: the same day). */
function daysBetween(at: number, now: number): number {
  const start = (ms: number): number => {
    const d = new Date(ms);
    return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  };
  return Math.round((start(now) - start(at)) / 86400_000);
}

/**
 * When one of our devices was last active, for Settings → Your devices. The server keeps
 * only the hour (`last_seen`), so this says the day, never a clock time: "active now"
 * (this device), "active today", "active yesterday", "active 3 days ago", then the date.
 */
export function deviceActivity(lastSeen: string, now: number, current: boolean): string {
  if (current) return t("format.activeNow");
  const at = Date.parse(lastSeen);
  if (Number.isNaN(at)) return t("format.activityUnknown");
  const days = Math.max(0, daysBetween(at, now));
  if (days === 0) return t("format.activeToday");
  if (days === 1) return t("format.activeYesterday");
  if (days < 30) return t("format.activeDaysAgo", { count: days });
  return t("format.activeOn", { date: formatDate(at, { day: "numeric", month: "short", year: "numeric" }) });
}

/** When a device was added: "added today", else the date (no clock time, as for activity). */
export function deviceAdded(created: string, now: number): string {
  const at = Date.parse(created);
  if (Number.isNaN(at)) return "";
  if (daysBetween(at, now) === 0) return t("format.addedToday");
  return t("format.added", { date: formatDate(at, { day: "numeric", month: "short", year: "numeric" }) });
}
