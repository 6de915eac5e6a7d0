// Sign up (with the shown-once recovery phrase and its confirm step), sign in,
// recover, and unlock after a reload.
import { humanError } from "../api/client";
import { newRecoveryMnemonic } from "../crypto/recovery";
import type { Messenger } from "../app/messenger";
import type { Session } from "../app/session";
import { t } from "../i18n/index";
import { clear, h } from "./dom";

type Done = (messenger: Messenger) => void;

/** A labelled input; `name` makes its id (the label is in the interface's language). */
function field(name: string, label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  const id = `f-${name}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function errorBox(): HTMLElement {
  return h("p", { class: "error", role: "alert" });
}

async function busy(button: HTMLButtonElement, error: HTMLElement, work: () => Promise<void>): Promise<void> {
  error.textContent = "";
  button.disabled = true;
  const label = button.textContent;
  button.textContent = t("onboarding.wait");
  try {
    await work();
  } catch (err) {
    console.warn(err);
    error.textContent = humanError(err);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

export function showWelcome(root: HTMLElement, session: Session, done: Done, tab: "signup" | "signin" | "recover" = "signup", note?: string): void {
  clear(root);
  const panel = h("div", { class: "card-body" });
  if (note !== undefined) panel.append(h("p", { class: "note warn", role: "status" }, note));
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": t("onboarding.tabs") },
    h("button", { type: "button", "aria-pressed": String(tab === "signup"), onclick: () => showWelcome(root, session, done, "signup") }, t("onboarding.tabSignUp")),
    h("button", { type: "button", "aria-pressed": String(tab === "signin"), onclick: () => showWelcome(root, session, done, "signin") }, t("onboarding.signIn")),
    h("button", { type: "button", "aria-pressed": String(tab === "recover"), onclick: () => showWelcome(root, session, done, "recover") }, t("onboarding.recover")),
  );
  root.append(
    h("main", { class: "onboarding" }, h("div", { class: "card" }, h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "T"), h("h1", {}, "Talkee")), h("p", { class: "muted" }, t("onboarding.tagline")), tabs, panel)),
  );
  if (tab === "signup") signUpForm(panel, session, done);
  else if (tab === "signin") signInForm(panel, session, done);
  else recoverForm(panel, session, root, done);
}

function signUpForm(panel: HTMLElement, session: Session, done: Done): void {
  const username = h("input", { autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const repeat = h("input", { type: "password", autocomplete: "new-password", required: true });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, t("onboarding.createAccount"));
  const form = h(
    "form",
    {},
    field("username", t("onboarding.username"), username),
    field("password", t("onboarding.password"), password),
    field("repeat-password", t("onboarding.repeatPassword"), repeat),
    error,
    submit,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    if (!/^[a-z0-9._-]{2,64}$/i.test(username.value.trim())) {
      error.textContent = t("onboarding.badUsername");
      return;
    }
    if (password.value.length < 10) {
      error.textContent = t("onboarding.shortPassword");
      return;
    }
    if (password.value !== repeat.value) {
      error.textContent = t("onboarding.passwordsDiffer");
      return;
    }
    showPhrase(panel, session, done, username.value.trim(), password.value, newRecoveryMnemonic());
  });
  panel.append(form);
}

/** The phrase and its confirmation come before the account exists: no tab may leave them half done. */
function hideTabs(panel: HTMLElement): void {
  const tabs = panel.closest(".card")?.querySelector<HTMLElement>(".tabs");
  if (tabs) tabs.hidden = true;
}

function showPhrase(panel: HTMLElement, session: Session, done: Done, username: string, password: string, mnemonic: string): void {
  clear(panel);
  hideTabs(panel);
  const words = mnemonic.split(" ");
  const next = h("button", { type: "button", class: "primary" }, t("onboarding.writtenDown"));
  next.addEventListener("click", () => confirmPhrase(panel, session, done, username, password, mnemonic));
  panel.append(
    h("h2", {}, t("onboarding.phraseTitle")),
    h("p", {}, t("onboarding.phraseText")),
    h("ol", { class: "phrase", "aria-label": t("onboarding.phraseList") }, ...words.map((w) => h("li", {}, w))),
    next,
  );
}

function confirmPhrase(panel: HTMLElement, session: Session, done: Done, username: string, password: string, mnemonic: string): void {
  clear(panel);
  const words = mnemonic.split(" ");
  const picks = [2, 6, 10].map((i) => ({ i, input: h("input", { autocomplete: "off", autocapitalize: "none", spellcheck: "false", required: true }) }));
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, t("onboarding.confirmCreate"));
  const back = h("button", { type: "button", onclick: () => showPhrase(panel, session, done, username, password, mnemonic) }, t("onboarding.showAgain"));
  const form = h(
    "form",
    {},
    h("h2", {}, t("onboarding.confirmTitle")),
    h("p", {}, t("onboarding.confirmText")),
    ...picks.map((p) => field(`word-${p.i + 1}`, t("onboarding.word", { n: p.i + 1 }), p.input)),
    error,
    submit,
    back,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (picks.some((p) => p.input.value.trim().toLowerCase() !== words[p.i])) {
      error.textContent = t("onboarding.phraseMismatch");
      return;
    }
    void busy(submit, error, async () => done(await session.signUp(username, password, mnemonic)));
  });
  panel.append(form);
}

function signInForm(panel: HTMLElement, session: Session, done: Done): void {
  const username = h("input", { autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { type: "password", autocomplete: "current-password", required: true });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, t("onboarding.signIn"));
  // Optional: with the phrase this device certifies itself with the account's identity key,
  // so other people's clients add it to their chats.
  const phrase = h("textarea", { rows: 2, autocapitalize: "none", spellcheck: "false", autocomplete: "off" });
  const form = h(
    "form",
    {},
    field("username", t("onboarding.username"), username),
    field("password", t("onboarding.password"), password),
    field("recovery-phrase", t("onboarding.phraseOptional"), phrase),
    error,
    submit,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(submit, error, async () => done(await session.signIn(username.value, password.value, phrase.value)));
  });
  panel.append(form);
}

function recoverForm(panel: HTMLElement, session: Session, root: HTMLElement, done: Done): void {
  const username = h("input", { autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const phrase = h("textarea", { rows: 3, required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, t("onboarding.setPassword"));
  const form = h(
    "form",
    {},
    field("username", t("onboarding.username"), username),
    field("recovery-phrase", t("onboarding.phrase12"), phrase),
    field("new-password", t("onboarding.newPassword"), password),
    error,
    submit,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(submit, error, async () => {
      await session.recover(username.value, phrase.value, password.value);
      showWelcome(root, session, done, "signin");
      const note = root.querySelector(".card-body");
      note?.prepend(h("p", { class: "note", role: "status" }, t("onboarding.recovered")));
    });
  });
  panel.append(form);
}

export function showUnlock(root: HTMLElement, session: Session, done: Done, onForget: () => void): void {
  clear(root);
  const password = h("input", { type: "password", autocomplete: "current-password", required: true });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, t("onboarding.unlock"));
  const forget = h("button", { type: "button", class: "link" }, t("onboarding.forget"));
  forget.addEventListener("click", () => {
    if (confirm(t("onboarding.confirmForget"))) onForget();
  });
  const account = session.account();
  // The account's address also fills the password form's username field (password managers).
  const username = h("input", { type: "text", autocomplete: "username", value: account ?? "", hidden: true, "aria-hidden": "true", tabindex: -1 });
  const form = h("form", {}, username, field("password", t("onboarding.password"), password), error, submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(submit, error, async () => done(await session.unlock(password.value)));
  });
  const whose =
    account === null
      ? h("p", { class: "muted" }, t("onboarding.locked"))
      : h("p", { class: "muted" }, t("onboarding.lockedBefore"), h("strong", { class: "lock-account" }, account), t("onboarding.lockedAfter"));
  root.append(
    h(
      "main",
      { class: "onboarding" },
      h("div", { class: "card" }, h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "T"), h("h1", {}, "Talkee")), h("h2", {}, t("onboarding.welcomeBack")), whose, h("div", { class: "card-body" }, form, forget)),
    ),
  );
  password.focus();
}
