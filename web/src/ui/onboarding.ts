// Sign up (with the shown-once recovery phrase and its confirm step), sign in,
// recover, and unlock after a reload.
import { humanError } from "../api/client";
import { newRecoveryMnemonic } from "../crypto/recovery";
import type { Messenger } from "../app/messenger";
import type { Session } from "../app/session";
import { clear, h } from "./dom";

type Done = (messenger: Messenger) => void;

function field(label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  const id = `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
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
  button.textContent = "Please wait…";
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
    { class: "tabs", "aria-label": "Account" },
    h("button", { type: "button", "aria-pressed": String(tab === "signup"), onclick: () => showWelcome(root, session, done, "signup") }, "Create account"),
    h("button", { type: "button", "aria-pressed": String(tab === "signin"), onclick: () => showWelcome(root, session, done, "signin") }, "Sign in"),
    h("button", { type: "button", "aria-pressed": String(tab === "recover"), onclick: () => showWelcome(root, session, done, "recover") }, "Recover account"),
  );
  root.append(
    h("main", { class: "onboarding" }, h("div", { class: "card" }, h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "T"), h("h1", {}, "Talkee")), h("p", { class: "muted" }, "End-to-end encrypted messages. Your keys never leave this device."), tabs, panel)),
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
  const submit = h("button", { type: "submit", class: "primary" }, "Create account");
  const form = h("form", {}, field("Username", username), field("Password", password), field("Repeat password", repeat), error, submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    if (!/^[a-z0-9._-]{2,64}$/i.test(username.value.trim())) {
      error.textContent = "Usernames use letters, digits, dots, dashes and underscores.";
      return;
    }
    if (password.value.length < 10) {
      error.textContent = "Use at least 10 characters for the password.";
      return;
    }
    if (password.value !== repeat.value) {
      error.textContent = "The two passwords differ.";
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
  const next = h("button", { type: "button", class: "primary" }, "I have written it down");
  next.addEventListener("click", () => confirmPhrase(panel, session, done, username, password, mnemonic));
  panel.append(
    h("h2", {}, "Your recovery phrase"),
    h("p", {}, "Write these 12 words down and keep them safe. They are the only way back into your account if you forget your password. They are shown only once."),
    h("ol", { class: "phrase", "aria-label": "Recovery phrase" }, ...words.map((w) => h("li", {}, w))),
    next,
  );
}

function confirmPhrase(panel: HTMLElement, session: Session, done: Done, username: string, password: string, mnemonic: string): void {
  clear(panel);
  const words = mnemonic.split(" ");
  const picks = [2, 6, 10].map((i) => ({ i, input: h("input", { autocomplete: "off", autocapitalize: "none", spellcheck: "false", required: true }) }));
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, "Confirm and create account");
  const back = h("button", { type: "button", onclick: () => showPhrase(panel, session, done, username, password, mnemonic) }, "Show the phrase again");
  const form = h("form", {}, h("h2", {}, "Confirm your phrase"), h("p", {}, "Type these words from your phrase."), ...picks.map((p) => field(`Word ${p.i + 1}`, p.input)), error, submit, back);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (picks.some((p) => p.input.value.trim().toLowerCase() !== words[p.i])) {
      error.textContent = "That does not match your phrase. Check the words and try again.";
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
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  // Optional: with the phrase this device certifies itself with the account's identity key,
  // so other people's clients add it to their chats.
  const phrase = h("textarea", { rows: 2, autocapitalize: "none", spellcheck: "false", autocomplete: "off" });
  const form = h(
    "form",
    {},
    field("Username", username),
    field("Password", password),
    field("Recovery phrase (optional, lets your contacts trust this device)", phrase),
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
  const submit = h("button", { type: "submit", class: "primary" }, "Set new password");
  const form = h("form", {}, field("Username", username), field("Recovery phrase (12 words)", phrase), field("New password", password), error, submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(submit, error, async () => {
      await session.recover(username.value, phrase.value, password.value);
      showWelcome(root, session, done, "signin");
      const note = root.querySelector(".card-body");
      note?.prepend(h("p", { class: "note", role: "status" }, "Password changed and every old session signed out. Sign in with your new password."));
    });
  });
  panel.append(form);
}

export function showUnlock(root: HTMLElement, session: Session, done: Done, onForget: () => void): void {
  clear(root);
  const password = h("input", { type: "password", autocomplete: "current-password", required: true });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, "Unlock");
  const forget = h("button", { type: "button", class: "link" }, "Sign out and forget this browser");
  forget.addEventListener("click", () => {
    if (confirm("Forget this browser? Messages stored here are deleted.")) onForget();
  });
  const account = session.account();
  // The account's address also fills the password form's username field (password managers).
  const username = h("input", { type: "text", autocomplete: "username", value: account ?? "", hidden: true, "aria-hidden": "true", tabindex: -1 });
  const form = h("form", {}, username, field("Password", password), error, submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(submit, error, async () => done(await session.unlock(password.value)));
  });
  const whose =
    account === null
      ? h("p", { class: "muted" }, "Your messages on this device are locked. Enter your password to open them.")
      : h("p", { class: "muted" }, "The messages of ", h("strong", { class: "lock-account" }, account), " on this device are locked. Enter your password to open them.");
  root.append(
    h(
      "main",
      { class: "onboarding" },
      h("div", { class: "card" }, h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "T"), h("h1", {}, "Talkee")), h("h2", {}, "Welcome back"), whose, h("div", { class: "card-body" }, form, forget)),
    ),
  );
  password.focus();
}
