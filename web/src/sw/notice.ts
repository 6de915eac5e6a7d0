// What a Web Push becomes on screen. Pure functions, shared by the service worker
// (src/sw/push-sw.ts) and its unit tests; the app tab imports only the types.
//
// A push carries only {v, kind, chat} (apps/push/webpush.py): never text, sender or
// chat name. A tab that is open and unlocked may answer with what it knows (the real
// text when the person chose so); otherwise the notification is generic. It is never
// empty: browsers (and iOS) penalise pushes that show nothing.

export type PushKind = "message" | "call";

export interface PushNotice {
  kind: PushKind;
  chat: string | null;
  /** The server was told the message mentions this person (sent as kind "mention"). */
  mention?: boolean;
}

/** The SW asks open tabs; an unlocked tab answers with one of these. */
export interface TabAnswer {
  /** The tab shows the chat to the person right now: no notification needed. */
  shown?: boolean;
  /** The chat is muted on this device and nothing in it calls for a notification (no mention of me). */
  quiet?: boolean;
  title?: string;
  body?: string;
  /** The chat's picture (a data: URL the tab drew from its vault). */
  icon?: string;
}

export interface NoticeView {
  title: string;
  options: {
    body: string;
    tag: string;
    renotify: boolean;
    requireInteraction: boolean;
    icon: string;
    badge: string;
    data: PushNotice;
    actions: { action: string; title: string }[];
  };
}

const CHAT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const PUSH_MESSAGE = "talkee-push";
export const OPEN_MESSAGE = "talkee-open";
// The app repeats these two strings (importing values from here would share a chunk
// with the worker's script, which must stand alone); these types keep them equal.
export type PushMessageType = typeof PUSH_MESSAGE;
export type OpenMessageType = typeof OPEN_MESSAGE;

/** Read a push payload; anything unexpected is still a generic "message" notice. */
export function parsePush(text: string | null): PushNotice {
  try {
    const data = JSON.parse(text ?? "") as { kind?: unknown; chat?: unknown };
    const kind: PushKind = data.kind === "call" ? "call" : "message";
    const chat = typeof data.chat === "string" && CHAT_ID.test(data.chat) ? data.chat : null;
    return data.kind === "mention" ? { kind, chat, mention: true } : { kind, chat };
  } catch {
    return { kind: "message", chat: null };
  }
}

/** The notification for a push: generic unless an unlocked tab said more. */
export function noticeView(notice: PushNotice, answer: TabAnswer | null): NoticeView {
  const call = notice.kind === "call";
  const generic = call ? "Incoming call" : notice.mention === true ? "You were mentioned" : "New message";
  const title = answer?.title?.trim() || "Talkee";
  const body = answer?.body?.trim() || generic;
  return {
    title,
    options: {
      body,
      // One notification per chat (and one for a call): a newer one replaces it.
      tag: `${call ? "call" : "chat"}-${notice.chat ?? "any"}`,
      renotify: true,
      requireInteraction: call,
      icon: answer?.icon?.startsWith("data:image/") === true ? answer.icon : "/app/icons/icon-192.png",
      badge: "/app/icons/icon-192.png",
      data: notice,
      actions: call
        ? [
            { action: "answer", title: "Answer" },
            { action: "decline", title: "Decline" },
          ]
        : [],
    },
  };
}

/** Where a click on the notification leads. Null: nowhere (declined). */
export function clickTarget(notice: PushNotice, action: string): string | null {
  if (action === "decline") return null;
  if (notice.chat === null) return "/";
  return notice.kind === "call" && action === "answer" ? `/#chat=${notice.chat}&call=answer` : `/#chat=${notice.chat}`;
}
