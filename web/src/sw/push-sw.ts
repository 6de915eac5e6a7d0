// Web Push in the service worker. Built as its own classic script (`push-sw.js`, no
// imports at run time) and loaded by the generated worker with importScripts
// (vite.config.ts). See notice.ts for what is shown and why.
import { OPEN_MESSAGE, PUSH_MESSAGE, clickTarget, noticeView, parsePush, type PushNotice, type TabAnswer } from "./notice";

declare const self: ServiceWorkerGlobalScope;

const TAB_ANSWER_MS = 1500;

/** Ask one tab what to show; an unlocked tab answers, a locked one stays silent. */
function ask(client: Client, notice: PushNotice): Promise<TabAnswer | null> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(null), TAB_ANSWER_MS);
    channel.port1.onmessage = (ev: MessageEvent<TabAnswer | null>) => {
      clearTimeout(timer);
      resolve(ev.data ?? null);
    };
    client.postMessage({ type: PUSH_MESSAGE, notice }, [channel.port2]);
  });
}

async function onPush(text: string | null): Promise<void> {
  const notice = parsePush(text);
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const answers = await Promise.all(tabs.map((tab) => ask(tab, notice)));
  const answer = answers.find((a) => a !== null) ?? null;
  if (answer?.shown === true) return; // a visible tab shows it already
  if (answer?.quiet === true) return; // muted here, and it does not mention this person
  if (answer === null && "setAppBadge" in self.navigator) {
    // Locked: the count is unknown here; the flag says "something new".
    await (self.navigator as unknown as { setAppBadge(n?: number): Promise<void> }).setAppBadge().catch(() => undefined);
  }
  const view = noticeView(notice, answer);
  await self.registration.showNotification(view.title, view.options as NotificationOptions);
}

async function onClick(notification: Notification, action: string): Promise<void> {
  notification.close();
  const notice = notification.data as PushNotice;
  const target = clickTarget(notice, action);
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  if (target === null) {
    // Decline: an open tab that is ringing declines; with none, the call rings out.
    for (const tab of tabs) tab.postMessage({ type: OPEN_MESSAGE, notice, action: "decline" });
    return;
  }
  const tab = tabs[0] as WindowClient | undefined;
  if (tab !== undefined) {
    tab.postMessage({ type: OPEN_MESSAGE, notice, action: action === "answer" ? "answer" : "open" });
    await tab.focus();
    return;
  }
  await self.clients.openWindow(target);
}

self.addEventListener("push", (event: PushEvent) => {
  event.waitUntil(onPush(event.data?.text() ?? null));
});

self.addEventListener("notificationclick", (event: NotificationEvent) => {
  const done = onClick(event.notification, event.action);
  // A click the browser dispatched keeps the worker alive until done; a synthetic one
  // (the browser tests dispatch it, as no automation can click a system notification)
  // may not extend its lifetime, and needs not.
  if (event.isTrusted) event.waitUntil(done);
});
