// A message's actions on a phone: hidden until asked for, so a screen of messages is not a
// screen of buttons. A long press on the bubble (touch: held still for LONG_PRESS_MS; a
// mouse's right click or the context-menu key too) or the "More actions" button opens
// them under the message; Escape, a second press or opening another message's closes them.
// On a wide screen the same actions show on hover and focus (styles.css), and this button
// is not shown.
import { t } from "../../i18n/index";
import { h } from "../dom";

export const LONG_PRESS_MS = 450;
const MOVE_TOLERANCE_PX = 10;

// The one open menu: its item, and its message's key so that it stays open when the list
// draws the message again (a tick or a reaction arriving redraws it).
let openItem: HTMLElement | null = null;
let openKey: string | null = null;

function setOpen(item: HTMLElement, key: string, toggle: HTMLButtonElement, open: boolean): void {
  if (open && openItem !== null && openItem !== item && openItem.isConnected) openItem.dispatchEvent(new CustomEvent("talkee-close-menu"));
  item.classList.toggle("menu-open", open);
  toggle.setAttribute("aria-expanded", String(open));
  if (open) {
    openItem = item;
    openKey = key;
  } else if (openKey === key) {
    openItem = null;
    openKey = null;
  }
}

/** Wires the menu onto a message's list item (`item` holds the bubble and `actions`); `key` names the message. */
export function withMessageMenu(item: HTMLElement, key: string, bubble: HTMLElement, actions: HTMLElement): void {
  const toggle = h("button", { type: "button", class: "more-actions", "aria-label": t("msg.more"), "aria-expanded": "false" }, "⋯") as HTMLButtonElement;
  const open = (value: boolean): void => setOpen(item, key, toggle, value);
  if (openKey === key) open(true);
  toggle.addEventListener("click", () => {
    const opening = !item.classList.contains("menu-open");
    open(opening);
    if (opening) actions.querySelector<HTMLButtonElement>("button")?.focus();
  });
  item.addEventListener("talkee-close-menu", () => open(false));
  item.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && item.classList.contains("menu-open")) {
      ev.stopPropagation();
      open(false);
      toggle.focus();
    }
  });
  // A chosen action closes the menu (the forward picker stays open: it is a second step).
  actions.addEventListener("click", (ev) => {
    const button = (ev.target as HTMLElement).closest("button");
    if (button !== null && button.getAttribute("aria-label") !== t("msg.forward") && !button.closest(".forward")) open(false);
  });
  bubble.addEventListener("contextmenu", (ev) => {
    if ((ev.target as HTMLElement).closest("a, button, input, audio, video") !== null) return; // their own menus
    ev.preventDefault();
    open(!item.classList.contains("menu-open"));
  });
  let timer: ReturnType<typeof setTimeout> | null = null;
  let start: { x: number; y: number } | null = null;
  const cancel = (): void => {
    if (timer !== null) globalThis.clearTimeout(timer);
    timer = null;
    start = null;
  };
  bubble.addEventListener("pointerdown", (ev) => {
    if (ev.pointerType !== "touch") return;
    start = { x: ev.clientX, y: ev.clientY };
    timer = globalThis.setTimeout(() => {
      timer = null;
      open(true);
    }, LONG_PRESS_MS);
  });
  bubble.addEventListener("pointermove", (ev) => {
    if (start !== null && Math.hypot(ev.clientX - start.x, ev.clientY - start.y) > MOVE_TOLERANCE_PX) cancel();
  });
  for (const type of ["pointerup", "pointercancel", "pointerleave"] as const) bubble.addEventListener(type, cancel);
  item.append(toggle);
}
