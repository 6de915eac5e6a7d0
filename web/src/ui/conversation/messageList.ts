// The message list: the newest PAGE messages this device holds, another page of them
// when scrolled to the top, then older history from the server (readable only if this
// device decrypted it before). Keeps the reader's place; follows new arrivals at the
// bottom while the reader is there. Marks where the unread messages begin ("New
// messages"), and offers "Jump to first unread" / "Jump to latest" when they are out of view.
import type { LocalMessage } from "../../app/store";
import { t } from "../../i18n/index";
import { clear, h } from "../dom";

/** Messages rendered per page of the infinite scroll. */
const PAGE = 40;
/** How close to the bottom (px) still counts as "at the latest message". */
const NEAR_BOTTOM = 80;

export interface MessageListSource {
  /** The open chat's messages (null: none open). */
  messages(): LocalMessage[] | null;
  /** Asks the server for older messages; how many were added. */
  loadOlder(): Promise<number>;
  item(m: LocalMessage): HTMLElement;
}

export interface MessageListView {
  el: HTMLElement;
  /** The list with its jump buttons (what the conversation lays out). */
  frame: HTMLElement;
  render(): void;
  /** Another chat: back to its newest page, no divider. */
  reset(): void;
  scrollToEnd(): void;
  /** "New messages" goes before this message (once per opening of a chat). */
  markUnread(key: string): void;
  hasDivider(): boolean;
  /** To the divider if there is one, else to the end. */
  scrollToFirstUnread(): void;
  /** Brings a message into view (rendering older pages it needs) and flashes it; false if this device does not hold it. */
  reveal(id: number): boolean;
}

export function messageList(source: MessageListSource): MessageListView {
  // The log (a live region, the scrolling box) holds the list of messages: a list whose own
  // role stays "list" (a role on the <ol> itself would leave its items outside any list).
  const items = h("ol", { class: "message-items" });
  const el = h("div", { class: "messages", role: "log", "aria-label": t("list.messages"), "aria-live": "polite", tabindex: 0 }, items);
  const toLatest = h("button", { type: "button", class: "jump latest" }, t("list.latest"));
  const toUnread = h("button", { type: "button", class: "jump unread" }, t("list.unread"));
  toLatest.hidden = true;
  toUnread.hidden = true;
  const frame = h("div", { class: "messages-frame" }, el, h("div", { class: "jumps" }, toUnread, toLatest));
  let shown = PAGE; // how many of the newest messages are rendered
  let loadingOlder = false;
  let exhausted = false;
  let dividerKey: string | null = null;
  // The reader is at the latest message (as of the last scroll): new renders stay there.
  let follow = true;

  const distanceFromBottom = (): number => el.scrollHeight - el.scrollTop - el.clientHeight;
  const divider = (): HTMLElement | null => el.querySelector<HTMLElement>(".unread-divider");
  const scrollTo = (target: HTMLElement, block: "start" | "center"): void => {
    const offset = target.getBoundingClientRect().top - el.getBoundingClientRect().top;
    el.scrollTop += block === "start" ? offset - 8 : offset - (el.clientHeight - target.offsetHeight) / 2;
  };
  const updateJumps = (): void => {
    toLatest.hidden = distanceFromBottom() < NEAR_BOTTOM;
    const line = divider();
    toUnread.hidden = line === null || line.getBoundingClientRect().bottom > el.getBoundingClientRect().top;
  };
  /** Renders enough of the newest messages that `index` (in all) is among them. */
  const include = (all: LocalMessage[], index: number): void => {
    if (index >= 0 && all.length - index > shown) shown = all.length - index + 3;
  };

  const render = (): void => {
    const all = source.messages();
    if (all === null) return;
    const atBottom = distanceFromBottom() < NEAR_BOTTOM;
    clear(items);
    if (atBottom && all.length > shown && all.length - shown <= 5) shown = all.length; // new arrivals at the bottom
    const list = all.slice(Math.max(0, all.length - shown));
    if (list.length === 0) items.append(h("li", { class: "empty" }, t("list.empty")));
    if (list.length < all.length) items.append(h("li", { class: "msg system" }, t("list.older")));
    for (const m of list) {
      if (m.notice !== undefined && m.deleted) continue;
      if (m.key === dividerKey) items.append(h("li", { class: "unread-divider" }, h("span", { role: "separator", "aria-label": t("list.new") }, t("list.new"))));
      items.append(source.item(m));
    }
    if (atBottom || follow) el.scrollTop = el.scrollHeight;
    updateJumps();
  };

  el.addEventListener("scroll", () => {
    follow = distanceFromBottom() < NEAR_BOTTOM;
    updateJumps();
    const all = source.messages();
    if (el.scrollTop >= 40 || all === null || loadingOlder) return;
    const height = el.scrollHeight;
    const keepPlace = (): void => {
      el.scrollTop = el.scrollHeight - height;
    };
    if (shown < all.length) {
      // Older messages this device already holds: render another page of them.
      shown = Math.min(all.length, shown + PAGE);
      render();
      keepPlace();
      return;
    }
    if (exhausted) return;
    loadingOlder = true;
    source
      .loadOlder()
      .then((n) => {
        if (n === 0) exhausted = true;
        else {
          shown += n;
          render();
          keepPlace();
        }
      })
      .catch(() => undefined)
      .finally(() => (loadingOlder = false));
  });

  const scrollToEnd = (): void => {
    el.scrollTop = el.scrollHeight;
    follow = true;
    updateJumps();
  };
  toLatest.addEventListener("click", () => {
    scrollToEnd();
    el.focus({ preventScroll: true });
  });
  toUnread.addEventListener("click", () => {
    const line = divider();
    if (line !== null) scrollTo(line, "start");
  });

  return {
    el,
    frame,
    render,
    reset() {
      exhausted = false;
      shown = PAGE;
      dividerKey = null;
      follow = true;
    },
    scrollToEnd,
    markUnread(key) {
      if (dividerKey !== null) return;
      dividerKey = key;
      const all = source.messages() ?? [];
      include(all, all.findIndex((m) => m.key === key));
    },
    hasDivider() {
      return dividerKey !== null;
    },
    scrollToFirstUnread() {
      const line = divider();
      if (line === null) {
        scrollToEnd();
        return;
      }
      scrollTo(line, "start");
      follow = distanceFromBottom() < NEAR_BOTTOM;
      updateJumps();
    },
    reveal(id) {
      const all = source.messages() ?? [];
      const index = all.findIndex((m) => m.id === id);
      if (index < 0) return false;
      if (all.length - index > shown) {
        include(all, index);
        render();
      }
      const target = el.querySelector<HTMLElement>(`li[data-id="${id}"]`);
      if (target === null) return false;
      scrollTo(target, "center");
      follow = distanceFromBottom() < NEAR_BOTTOM;
      updateJumps();
      target.classList.remove("flash");
      void target.offsetWidth; // restart the animation
      target.classList.add("flash");
      globalThis.setTimeout(() => target.classList.remove("flash"), 1600);
      return true;
    },
  };
}
