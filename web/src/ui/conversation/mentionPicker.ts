// The member picker under a group's composer: typing "@" lists the chat's members
// (filtered by what follows); arrows move, Enter or Tab picks, Escape closes, a click
// picks too. A pick writes the member's "@name" into the text; what is sent carries the
// mentioned users inside the sealed payload (../../app/mentions).
import { displayName } from "../../app/format";
import { insertMention, mentionCandidates, mentionQuery, type MentionQuery } from "../../app/mentions";
import { t } from "../../i18n/index";
import { clear, h } from "../dom";

export interface MentionPicker {
  el: HTMLElement;
  readonly open: boolean;
  close(): void;
}

/** `people()`: me and the chat's members, or null where there is nobody to mention (direct chats). */
export function mentionPicker(input: HTMLTextAreaElement, domain: string, people: () => { me: string; members: readonly string[] } | null, changed: () => void): MentionPicker {
  const list = h("ul", { class: "mention-picker", role: "listbox", id: "mention-picker", "aria-label": t("mention.pick") });
  list.hidden = true;
  let query: MentionQuery | null = null;
  let options: string[] = [];
  let active = 0;

  const close = (): void => {
    query = null;
    options = [];
    list.hidden = true;
    clear(list);
    input.removeAttribute("aria-activedescendant");
  };

  const draw = (): void => {
    clear(list);
    options.forEach((user, i) => {
      const item = h(
        "li",
        { role: "option", id: `mention-option-${i}`, class: i === active ? "active" : null, "aria-selected": i === active ? "true" : "false", "data-user": user },
        h("span", { class: "mention-name" }, displayName(user, domain)),
        h("span", { class: "mention-address" }, user),
      );
      // Keep the focus in the text box; the click picks.
      item.addEventListener("mousedown", (ev) => ev.preventDefault());
      item.addEventListener("click", () => pick(user));
      list.append(item);
    });
    list.hidden = options.length === 0;
    if (options.length > 0) input.setAttribute("aria-activedescendant", `mention-option-${active}`);
    else input.removeAttribute("aria-activedescendant");
  };

  const update = (): void => {
    const who = people();
    const caret = input.selectionStart ?? input.value.length;
    query = who === null || input.selectionEnd !== input.selectionStart ? null : mentionQuery(input.value, caret);
    if (who === null || query === null) return close();
    options = mentionCandidates(who.members, query.query, who.me, domain);
    active = Math.min(active, Math.max(options.length - 1, 0));
    draw();
  };

  const pick = (user: string): void => {
    if (query === null) return;
    const caret = input.selectionStart ?? input.value.length;
    const next = insertMention(input.value, query, caret, user, domain);
    input.value = next.text;
    input.setSelectionRange(next.caret, next.caret);
    close();
    input.focus();
    changed();
  };

  input.setAttribute("aria-controls", "mention-picker");
  input.setAttribute("aria-autocomplete", "list");
  input.addEventListener("input", () => {
    active = 0;
    update();
  });
  input.addEventListener("click", update);
  input.addEventListener("blur", () => setTimeout(close, 150));
  // Registered before the composer's own keys: while the list is open, these keys are the picker's.
  input.addEventListener("keydown", (ev) => {
    if (list.hidden || options.length === 0) return;
    const key = ev.key;
    if (key === "ArrowDown" || key === "ArrowUp") {
      active = (active + (key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
      draw();
    } else if ((key === "Enter" || key === "Tab") && !ev.shiftKey && !ev.isComposing) {
      const user = options[active];
      if (user !== undefined) pick(user);
    } else if (key === "Escape") {
      close();
    } else {
      return;
    }
    ev.preventDefault();
    ev.stopImmediatePropagation();
  });

  return {
    el: list,
    get open() {
      return !list.hidden;
    },
    close,
  };
}
