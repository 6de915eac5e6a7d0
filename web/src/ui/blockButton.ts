// Block / Unblock one person (the direct chat's header, each row of the members panel).
// Blocking asks first; the button follows the list (`blocks` changes) wherever it is.
import { humanError } from "../api/client";
import { displayName } from "../app/format";
import type { Messenger } from "../app/messenger";
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
    el.textContent = blocked ? "Unblock" : "Block";
    el.setAttribute("aria-label", `${blocked ? "Unblock" : "Block"} ${name}`);
    el.setAttribute("aria-pressed", String(blocked));
  };
  el.addEventListener("click", () => {
    if (user === null) return;
    const target = user;
    const name = displayName(target, messenger.domain);
    const blocked = messenger.blocks.has(target);
    if (!blocked && !confirm(`Block ${name}? They cannot start a chat with you, add you to groups or write to you here, and their messages in groups are hidden. They are not told.`)) return;
    el.disabled = true;
    say("");
    (blocked ? messenger.blocks.unblock(target) : messenger.blocks.block(target))
      .then(() => say(blocked ? `${name} is unblocked.` : `${name} is blocked.`))
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
