// The chats list: favourites pinned, last message preview (decrypted here),
// unread counters, start a direct chat, create a group or channel.
import { humanError } from "../api/client";
import { draftPreview } from "../app/drafts";
import type { Messenger } from "../app/messenger";
import type { ChatRecord } from "../app/store";
import { t } from "../i18n/index";
import { clear, formatTime, h } from "./dom";

export interface ChatListHandle {
  el: HTMLElement;
  render(): void;
}

export function chatList(messenger: Messenger, open: (chatId: string) => void, signOut: () => void, openSettings: () => void): ChatListHandle {
  const list = h("ul", { class: "chats", "aria-label": t("chats.list") });
  const error = h("p", { class: "error", role: "alert" });
  const who = h("input", { id: "start-who", placeholder: t("chats.who"), autocapitalize: "none", spellcheck: "false" });
  const start = h(
    "form",
    { class: "start", "aria-label": t("chats.startDirect") },
    h("label", { for: "start-who", class: "sr-only" }, t("chats.whoLabel")),
    who,
    h("button", { type: "submit", class: "primary" }, t("chats.start")),
  );
  start.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = who.value.trim();
    if (name === "") return;
    error.textContent = "";
    const button = start.querySelector("button")!;
    button.disabled = true;
    messenger
      .startDirect(name)
      .then((id) => {
        who.value = "";
        open(id);
      })
      .catch((err: unknown) => (error.textContent = humanError(err)))
      .finally(() => (button.disabled = false));
  });

  const groupForm = newGroupForm(messenger, open, error);
  const newGroup = h("button", { type: "button", "aria-expanded": "false" }, t("chats.newGroup"));
  newGroup.addEventListener("click", () => {
    const shown = groupForm.hidden;
    groupForm.hidden = !shown;
    newGroup.setAttribute("aria-expanded", String(shown));
    if (shown) groupForm.querySelector("input")?.focus();
  });
  groupForm.hidden = true;

  const me = h(
    "div",
    { class: "me" },
    h("span", { class: "avatar", "aria-hidden": "true" }, (messenger.user[0] ?? "?").toUpperCase()),
    h("span", { class: "me-name", title: messenger.user }, messenger.user),
    h("button", { type: "button", class: "link", onclick: openSettings }, t("chats.settings")),
    h("button", { type: "button", class: "link", onclick: signOut }, t("chats.signOut")),
  );
  const el = h("nav", { class: "sidebar", "aria-label": t("chats.nav") }, me, start, h("div", { class: "row" }, newGroup), groupForm, error, list);

  let drawn = "";
  const render = (): void => {
    const chats = [...messenger.store.chats.values()].sort((a, b) => Number(b.favourite) - Number(a.favourite) || b.lastAt - a.lastAt);
    const items = chats.length === 0 ? [h("li", { class: "empty" }, t("chats.none"))] : chats.map((chat) => chatItem(messenger, chat, open));
    // Nothing changed (most events): the list stays as it is, so a tap or a click on it is
    // never lost to a rebuild between its press and its release.
    const html = items.map((li) => li.outerHTML).join("");
    if (html === drawn) return;
    drawn = html;
    clear(list);
    list.append(...items);
  };
  messenger.addEventListener("change", (ev) => {
    const kind = (ev as CustomEvent<{ kind: string }>).detail.kind;
    if (kind === "chats" || kind === "messages") render();
  });
  render();
  return { el, render };
}

function chatItem(messenger: Messenger, chat: ChatRecord, open: (id: string) => void): HTMLElement {
  const title = messenger.chatTitle(chat);
  // A direct chat shows the other person's picture, when their profile has one; a group its own.
  const peer = chat.kind === "direct" ? chat.members.find((m) => m.user !== messenger.user)?.user : undefined;
  const picture = peer === undefined ? chat.picture : messenger.profiles.avatarOf(peer);
  const kind = chat.kind === "direct" ? null : chat.kind === "channel" ? t("chats.channel") : t("chats.group");
  const kindLabel = kind === null ? null : h("span", { class: `kind ${chat.kind}` }, kind);
  const active = messenger.activeChat === chat.id;
  // A chat left with something half-written says so (the open one shows it in the composer).
  const draft = active || chat.removed ? undefined : messenger.drafts.of(chat.id);
  const preview = chat.removed
    ? t("chats.removed")
    : draft !== undefined
      ? draftPreview(draft)
      : messenger.preview(chat) || (chat.joined ? t("chats.noMessages") : t("chats.waitingKeys"));
  // An unread message that mentions me puts an "@" on the badge.
  const mentioned = chat.unread > 0 && (chat.unreadMentions ?? 0) > 0;
  // The button holds only what its name says ("Open chat [Group] <title>[, N unread]": a
  // name that contains the visible label, WCAG 2.5.3); it covers the whole row (CSS), and
  // the preview and time beside it are read as the row's text.
  const button = h(
    "button",
    {
      type: "button",
      class: "chat-open",
      "aria-current": active ? "true" : null,
      "aria-label": `${t("chats.open", { kind: kind === null ? "" : `${kind} `, title })}${chat.unread > 0 ? t("chats.unread", { count: chat.unread }) : ""}${mentioned ? t("chats.mentioned") : ""}`,
      onclick: () => open(chat.id),
    },
    // Long names end in an ellipsis; the whole name is in the title (hover) and the button's label.
    h("span", { class: "chat-title" }, kindLabel, h("span", { class: "chat-name", title }, title), chat.favourite ? h("span", { class: "star", "aria-hidden": "true" }, "★") : null),
  );
  const row = h(
    "li",
    { class: `chat-row${active ? " active" : ""}` },
    h("span", { class: "avatar", "aria-hidden": "true" }, picture !== undefined ? h("img", { src: picture, alt: "" }) : (title[0] ?? "?").toUpperCase()),
    h("span", { class: "chat-text" }, button, h("span", { class: `chat-preview${draft !== undefined ? " draft" : ""}`, title: preview }, preview)),
    h("span", { class: "chat-meta" }, h("time", {}, chat.lastAt ? formatTime(chat.lastAt) : ""), chat.unread > 0 ? h("span", { class: `badge${mentioned ? " mentioned" : ""}`, "aria-hidden": "true" }, mentioned ? h("span", { class: "at" }, "@") : null, String(chat.unread)) : null),
  );
  return row;
}

function newGroupForm(messenger: Messenger, open: (id: string) => void, error: HTMLElement): HTMLFormElement {
  const name = h("input", { id: "group-name", required: true, maxlength: 120 });
  const members = h("input", { id: "group-members", placeholder: "bob, carol@partner.example", autocapitalize: "none", spellcheck: "false" });
  const kind = h("select", { id: "group-kind" }, h("option", { value: "group" }, t("chats.kindGroup")), h("option", { value: "channel" }, t("chats.kindChannel")));
  const submit = h("button", { type: "submit", class: "primary" }, t("chats.create"));
  const form = h(
    "form",
    { class: "group-form", "aria-label": t("chats.newGroup") },
    h("label", { for: "group-name" }, t("chats.groupName")),
    name,
    h("label", { for: "group-members" }, t("chats.groupMembers")),
    members,
    h("label", { for: "group-kind" }, t("chats.groupKind")),
    kind,
    submit,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    const list = members.value.split(/[,\s]+/).filter((m) => m !== "");
    messenger
      .createGroup(kind.value as "group" | "channel", name.value.trim(), list)
      .then((id) => {
        form.reset();
        form.hidden = true;
        open(id);
      })
      .catch((err: unknown) => (error.textContent = humanError(err)))
      .finally(() => (submit.disabled = false));
  });
  return form;
}
