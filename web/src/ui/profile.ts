// Settings → Your profile: the display name and picture people in your chats see instead of your
// address. Sealed on this device under your profile key (app/profiles.ts); the server
// keeps ciphertext, your chats' members get the key end to end.
import { humanError } from "../api/client";
import type { Messenger } from "../app/messenger";
import { MAX_AVATAR_CHARS, MAX_DISPLAY_NAME } from "../crypto/profile";
import { t } from "../i18n/index";
import { h } from "./dom";

/** Longest side of a profile picture. */
const PICTURE_SIDE = 256;

/**
 * A picture for the profile: drawn onto a canvas at most 256 px a side and encoded afresh as
 * JPEG, so nothing of the file but its pixels goes on (no EXIF, no GPS, no name); the
 * quality goes down until it fits the profile.
 */
export async function pictureFrom(file: Blob, side = PICTURE_SIDE, maxChars = MAX_AVATAR_CHARS): Promise<string> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(t("profile.badPicture"));
  }
  const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const g = canvas.getContext("2d");
  if (g === null) throw new Error(t("profile.cannotDraw"));
  g.fillStyle = "#fff"; // JPEG has no transparency
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  for (const quality of [0.85, 0.7, 0.55, 0.4, 0.25]) {
    const url = canvas.toDataURL("image/jpeg", quality);
    if (url.length <= maxChars) return url;
  }
  throw new Error(t("profile.tooDetailed"));
}

export function profileSection(messenger: Messenger): HTMLElement {
  const input = h("input", { id: "display-name", maxlength: String(MAX_DISPLAY_NAME), autocomplete: "nickname", value: messenger.profiles.ownName }) as HTMLInputElement;
  const save = h("button", { type: "submit", class: "primary" }, t("profile.saveName"));
  const preview = h("img", { class: "profile-picture", alt: t("profile.yourPicture") }) as HTMLImageElement;
  const pick = h("input", { id: "profile-picture", type: "file", accept: "image/*" }) as HTMLInputElement;
  const removePicture = h("button", { type: "button" }, t("profile.removePicture"));
  const showPicture = (): void => {
    const url = messenger.profiles.ownAvatar;
    preview.hidden = url === undefined;
    removePicture.hidden = url === undefined;
    if (url !== undefined) preview.src = url;
  };
  showPicture();
  const savePicture = (avatar: string | undefined, done: string): void => {
    error.textContent = "";
    status.textContent = "";
    pick.disabled = true;
    messenger.profiles
      .save({ name: messenger.profiles.ownName, ...(avatar === undefined ? {} : { avatar }) })
      .then(() => {
        showPicture();
        status.textContent = done;
      })
      .catch((err: unknown) => (error.textContent = humanError(err)))
      .finally(() => {
        pick.disabled = false;
        pick.value = "";
      });
  };
  pick.addEventListener("change", () => {
    const file = pick.files?.[0];
    if (file === undefined) return;
    pictureFrom(file).then(
      (url) => savePicture(url, t("profile.pictureSaved")),
      (err: unknown) => (error.textContent = err instanceof Error ? err.message : humanError(err)),
    );
  });
  removePicture.addEventListener("click", () => savePicture(undefined, t("profile.pictureRemoved")));
  const status = h("p", { class: "muted", role: "status", "aria-label": t("profile.status") });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "profile-form", "aria-labelledby": "profile-title" },
    h("h3", { id: "profile-title" }, t("profile.title")),
    h("p", { class: "muted" }, t("profile.text", { user: messenger.user })),
    h("label", { for: "display-name" }, t("profile.displayName")),
    input,
    save,
    preview,
    h("label", { for: "profile-picture" }, t("profile.picture")),
    pick,
    removePicture,
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
        status.textContent = input.value === "" ? t("profile.nameRemoved") : t("profile.nameSaved");
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
