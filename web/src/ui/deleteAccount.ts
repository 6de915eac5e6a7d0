// Settings → Delete account: the password typed again and a box ticked to say what goes.
// The server deletes the account (it leaves every chat; the others' apps take it out of
// the groups); this browser forgets it, and the account's other devices wipe themselves.
import { ApiError, humanError } from "../api/client";
import { t } from "../i18n/index";
import { h } from "./dom";

export interface AccountDeletion {
  deleteAccount(password: string): Promise<void>;
}

export function deleteAccountSection(account: AccountDeletion, deleted: () => void): HTMLElement {
  const password = h("input", { id: "delete-password", type: "password", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const understood = h("input", { id: "delete-understood", type: "checkbox" }) as HTMLInputElement;
  const submit = h("button", { type: "submit", class: "danger" }, t("delete.submit"));
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "delete-account-form", "aria-labelledby": "delete-account-title" },
    h("h3", { id: "delete-account-title" }, t("delete.title")),
    h(
      "p",
      { class: "muted", id: "delete-account-what" },
      t("delete.text"),
    ),
    h("label", { for: "delete-password" }, t("delete.password")),
    password,
    h("label", { for: "delete-understood", class: "check" }, understood, t("delete.understood")),
    submit,
    error,
  );
  password.setAttribute("aria-describedby", "delete-account-what");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    if (!understood.checked) {
      error.textContent = t("delete.tick");
      understood.focus();
      return;
    }
    submit.disabled = true;
    account
      .deleteAccount(password.value)
      .then(deleted)
      .catch((err: unknown) => {
        const wrong = err instanceof ApiError && err.code === "wrong_password";
        error.textContent = wrong ? t("delete.wrongPassword") : humanError(err);
        if (wrong) password.focus();
        submit.disabled = false;
      });
  });
  return form;
}
