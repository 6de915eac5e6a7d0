// The app's frame: onboarding or unlock, then the chats list + conversation
// with the connection banner always on top.
import type { Messenger } from "../app/messenger";
import { Session } from "../app/session";
import { approvalNotice } from "./approval";
import { accessNotice, connectionBanner } from "./banner";
import { callOverlay } from "./call";
import { groupCallOverlay } from "./groupCall";
import { chatList } from "./chatList";
import { conversation } from "./conversation/index";
import { t } from "../i18n/index";
import { clear, h } from "./dom";
import { showUnlock, showWelcome } from "./onboarding";
import { searchPanel } from "./search";
import { settingsScreen } from "./settings";

export async function startApp(root: HTMLElement): Promise<void> {
  const session = new Session();
  const enter = (messenger: Messenger): void => showMain(root, session, messenger);
  const forget = (): void => {
    void session.signOut().then(() => showWelcome(root, session, enter, "signin"));
  };
  if (await session.isSetUp()) showUnlock(root, session, enter, forget);
  else showWelcome(root, session, enter);
}

const REVOKED_NOTE = (): string => t("app.revoked");

const DELETED_NOTE = (): string => t("app.deleted");

function showMain(root: HTMLElement, session: Session, messenger: Messenger): void {
  clear(root);
  const enter = (m: Messenger): void => showMain(root, session, m);
  const signOut = (): void => {
    if (!confirm(t("app.confirmSignOut"))) return;
    void session.signOut().then(() => showWelcome(root, session, enter, "signin"));
  };
  messenger.addEventListener("change", (ev) => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind !== "revoked") return;
    // Kicked and refused by the server: nothing here may outlive the device.
    messenger.stop();
    void session.wipe().then(() => showWelcome(root, session, enter, "signin", REVOKED_NOTE()));
  });
  messenger.addEventListener("change", (ev) => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind !== "deleted") return;
    // Deleted from another of its devices (socket closed 4004).
    messenger.stop();
    void session.wipe().then(() => showWelcome(root, session, enter, "signin", DELETED_NOTE()));
  });
  const shell = h("div", { class: "shell" });
  const conv = conversation(
    messenger,
    () => openChat(null),
    (chatId) => {
      shell.classList.add("searching"); // phones: the search takes the screen
      search.focus(chatId);
    },
  );
  const settings = settingsScreen(
    messenger,
    session,
    () => showSettings(false),
    () => showWelcome(root, session, enter, "signup", DELETED_NOTE()),
  );
  settings.el.hidden = true;
  function showSettings(shown: boolean): void {
    settings.el.hidden = !shown;
    shell.hidden = shown;
    if (shown) settings.refresh();
  }
  const list = chatList(messenger, (id) => openChat(id), signOut, () => showSettings(true));
  function openChat(id: string | null): void {
    shell.classList.toggle("in-chat", id !== null);
    conv.show(id);
    list.render();
    if (id !== null) history.replaceState(null, "", `#chat=${id}`);
    else history.replaceState(null, "", location.pathname);
  }
  // Search above the chat list; a result opens its chat at the message.
  const search = searchPanel(
    messenger,
    (chatId, messageId) => {
      shell.classList.remove("searching");
      openChat(chatId);
      if (messageId !== null) conv.reveal(messageId);
    },
    (open) => {
      list.el.classList.toggle("searching", open);
      if (!open) shell.classList.remove("searching");
    },
  );
  list.el.querySelector(".me")?.after(search.el);
  shell.append(list.el, conv.el);
  const approvals = approvalNotice(messenger, () => showSettings(true));
  // One main landmark and one h1 (for screen readers; the app's name is not shown again).
  root.append(h("main", { class: "app" }, h("h1", { class: "sr-only" }, "Talkee"), connectionBanner(messenger), accessNotice(messenger, signOut), approvals, shell, settings.el, callOverlay(messenger), groupCallOverlay(messenger)));
  const fromHash = /^#chat=([0-9a-f-]{36})(&call=answer)?$/.exec(location.hash);
  const hashChat = fromHash?.[1];
  openChat(hashChat !== undefined && messenger.store.chats.has(hashChat) ? hashChat : null);
  // Notifications: this tab answers the service worker while unlocked; clicks open chats.
  messenger.onOpenRequest = (chatId, answerCall) => {
    showSettings(false);
    openChat(chatId !== null && messenger.store.chats.has(chatId) ? chatId : null);
    if (answerCall) void messenger.calls.accept().catch(() => undefined);
  };
  if (fromHash?.[2] !== undefined && hashChat !== undefined) answerWhenRinging(messenger, hashChat);
  messenger.notifications.listen();
  void messenger.notifications.loadMutes().catch(() => undefined);
  messenger.notifications.updateBadge();
  messenger.addEventListener("change", (ev) => {
    const kind = (ev as CustomEvent<{ kind: string }>).detail.kind;
    if (kind === "chats" || kind === "messages") messenger.notifications.updateBadge();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && messenger.activeChat !== null) void messenger.open(messenger.activeChat);
  });
}

/** Answer was tapped on a call notification before the app was open (or unlocked): the
 * caller repeats its offer while ringing, so take the call when it arrives (for a while). */
function answerWhenRinging(messenger: Messenger, chatId: string): void {
  const until = Date.now() + 60_000;
  const check = (): void => {
    const call = messenger.calls.current;
    if (call !== null && call.chatId === chatId && call.phase === "incoming") {
      messenger.calls.removeEventListener("change", check);
      void messenger.calls.accept().catch(() => undefined);
    } else if (Date.now() > until) {
      messenger.calls.removeEventListener("change", check);
    }
  };
  messenger.calls.addEventListener("change", check);
  check();
}
