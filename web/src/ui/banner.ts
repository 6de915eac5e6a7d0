// The connection banner: always visible, always truthful. Its status line (role=status)
// names the carrier the server really answered over, or says the app is offline and how
// many messages wait; beside it, while nothing is up, when the next attempt is and "Retry now".
import { ApiError, humanError } from "../api/client";
import type { Messenger } from "../app/messenger";
import type { Carrier, LinkState } from "../transport/connection";
import { t } from "../i18n/index";
import { clear, clockIcon, h } from "./dom";

export interface LinkView {
  state: LinkState;
  /** The carrier up (the server answered over it); null: none. */
  carrier: Carrier | null;
  /** The DoH resolver the DNS tunnel goes through (carrier `dns`). */
  resolverHost: string | null;
  /** Messages in the outbox. */
  queued: number;
  /** The last send got no answer although a carrier is up. */
  stalled: boolean;
  /** Why the server will not let this device in (its title), if it will not. */
  problem: string | null;
  /** An attempt is under way. */
  trying: boolean;
  /** Milliseconds until the next attempt by itself; null: none scheduled. */
  retryInMs: number | null;
  /** The browser says there is no network. */
  networkDown: boolean;
}

export interface BannerText {
  /** The status line. */
  text: string;
  tone: "ok" | "warn" | "queued" | "error";
  /** What happens next, beside the status line (not announced). */
  detail: string;
  /** "Retry now" is offered. */
  retry: boolean;
}

function waiting(n: number): string {
  return t("banner.waiting", { count: n });
}

const CARRIER_TEXT: Record<Exclude<Carrier, "websocket" | "dns">, () => string> = {
  longpoll: () => t("banner.longpoll"),
  doh: () => t("banner.doh"),
};

/** What the banner says for a link: a carrier only when it is up, else offline with the outbox's count. */
export function describeLink(view: LinkView): BannerText {
  if (view.problem !== null) return { text: view.problem, tone: "error", detail: "", retry: false };
  if (view.carrier !== null) {
    if (view.queued > 0 && view.stalled) {
      return { text: t("banner.queued"), tone: "queued", detail: t("banner.queuedDetail"), retry: false };
    }
    if (view.carrier === "websocket") return { text: t("banner.connected"), tone: "ok", detail: "", retry: false };
    const text = view.carrier === "dns" ? t("banner.dns", { resolver: view.resolverHost ?? t("banner.aResolver") }) : CARRIER_TEXT[view.carrier]();
    return { text, tone: "warn", detail: "", retry: false };
  }
  let detail: string;
  if (view.trying) detail = t("banner.trying");
  else if (view.retryInMs !== null) detail = t("banner.retryIn", { count: Math.max(1, Math.ceil(view.retryInMs / 1000)) });
  else if (view.networkDown) detail = t("banner.noNetwork");
  else detail = "";
  if (view.state === "connecting") {
    return { text: view.queued > 0 ? t("banner.connectingWaiting", { waiting: waiting(view.queued) }) : t("banner.connecting"), tone: "warn", detail: "", retry: false };
  }
  const text = view.queued > 0 ? t("banner.offlineWaiting", { waiting: waiting(view.queued) }) : t("banner.offline");
  return { text, tone: "queued", detail, retry: true };
}

export function connectionBanner(messenger: Messenger): HTMLElement {
  const conn = messenger.conn;
  const status = h("span", { class: "banner-status", role: "status", "aria-live": "polite", "aria-label": t("banner.label") });
  const detail = h("span", { class: "banner-detail" });
  const retry = h("button", { type: "button", class: "banner-retry" }, t("banner.retry"));
  const el = h("div", { class: "banner" }, status, detail, retry);
  let ticker: number | null = null;
  let shownText = "";
  let shownClock = false;
  const render = (): void => {
    const shown = describeLink({
      state: conn.state,
      carrier: conn.carrier,
      resolverHost: conn.resolverHost,
      queued: messenger.queued,
      stalled: messenger.stalled,
      problem: messenger.accessProblem?.title ?? null,
      trying: conn.trying,
      retryInMs: conn.retryAt === null ? null : conn.retryAt - Date.now(),
      networkDown: !navigator.onLine,
    });
    const clock = (shown.tone === "queued" || shown.tone === "error") && messenger.queued > 0;
    // Rewritten only when it changes: a live region announces every rewrite.
    if (shown.text !== shownText || clock !== shownClock) {
      shownText = shown.text;
      shownClock = clock;
      status.textContent = shown.text;
      if (clock) status.prepend(clockIcon(), " ");
    }
    el.dataset["tone"] = shown.tone;
    detail.textContent = shown.detail;
    detail.hidden = shown.detail === "";
    retry.hidden = !shown.retry;
    retry.disabled = conn.trying;
    // The countdown moves while an attempt is scheduled.
    if (conn.retryAt !== null && ticker === null) ticker = window.setInterval(render, 1000);
    if (conn.retryAt === null && ticker !== null) {
      window.clearInterval(ticker);
      ticker = null;
    }
  };
  retry.addEventListener("click", () => {
    conn.retryNow();
    render();
  });
  messenger.addEventListener("change", (ev) => {
    const kind = (ev as CustomEvent<{ kind: string }>).detail.kind;
    if (kind === "link" || kind === "messages") render();
  });
  conn.addEventListener("change", render);
  render();
  return el;
}

/** What went wrong when the server would not let this device back in, and what to do. */
export function accessNotice(messenger: Messenger, signOut: () => void): HTMLElement {
  const el = h("div", { class: "access-problem", role: "alert" });
  const render = (): void => {
    const problem = messenger.accessProblem;
    el.hidden = problem === null;
    clear(el);
    if (problem === null) return;
    const retry = h("button", { type: "button", class: "primary" }, t("banner.tryAgain"));
    retry.addEventListener("click", () => {
      retry.disabled = true;
      void messenger.retryAuth().finally(() => (retry.disabled = false));
    });
    el.append(
      h("h2", {}, problem.title),
      h("p", {}, problem.detail),
      ...(problem.password === true ? [signInAgainForm(messenger)] : []),
      h("div", { class: "access-actions" }, problem.retry ? retry : null, h("button", { type: "button", class: problem.retry || problem.password === true ? "" : "primary", onclick: signOut }, t("banner.signOut"))),
    );
  };
  messenger.addEventListener("change", (ev) => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind === "link") render();
  });
  render();
  return el;
}

/** After a sign-out or a password change elsewhere: the person's password signs this device in again. */
function signInAgainForm(messenger: Messenger): HTMLElement {
  const password = h("input", { id: "sign-in-again-password", type: "password", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const submit = h("button", { type: "submit", class: "primary" }, t("banner.signInAgain"));
  const error = h("p", { class: "error" });
  const form = h("form", { class: "sign-in-again" }, h("label", { for: "sign-in-again-password" }, t("banner.password")), password, submit, error);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    messenger
      .signInAgain(password.value)
      .catch((err: unknown) => {
        error.textContent = err instanceof ApiError && err.code === "invalid_credentials" ? t("banner.notYourPassword") : humanError(err);
        password.select();
      })
      .finally(() => (submit.disabled = false));
  });
  return form;
}
