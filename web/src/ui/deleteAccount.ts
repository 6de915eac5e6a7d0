// Settings → Delete account: the password typed again and a box ticked to say what goes.
// The server deletes the account (it leaves every chat; the others' apps take it out of
// the groups); this browser forgets it, and the account's other devices wipe themselves.
import { ApiError, humanError } from "../api/client";
import { h } from "./dom";

export interface AccountDeletion {
  deleteAccount(password: string): Promise<void>;
}

export function deleteAccountSection(account: AccountDeletion, deleted: () => void): HTMLElement {
  const password = h("input", { id: "delete-password", type: "password", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const understood = h("input", { id: "delete-understood", type: "checkbox" }) as HTMLInputElement;
  const submit = h("button", { type: "submit", class: "danger" }, "Delete my account");
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "delete-account-form", "aria-labelledby": "delete-account-title" },
    h("h3", { id: "delete-account-title" }, "Delete account"),
    h(
      "p",
      { class: "muted", id: "delete-account-what" },
      "You leave every chat, and all your devices are signed out and forget your keys and messages. What you sent stays readable for the others. Your username is never given to anyone else. This cannot be undone.",
    ),
    h("label", { for: "delete-password" }, "Your password"),
    password,
    h("label", { for: "delete-understood", class: "check" }, understood, " I understand that my account and my messages on my devices are gone for good"),
    submit,
    error,
  );
  password.setAttribute("aria-describedby", "delete-account-what");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    if (!understood.checked) {
      error.textContent = "Tick the box to confirm.";
      understood.focus();
      return;
    }
    submit.disabled = true;
    account
      .deleteAccount(password.value)
      .then(deleted)
      .catch((err: unknown) => {
        const wrong = err instanceof ApiError && err.code === "wrong_password";
        error.textContent = wrong ? "The password is not right." : humanError(err);
        if (wrong) password.focus();
        submit.disabled = false;
      });
  });
  return form;
}
