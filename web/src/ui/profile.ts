// Settings → Your profile: the display name people in your chats see instead of your
// address. Sealed on this device under your profile key (app/profiles.ts); the server
// keeps ciphertext, your chats' members get the key end to end.
import { humanError } from "../api/client";
import type { Messenger } from "../app/messenger";
import { MAX_DISPLAY_NAME } from "../crypto/profile";
import { h } from "./dom";

export function profileSection(messenger: Messenger): HTMLElement {
  const input = h("input", { id: "display-name", maxlength: String(MAX_DISPLAY_NAME), autocomplete: "nickname", value: messenger.profiles.ownName }) as HTMLInputElement;
  const save = h("button", { type: "submit", class: "primary" }, "Save name");
  const status = h("p", { class: "muted", role: "status", "aria-label": "Profile" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "profile-form", "aria-labelledby": "profile-title" },
    h("h3", { id: "profile-title" }, "Your profile"),
    h("p", { class: "muted" }, `People in your chats see this name beside your address (${messenger.user}). It is encrypted on this device; only they receive the key, the server cannot read it.`),
    h("label", { for: "display-name" }, "Display name"),
    input,
    save,
    status,
    error,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    status.textContent = "";
    save.disabled = true;
    messenger.profiles
      .setName(input.value)
      .then(() => {
        input.value = messenger.profiles.ownName;
        status.textContent = input.value === "" ? "Your display name was removed." : "Your display name was saved.";
      })
      .catch((err: unknown) => (error.textContent = humanError(err)))
      .finally(() => (save.disabled = false));
  });
  // Learnt from another of our devices after this screen was made.
  messenger.addEventListener("change", (ev) => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind === "chats" && document.activeElement !== input && !save.disabled) input.value = messenger.profiles.ownName;
  });
  return form;
}
