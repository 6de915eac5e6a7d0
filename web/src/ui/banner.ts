// The connection banner: always visible, always truthful (role=status).
import type { Messenger } from "../app/messenger";
import { clockIcon, h } from "./dom";

export function connectionBanner(messenger: Messenger): HTMLElement {
  const el = h("div", { class: "banner", role: "status", "aria-live": "polite", "aria-label": "Connection" });
  const render = (): void => {
    const state = messenger.linkState;
    const queued = messenger.queued > 0;
    let text: string;
    let tone: string;
    if (queued && (!messenger.conn.online || messenger.stalled)) {
      text = "Message queued for delivery";
      tone = "queued";
    } else if (state === "connected") {
      text = "Connected";
      tone = "ok";
    } else if (state === "alternative") {
      text = "Reconnecting via alternative route";
      tone = "warn";
    } else if (state === "dns") {
      text = "DNS fallback active";
      tone = "warn";
    } else if (state === "offline") {
      text = "Offline — new messages will be queued";
      tone = "queued";
    } else {
      text = "Connecting…";
      tone = "warn";
    }
    el.textContent = text;
    if (tone === "queued" && queued) el.prepend(clockIcon(), " ");
    el.dataset["tone"] = tone;
  };
  messenger.addEventListener("change", (ev) => {
    const kind = (ev as CustomEvent<{ kind: string }>).detail.kind;
    if (kind === "link" || kind === "messages") render();
  });
  render();
  return el;
}
