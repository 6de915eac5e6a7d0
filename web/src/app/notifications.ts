// Notifications on this device: turning Web Push on (the browser's permission is asked
// only from a tap), per-chat mutes (the server learns only "this device muted chat C"),
// the app badge, and the tab's side of a push — when this tab is open and unlocked, the
// service worker asks it what to show (src/sw/push-sw.ts): nothing if the chat is on
// screen, else the chat's title and, when the person chose so, the message text.
import type { Api, PushPreferences } from "../api/client";
import type { OpenMessageType, PushMessageType, PushNotice, TabAnswer } from "../sw/notice";
import { t } from "../i18n/index";

const PUSH_MESSAGE: PushMessageType = "talkee-push";
const OPEN_MESSAGE: OpenMessageType = "talkee-open";

export const SHOW_TEXT_KEY = "talkee.notify.showText";
/** "Notify me of mentions in muted chats": on unless turned off ("0"). */
export const MENTIONS_WHEN_MUTED_KEY = "talkee.notify.mentionsWhenMuted";

export type MuteChoice = "1h" | "8h" | "always" | "off";
export type ClickAction = "open" | "answer" | "decline";

export interface NotificationDeps {
  api: Api;
  /** The chat's title and latest preview as this tab shows them, and whether an unread message mentions me (null: unknown chat). */
  describe(chatId: string): { title: string; preview: string; mentioned?: boolean; picture?: string | undefined } | null;
  /** The chat is open and the tab visible: the person sees it already. */
  showing(chatId: string): boolean;
  unreadTotal(): number;
  /** A click on a notification: open the chat (and answer the call), or decline the call. */
  open(chatId: string | null, action: ClickAction): void;
}

/** What this device chose for pushes: message text when unlocked; mentions in muted chats. */
export interface NoticeChoices {
  showText: boolean;
  mentionsWhenMuted: boolean;
  /** This device muted the chat (for now). */
  muted(chatId: string): boolean;
}

/**
 * What an unlocked tab tells the service worker about a push. In a chat this device
 * muted, a message stays quiet unless an unread one mentions me and the person lets
 * mentions through (the tab decides: only it has read the message).
 */
export function answerFor(notice: PushNotice, deps: Pick<NotificationDeps, "describe" | "showing">, choices: NoticeChoices): TabAnswer {
  if (notice.chat !== null && notice.kind === "message" && deps.showing(notice.chat)) return { shown: true };
  const known = notice.chat === null ? null : deps.describe(notice.chat);
  if (known === null) return {};
  // The server's word (a "mention" push) counts too: this tab may not have fetched the message yet.
  const mention = notice.kind === "message" && (known.mentioned === true || notice.mention === true);
  if (notice.kind === "message" && choices.muted(notice.chat!) && !(mention && choices.mentionsWhenMuted)) return { quiet: true };
  const generic = notice.kind === "call" ? t("notify.call") : mention ? t("notify.mention") : t("notify.message");
  return { title: known.title, body: choices.showText && notice.kind === "message" && known.preview ? known.preview : generic };
}

/** A notification that names the chat shows its picture (a direct chat's other person's, a
 * group's own) — drawn from this device's vault, never from the push or the server. */
export function withPicture(answer: TabAnswer, chatId: string | null, deps: Pick<NotificationDeps, "describe">): TabAnswer {
  const picture = answer.title === undefined || chatId === null ? undefined : deps.describe(chatId)?.picture;
  return picture === undefined ? answer : { ...answer, icon: picture };
}

export function muteUntil(choice: Exclude<MuteChoice, "off">, now: number): Date | null {
  if (choice === "always") return null;
  return new Date(now + (choice === "1h" ? 1 : 8) * 3600_000);
}

function urlBase64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const raw = atob(b64);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

export class Notifications {
  private listening = false;
  /** This device's mutes as last set or loaded (the select in the header shows them). */
  private readonly mutes = new Map<string, MuteChoice>();
  /** When each mute ends (ms; Infinity: always). */
  private readonly muteEnds = new Map<string, number>();

  constructor(private readonly deps: NotificationDeps) {}

