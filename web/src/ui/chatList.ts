// The chats list: favourites pinned, last message preview (decrypted here),
// unread counters, start a direct chat, create a group or channel.
import { humanError } from "../api/client";
import { draftPreview } from "../app/drafts";
import type { Messenger } from "../app/messenger";
import type { ChatRecord } from "../app/store";
import { clear, formatTime, h } from "./dom";

export interface ChatListHandle {
  el: HTMLElement;
  render(): void;
}

export function chatList(messenger: Messenger, open: (chatId: string) => void, signOut: () => void, openSettings: () => void): ChatListHandle {
  const list = h("ul", { class: "chats", "aria-label": "Chats" });
  const error = h("p", { class: "error", role: "alert" });
  const who = h("input", { id: "start-who", placeholder: "username or name@server", autocapitalize: "none", spellcheck: "false" });
  const start = h("form", { class: "start", "aria-label": "Start a direct chat" }, h("label", { for: "start-who", class: "sr-only" }, "Username to message"), who, h("button", { type: "submit", class: "primary" }, "Start chat"));
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
  const newGroup = h("button", { type: "button", "aria-expanded": "false" }, "New group or channel");
  newGroup.addEventListener("click", () => {
    const shown = groupForm.hidden;
    groupForm.hidden = !shown;
    newGroup.setAttribute("aria-expanded", String(shown));
    if (shown) groupForm.querySelector("input")?.focus();
  });
  groupForm.hidden = true;

  const me = h("div", { class: "me" }, h("span", { class: "avatar", "aria-hidden": "true" }, (messenger.user[0] ?? "?").toUpperCase()), h("span", { class: "me-name", title: messenger.user }, messenger.user), h("button", { type: "button", class: "link", onclick: openSettings }, "Settings"), h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"));
  const el = h("nav", { class: "sidebar", "aria-label": "Chats and account" }, me, start, h("div", { class: "row" }, newGroup), groupForm, error, list);

  let drawn = "";
  const render = (): void => {
    const chats = [...messenger.store.chats.values()].sort((a, b) => Number(b.favourite) - Number(a.favourite) || b.lastAt - a.lastAt);
    const items = chats.length === 0 ? [h("li", { class: "empty" }, "No chats yet. Start one with a username above.")] : chats.map((chat) => chatItem(messenger, chat, open));
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
  const kind = chat.kind === "direct" ? null : chat.kind === "channel" ? "Channel" : "Group";
  const kindLabel = kind === null ? null : h("span", { class: `kind ${chat.kind}` }, kind);
  const active = messenger.activeChat === chat.id;
  // A chat left with something half-written says so (the open one shows it in the composer).
  const draft = active || chat.removed ? undefined : messenger.drafts.of(chat.id);
  const preview = chat.removed
    ? "You are no longer in this chat"
    : draft !== undefined
      ? draftPreview(draft)
      : messenger.preview(chat) || (chat.joined ? "No messages yet" : "Waiting for keys…");
  // An unread message that mentions me puts an "@" on the badge.
  const mentioned = chat.unread > 0 && (chat.unreadMentions ?? 0) > 0;
  // The button holds only what its name says ("Open chat [Group] <title>[, N unread]": a
  // name that contains the visible label, WCAG 2.5.3); it covers the whole row (CSS), and
  // the preview and time beside it are read as the row's text.
  const button = h(
    "button",
    { type: "button", class: "chat-open", "aria-current": active ? "true" : null, "aria-label": `Open chat ${kind === null ? "" : `${kind} `}${title}${chat.unread > 0 ? `, ${chat.unread} unread` : ""}${mentioned ? ", you were mentioned" : ""}`, onclick: () => open(chat.id) },
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
  const kind = h("select", { id: "group-kind" }, h("option", { value: "group" }, "Group (everyone writes)"), h("option", { value: "channel" }, "Channel (admins post)"));
  const submit = h("button", { type: "submit", class: "primary" }, "Create");
  const form = h(
    "form",
    { class: "group-form", "aria-label": "New group or channel" },
    h("label", { for: "group-name" }, "Name"),
    name,
    h("label", { for: "group-members" }, "Members (usernames, comma-separated)"),
    members,
    h("label", { for: "group-kind" }, "Kind"),
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
