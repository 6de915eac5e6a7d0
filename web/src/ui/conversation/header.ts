// The conversation's header: back, title and kind, typing/presence/member count, call
// buttons, the chat's self-destruct timer, favourite, block (direct chats) and the members toggle. It renders
// what it is given and reports clicks; the conversation decides.
import { humanError } from "../../api/client";
import { lastSeenText } from "../../app/format";
import type { Messenger } from "../../app/messenger";
import type { MuteChoice } from "../../app/notifications";
import type { ChatRecord } from "../../app/store";
import { blockToggle } from "../blockButton";
import { callButtons } from "../call";
import { groupCallButton } from "../groupCall";
import { h } from "../dom";
import { roleName, t } from "../../i18n/index";
import { CHAT_TIMERS, formatDuration, timerLabel } from "./timers";

export interface HeaderActions {
  back(): void;
  say(text: string): void;
  setTimer(value: number | null): void;
  toggleMembers(): void;
  toggleFavourite(): void;
  /** "Search in this chat" (ui/search.ts). */
  search?(): void;
}

export interface HeaderView {
  el: HTMLElement;
  render(c: ChatRecord, canManage: boolean): void;
  setMembersOpen(open: boolean): void;
}

export function conversationHeader(messenger: Messenger, actions: HeaderActions): HeaderView {
  const title = h("h2", { class: "conv-title" });
  // The other person's profile picture in a direct chat (app/profiles.ts).
  const picture = h("img", { class: "conv-picture", alt: "" }) as HTMLImageElement;
  picture.hidden = true;
  const status = h("p", { class: "conv-status", "aria-live": "polite" });
  // A direct chat whose safety number was compared (src/app/trust.ts): verified, or unsafe.
  const identityBadge = h("span", { class: "badge identity" });
  const membersButton = h("button", { type: "button", "aria-expanded": "false" }, t("conv.members"));
  const favButton = h("button", { type: "button", class: "icon" });
  const chatTimer = h(
    "select",
    { class: "chat-timer", "aria-label": t("conv.chatTimer") },
    ...CHAT_TIMERS.map((v) => h("option", { value: v === null ? "" : String(v) }, t("conv.selfDestruct", { duration: timerLabel(v) }))),
  );
  const mute = h(
    "select",
    { class: "chat-mute", "aria-label": t("conv.chatMute") },
    h("option", { value: "off" }, t("conv.notifyOn")),
    h("option", { value: "1h" }, t("conv.mute1h")),
    h("option", { value: "8h" }, t("conv.mute8h")),
    h("option", { value: "always" }, t("conv.muteAlways")),
  );
  let chatId: string | null = null;
  mute.addEventListener("change", () => {
    if (chatId === null) return;
    const choice = mute.value as MuteChoice;
    messenger.notifications.mute(chatId, choice).then(
      () => actions.say(choice === "off" ? t("conv.unmuted") : t("conv.muted")),
      (err: unknown) => actions.say(humanError(err)),
    );
  });
  const call = callButtons(messenger, actions.say);
  const groupCall = groupCallButton(messenger, actions.say);
  const searchButton = h("button", { type: "button", class: "icon search-in", "aria-label": t("conv.search"), title: t("conv.search") }, "🔍");
  searchButton.hidden = actions.search === undefined;
  searchButton.addEventListener("click", () => actions.search?.());
  // Direct chats: block (or unblock) the other person.
  const block = blockToggle(messenger, actions.say);
  const el = h(
    "header",
    { class: "conv-header" },
    h("button", { type: "button", class: "icon back", "aria-label": t("conv.back"), onclick: actions.back }, "‹"),
    picture,
    h("div", { class: "conv-heading" }, title, identityBadge, status),
    searchButton,
    call.el,
    groupCall.el,
    chatTimer,
    mute,
    favButton,
    block.el,
    membersButton,
  );
  chatTimer.addEventListener("change", () => actions.setTimer(chatTimer.value === "" ? null : Number(chatTimer.value)));
  membersButton.addEventListener("click", () => actions.toggleMembers());
  favButton.addEventListener("click", () => actions.toggleFavourite());

  /** The chat's timer, visible to every member; changeable by whom the server allows. */
  const renderTimer = (c: ChatRecord, canManage: boolean): void => {
    const value = c.ttlSeconds === null ? "" : String(c.ttlSeconds);
    if (![...chatTimer.options].some((o) => o.value === value)) {
      chatTimer.append(h("option", { value }, t("conv.selfDestruct", { duration: formatDuration(c.ttlSeconds ?? 0) })));
    }
    chatTimer.value = value;
    const allowed = !c.removed && (c.kind === "direct" || canManage);
    chatTimer.disabled = !allowed;
    chatTimer.title = allowed
      ? t("conv.timerCan")
      : t("conv.timerCannot");
    chatTimer.dataset["on"] = String(c.ttlSeconds !== null);
  };

  return {
    el,
    render(c, canManage) {
      if (chatId !== c.id) {
        chatId = c.id;
        mute.value = messenger.notifications.muteOf(c.id);
      }
      title.textContent = messenger.chatTitle(c);
      // The whole name when it ends in an ellipsis; in a direct chat also the address behind a display name.
      const peer = c.kind === "direct" ? c.members.find((m) => m.user !== messenger.user)?.user : undefined;
      title.title = peer !== undefined && messenger.profiles.nameOf(peer) !== null ? `${messenger.chatTitle(c)} (${peer})` : messenger.chatTitle(c);
      const avatar = peer === undefined ? c.picture : messenger.profiles.avatarOf(peer);
      picture.hidden = avatar === undefined;
      if (avatar !== undefined && picture.src !== avatar) picture.src = avatar;
      identityBadge.textContent = c.verified !== undefined ? t("conv.verified") : c.unsafe !== undefined ? t("conv.unsafe") : "";
      identityBadge.hidden = identityBadge.textContent === "";
      identityBadge.setAttribute("aria-label", c.verified !== undefined ? t("conv.verifiedLabel") : t("conv.unsafeLabel"));
      if (c.kind !== "direct") title.prepend(h("span", { class: `kind ${c.kind}` }, c.kind === "channel" ? t("chats.channel") : t("chats.group")), " ");
      favButton.textContent = c.favourite ? "★" : "☆";
      favButton.setAttribute("aria-label", c.favourite ? t("conv.unfavourite") : t("conv.favourite"));
      favButton.setAttribute("aria-pressed", String(c.favourite));
      const typing = messenger.typingUsers(c.id).map((u) => messenger.nameOf(u));
      if (typing.length > 0) {
        status.textContent = t("conv.typing", { names: typing.join(", "), count: typing.length });
      } else if (c.kind === "direct") {
        const other = c.members.find((m) => m.user !== messenger.user);
        const p = other === undefined ? undefined : messenger.presence.get(other.user);
        status.textContent = p === undefined ? "" : p.state === "online" ? t("format.online") : lastSeenText(p, Date.now());
      } else {
        status.textContent = t("conv.memberCount", { count: c.members.length, role: roleName(c.role) });
      }
      renderTimer(c, canManage);
      call.update(c);
      groupCall.update(c);
      block.setUser(c.kind === "direct" ? (c.members.find((m) => m.user !== messenger.user)?.user ?? null) : null);
    },
    setMembersOpen(open) {
      membersButton.setAttribute("aria-expanded", String(open));
    },
  };
}