  get supported(): boolean {
    return typeof window !== "undefined" && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  get permission(): NotificationPermission | "unsupported" {
    return this.supported ? Notification.permission : "unsupported";
  }

  get showText(): boolean {
    return localStorage.getItem(SHOW_TEXT_KEY) === "1";
  }

  set showText(on: boolean) {
    localStorage.setItem(SHOW_TEXT_KEY, on ? "1" : "0");
  }

  /** "Notify me of mentions in muted chats" (on by default): the server's copy decides
   * whether a mention is pushed; this one, whether an unlocked tab shows it. */
  get mentionsWhenMuted(): boolean {
    return localStorage.getItem(MENTIONS_WHEN_MUTED_KEY) !== "0";
  }

  set mentionsWhenMuted(on: boolean) {
    localStorage.setItem(MENTIONS_WHEN_MUTED_KEY, on ? "1" : "0");
  }

  /** This device muted the chat, and the mute has not ended. */
  muted(chatId: string): boolean {
    return (this.muteEnds.get(chatId) ?? 0) > Date.now();
  }

  /** Answer the service worker's questions while this tab is unlocked. */
  listen(): () => void {
    if (!this.supported || this.listening) return () => undefined;
    this.listening = true;
    const onMessage = (ev: MessageEvent<{ type?: string; notice?: PushNotice; action?: string }>): void => {
      const data = ev.data;
      if (data?.type === PUSH_MESSAGE && data.notice !== undefined) {
        const choices: NoticeChoices = { showText: this.showText, mentionsWhenMuted: this.mentionsWhenMuted, muted: (id) => this.muted(id) };
        ev.ports[0]?.postMessage(withPicture(answerFor(data.notice, this.deps, choices), data.notice.chat, this.deps));
      } else if (data?.type === OPEN_MESSAGE && data.notice !== undefined) {
        const action: ClickAction = data.action === "answer" || data.action === "decline" ? data.action : "open";
        this.deps.open(data.notice.chat, action);
      }
    };
    navigator.serviceWorker.addEventListener("message", onMessage);
    return () => {
      navigator.serviceWorker.removeEventListener("message", onMessage);
      this.listening = false;
    };
  }

  /** Turn pushes on for this device. Call only from a tap: it asks for the browser's permission. */
  async enable(): Promise<NotificationPermission> {
    if (!this.supported) throw new Error(t("notify.unsupported"));
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return permission;
    const { public_key } = await this.deps.api.pushKey();
    const registration = await navigator.serviceWorker.ready;
    let subscription = await registration.pushManager.getSubscription();
    if (subscription !== null && !sameKey(subscription, public_key)) {
      await subscription.unsubscribe();
      subscription = null;
    }
    subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(public_key) });
    await this.deps.api.pushSubscribe(subscription.toJSON());
    return permission;
  }

  async disable(): Promise<void> {
    await this.deps.api.pushUnsubscribe();
    const registration = await navigator.serviceWorker.getRegistration();
    await (await registration?.pushManager.getSubscription())?.unsubscribe();
  }

  async mute(chatId: string, choice: MuteChoice): Promise<void> {
    if (choice === "off") await this.deps.api.pushUnmute(chatId);
    else await this.deps.api.pushMute(chatId, muteUntil(choice, Date.now()));
    this.mutes.set(chatId, choice);
    if (choice === "off") this.muteEnds.delete(chatId);
    else this.muteEnds.set(chatId, muteUntil(choice, Date.now())?.getTime() ?? Infinity);
  }

  /** Whether calls ring on this device in chats it muted (stored on the server, per device). */
  /** This device's choices for muted chats, as the server keeps them (it decides whether to push). */
  async preferences(): Promise<PushPreferences> {
    const chosen = await this.deps.api.pushPreferences();
    this.mentionsWhenMuted = chosen.mentions_when_muted;
    return chosen;
  }

  async setPreference(name: keyof PushPreferences, on: boolean): Promise<boolean> {
    const chosen = await this.deps.api.pushSetPreferences({ [name]: on });
    this.mentionsWhenMuted = chosen.mentions_when_muted;
    return chosen[name];
  }

  muteOf(chatId: string): MuteChoice {
    return this.mutes.get(chatId) ?? "off";
  }

  /** Load this device's mutes from the server (a timed mute shows as "always" until it ends). */
  async loadMutes(): Promise<void> {
    for (const m of await this.deps.api.pushMutes()) {
      const left = m.until === null ? Infinity : Date.parse(m.until) - Date.now();
      if (!this.mutes.has(m.chat_id)) this.mutes.set(m.chat_id, left === Infinity ? "always" : left <= 3600_000 ? "1h" : "8h");
      if (!this.muteEnds.has(m.chat_id)) this.muteEnds.set(m.chat_id, Date.now() + left);
    }
  }

  /** The app badge shows the unread count this client computed (servers never know it). */
  updateBadge(): void {
    const nav = navigator as Navigator & { setAppBadge?: (n?: number) => Promise<void>; clearAppBadge?: () => Promise<void> };
    const total = this.deps.unreadTotal();
    if (total > 0) void nav.setAppBadge?.(total).catch(() => undefined);
    else void nav.clearAppBadge?.().catch(() => undefined);
  }
}

function sameKey(subscription: PushSubscription, publicKey: string): boolean {
  const key = subscription.options.applicationServerKey;
  if (key === null) return false;
  const mine = urlBase64ToBytes(publicKey);
  const theirs = new Uint8Array(key);
  return mine.length === theirs.length && mine.every((b, i) => b === theirs[i]);
}
