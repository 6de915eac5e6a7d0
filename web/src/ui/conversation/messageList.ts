// The message list: the newest PAGE messages this device holds, another page of them
// when scrolled to the top, then older history from the server (readable only if this
// device decrypted it before). Keeps the reader's place; follows new arrivals at the bottom.
import type { LocalMessage } from "../../app/store";
import { clear, h } from "../dom";

/** Messages rendered per page of the infinite scroll. */
const PAGE = 40;

export interface MessageListSource {
  /** The open chat's messages (null: none open). */
  messages(): LocalMessage[] | null;
  /** Asks the server for older messages; how many were added. */
  loadOlder(): Promise<number>;
  item(m: LocalMessage): HTMLElement;
}

export interface MessageListView {
  el: HTMLOListElement;
  render(): void;
  /** Another chat: back to its newest page. */
  reset(): void;
  scrollToEnd(): void;
}

export function messageList(source: MessageListSource): MessageListView {
  const el = h("ol", { class: "messages", role: "log", "aria-label": "Messages", "aria-live": "polite", tabindex: 0 });
  let shown = PAGE; // how many of the newest messages are rendered
  let loadingOlder = false;
  let exhausted = false;

  const render = (): void => {
    const all = source.messages();
    if (all === null) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    clear(el);
    if (atBottom && all.length > shown && all.length - shown <= 5) shown = all.length; // new arrivals at the bottom
    const list = all.slice(Math.max(0, all.length - shown));
    if (list.length === 0) el.append(h("li", { class: "empty" }, "No messages yet. Say hello — it is end-to-end encrypted."));
    if (list.length < all.length) el.append(h("li", { class: "msg system" }, "Scroll up for older messages"));
    for (const m of list) if (!(m.notice !== undefined && m.deleted)) el.append(source.item(m));
    if (atBottom || list.length < 30) el.scrollTop = el.scrollHeight;
  };

  el.addEventListener("scroll", () => {
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

  return {
    el,
    render,
    reset() {
      exhausted = false;
      shown = PAGE;
    },
    scrollToEnd() {
      el.scrollTop = el.scrollHeight;
    },
  };
}
