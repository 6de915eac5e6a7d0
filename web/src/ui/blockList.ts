// Settings → Blocked people: whom this user blocked (the server's list, which only this
// user can read), each with Unblock.
import { humanError } from "../api/client";
import { displayName } from "../app/format";
import type { Messenger } from "../app/messenger";
import { clear, h } from "./dom";

export interface BlockListHandle {
  el: HTMLElement;
  refresh(): void;
}

export function blockListSection(messenger: Messenger): BlockListHandle {
  const list = h("ul", { class: "block-list", "aria-label": "Blocked people" });
  const none = h("p", { class: "muted" }, "You have not blocked anyone.");
  const error = h("p", { class: "error", role: "alert" });
  const render = (): void => {
    clear(list);
    const users = messenger.blocks.list();
    none.hidden = users.length > 0;
    list.hidden = users.length === 0;
    for (const user of users) {
      const name = displayName(user, messenger.domain);
      const unblock = h("button", { type: "button", "aria-label": `Unblock ${name}` }, "Unblock");
      unblock.addEventListener("click", () => {
        unblock.disabled = true;
        error.textContent = "";
        messenger.blocks.unblock(user).catch((err: unknown) => {
          error.textContent = humanError(err);
          unblock.disabled = false;
        });
      });
      list.append(h("li", {}, h("span", { class: "block-name" }, name), unblock));
    }
  };
  messenger.addEventListener("change", (ev) => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind === "blocks") render();
  });
  render();
  const el = h(
    "section",
    { class: "block-settings", "aria-labelledby": "blocked-title" },
    h("h3", { id: "blocked-title" }, "Blocked people"),
    h("p", { class: "muted" }, "They cannot start a chat with you, add you to groups or write to you in a direct chat; their messages in groups are hidden. Block someone from their chat or a member list."),
    none,
    list,
    error,
  );
  return {
    el,
    refresh() {
      messenger.blocks.load().catch((err: unknown) => (error.textContent = humanError(err)));
    },
  };
}
