// Block / Unblock one person (the direct chat's header, each row of the members panel).
// Blocking asks first; the button follows the list (`blocks` changes) wherever it is.
import { humanError } from "../api/client";
import { displayName } from "../app/format";
import type { Messenger } from "../app/messenger";
import { t } from "../i18n/index";
import { h } from "./dom";

export interface BlockToggle {
  el: HTMLButtonElement;
  /** The person the button is for now (null: hidden). */
  setUser(user: string | null): void;
}

export function blockToggle(messenger: Messenger, say: (text: string) => void): BlockToggle {
  const el = h("button", { type: "button", class: "block-toggle danger" }) as HTMLButtonElement;
  let user: string | null = null;
  const render = (): void => {
    el.hidden = user === null;
    if (user === null) return;
    const name = displayName(user, messenger.domain);
    const blocked = messenger.blocks.has(user);
    el.textContent = blocked ? t("blocked.unblock") : t("block.block");
    el.setAttribute("aria-label", blocked ? t("blocked.unblockName", { name }) : t("block.blockName", { name }));
    el.setAttribute("aria-pressed", String(blocked));
  };
  el.addEventListener("click", () => {
    if (user === null) return;
    const target = user;
    const name = displayName(target, messenger.domain);
    const blocked = messenger.blocks.has(target);
    if (!blocked && !confirm(t("block.confirm", { name }))) return;
    el.disabled = true;
    say("");
    (blocked ? messenger.blocks.unblock(target) : messenger.blocks.block(target))
      .then(() => say(blocked ? t("block.unblocked", { name }) : t("block.blocked", { name })))
      .catch((err: unknown) => say(humanError(err)))
      .finally(() => (el.disabled = false));
  });
  let shown = false;
  const onChange = (ev: Event): void => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind !== "blocks") return;
    // A panel re-rendered without this button: stop listening.
    if (!el.isConnected && shown) messenger.removeEventListener("change", onChange);
    else render();
  };
  messenger.addEventListener("change", onChange);
  return {
    el,
    setUser(next) {
      user = next;
      shown = true;
      render();
    },
  };
}
