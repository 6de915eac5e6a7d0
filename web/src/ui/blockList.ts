// Settings → Blocked people: whom this user blocked (the server's list, which only this
// user can read), each with Unblock.
import { humanError } from "../api/client";
import { displayName } from "../app/format";
import type { Messenger } from "../app/messenger";
import { t } from "../i18n/index";
import { clear, h } from "./dom";

export interface BlockListHandle {
  el: HTMLElement;
  refresh(): void;
}

export function blockListSection(messenger: Messenger): BlockListHandle {
  const list = h("ul", { class: "block-list", "aria-label": t("blocked.list") });
  const none = h("p", { class: "muted" }, t("blocked.none"));
  const error = h("p", { class: "error", role: "alert" });
  const render = (): void => {
    clear(list);
    const users = messenger.blocks.list();
    none.hidden = users.length > 0;
    list.hidden = users.length === 0;
    for (const user of users) {
      const name = displayName(user, messenger.domain);
      const unblock = h("button", { type: "button", "aria-label": t("blocked.unblockName", { name }) }, t("blocked.unblock"));
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
    h("h3", { id: "blocked-title" }, t("blocked.list")),
    h("p", { class: "muted" }, t("blocked.text")),
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
