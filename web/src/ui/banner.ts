// The connection banner: always visible, always truthful (role=status).
import { ApiError, humanError } from "../api/client";
import type { Messenger } from "../app/messenger";
import { clear, clockIcon, h } from "./dom";

export function connectionBanner(messenger: Messenger): HTMLElement {
  const el = h("div", { class: "banner", role: "status", "aria-live": "polite", "aria-label": "Connection" });
  const render = (): void => {
    const state = messenger.linkState;
    const queued = messenger.queued > 0;
    let text: string;
    let tone: string;
    if (messenger.accessProblem !== null) {
      text = messenger.accessProblem.title;
      tone = "error";
    } else if (queued && (!messenger.conn.online || messenger.stalled)) {
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
    if ((tone === "queued" || tone === "error") && queued) el.prepend(clockIcon(), " ");
    el.dataset["tone"] = tone;
  };
  messenger.addEventListener("change", (ev) => {
    const kind = (ev as CustomEvent<{ kind: string }>).detail.kind;
    if (kind === "link" || kind === "messages") render();
  });
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
    const retry = h("button", { type: "button", class: "primary" }, "Try again");
    retry.addEventListener("click", () => {
      retry.disabled = true;
      void messenger.retryAuth().finally(() => (retry.disabled = false));
    });
    el.append(
      h("h2", {}, problem.title),
      h("p", {}, problem.detail),
      ...(problem.password === true ? [signInAgainForm(messenger)] : []),
      h("div", { class: "access-actions" }, problem.retry ? retry : null, h("button", { type: "button", class: problem.retry || problem.password === true ? "" : "primary", onclick: signOut }, "Sign out of this browser")),
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
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in again");
  const error = h("p", { class: "error" });
  const form = h("form", { class: "sign-in-again" }, h("label", { for: "sign-in-again-password" }, "Password"), password, submit, error);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    messenger
      .signInAgain(password.value)
      .catch((err: unknown) => {
        error.textContent = err instanceof ApiError && err.code === "invalid_credentials" ? "That is not your account's password." : humanError(err);
        password.select();
      })
      .finally(() => (submit.disabled = false));
  });
  return form;
}
