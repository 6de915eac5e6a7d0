// Search: a field above the chat list (or "Search in this chat" from the conversation's
// header), results with the chat's name and the matching words highlighted — built as DOM
// nodes, never as HTML — and a click (or Enter) opens the chat at that message. Arrow keys
// move between the field and the results; Escape closes it. The index is the messenger's
// (../app/search.ts), on this device only.
import type { Messenger } from "../app/messenger";
import type { SearchResultView } from "../app/search";
import { displayName } from "../app/format";
import { locale, t } from "../i18n/index";
import { clear, formatTime, h } from "./dom";
import "./search.css";

/** Wait this long after the last key before asking the index. */
const TYPING_MS = 120;

export interface SearchPanel {
  el: HTMLElement;
  /** Opens the field, across all chats (null) or within one chat. */
  focus(chatId: string | null): void;
  close(): void;
}

export function searchPanel(messenger: Messenger, openAt: (chatId: string, messageId: number | null) => void, shown: (open: boolean) => void): SearchPanel {
  const input = h("input", { id: "search-q", type: "search", placeholder: t("search.placeholder"), autocomplete: "off", spellcheck: "false", "aria-controls": "search-results" });
  const scope = h("button", { type: "button", class: "search-scope", "aria-label": t("search.allChats") });
  const status = h("p", { class: "search-status", role: "status", "aria-live": "polite" });
  const results = h("ul", { id: "search-results", class: "search-results", "aria-label": t("search.results") });
  const form = h("form", { class: "search", role: "search", "aria-label": t("search.placeholder") }, h("label", { for: "search-q", class: "sr-only" }, t("search.placeholder")), input, scope);
  const el = h("div", { class: "search-panel" }, form, status, results);
  scope.hidden = true;
  results.hidden = true;
  status.hidden = true;
  let chatId: string | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let asked = 0;

  const isOpen = (): boolean => input.value.trim() !== "" || chatId !== null;
  const setScope = (id: string | null): void => {
    chatId = id;
    const chat = id === null ? undefined : messenger.store.chats.get(id);
    scope.hidden = chat === undefined;
    if (chat !== undefined) {
      scope.textContent = t("search.in", { title: messenger.chatTitle(chat) });
      scope.title = t("search.allChats");
    }
    input.placeholder = chat === undefined ? t("search.placeholder") : t("search.inChat", { title: messenger.chatTitle(chat) });
  };

  const hitItem = (r: SearchResultView): HTMLElement => {
    const text = h("span", { class: "hit-text" });
    for (const part of r.parts) text.append(part.match ? h("mark", {}, part.text) : document.createTextNode(part.text));
    // Who wrote it, where the chat's name does not say it already (groups, channels, ours).
    const direct = messenger.store.chats.get(r.chatId)?.kind === "direct";
    const who = r.mine ? t("msg.you") : direct ? null : displayName(r.sender.split(":")[0] ?? "", messenger.domain);
    const button = h(
      "button",
      { type: "button", class: "search-hit", "data-chat": r.chatId, "data-key": r.key },
      h("span", { class: "hit-head" }, h("span", { class: "hit-chat", title: r.title }, r.title), h("time", { class: "hit-time" }, formatTime(r.at))),
      who === null ? null : h("span", { class: "hit-who" }, who),
      text,
    );
    button.addEventListener("click", () => openAt(r.chatId, r.id));
    return h("li", {}, button);
  };

  const run = async (): Promise<void> => {
    const q = input.value.trim();
    const ask = ++asked;
    if (q === "") {
      clear(results);
      results.hidden = true;
      status.hidden = chatId === null;
      status.textContent = chatId === null ? "" : t("search.typeHere");
      return;
    }
    const found = await messenger.search.query(q, chatId ?? undefined);
    if (ask !== asked) return; // typed on meanwhile
    clear(results);
    results.append(...found.map(hitItem));
    results.dataset["query"] = q; // what the list answers (the browser tests wait for it)
    results.hidden = found.length === 0;
    status.hidden = false;
    const progress = messenger.search.progress;
    const building = progress === null ? "" : t("search.indexing", { done: progress.done.toLocaleString(locale()), total: progress.total.toLocaleString(locale()) });
    status.textContent = (found.length === 0 ? t("search.none") : t("search.found", { count: found.length })) + building;
  };
  const soon = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => void run(), TYPING_MS);
  };

  const close = (): void => {
    input.value = "";
    setScope(null);
    clear(results);
    results.hidden = true;
    status.hidden = true;
    asked++;
    shown(false);
  };

  input.addEventListener("input", () => {
    shown(isOpen());
    soon();
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    (results.querySelector("button") as HTMLButtonElement | null)?.focus();
  });
  scope.addEventListener("click", () => {
    setScope(null);
    input.focus();
    shown(isOpen());
    soon();
  });
  // Keyboard: ↓ from the field to the results, ↑/↓ between them, Escape closes.
  el.addEventListener("keydown", (ev) => {
    const buttons = [...results.querySelectorAll<HTMLButtonElement>("button.search-hit")];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (ev.key === "Escape") {
      ev.preventDefault();
      close();
      input.blur();
    } else if (ev.key === "ArrowDown" && buttons.length > 0) {
      ev.preventDefault();
      buttons[Math.min(buttons.length - 1, at + 1)]?.focus();
    } else if (ev.key === "ArrowUp" && at >= 0) {
      ev.preventDefault();
      if (at === 0) input.focus();
      else buttons[at - 1]?.focus();
    }
  });
  // Messages changed (arrived, edited, deleted): the results follow.
  messenger.search.addEventListener("indexed", () => {
    if (input.value.trim() !== "") soon();
  });

  return {
    el,
    focus(id) {
      setScope(id);
      shown(true);
      input.focus();
      void run();
    },
    close,
  };
}
