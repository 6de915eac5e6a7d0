// Owners and admins give a group or channel a picture, or take it away. The file is drawn
// afresh on this device as a small JPEG (nothing of it but its pixels goes on: no EXIF, no
// GPS, no name) and sealed with the group's name (app/groupMeta.ts); every member sees who
// changed it.
import { humanError } from "../api/client";
import { GROUP_PICTURE_SIDE, MAX_GROUP_PICTURE_CHARS } from "../app/groupMeta";
import type { Messenger } from "../app/messenger";
import { t } from "../i18n/index";
import { h } from "./dom";
import { pictureFrom } from "./profile";

export function groupPictureForm(messenger: Messenger, chatId: string): HTMLElement {
  const chat = (): ReturnType<typeof messenger.store.chats.get> => messenger.store.chats.get(chatId);
  const what = t(chat()?.kind === "channel" ? "members.channelPicture" : "members.groupPicture");
  const preview = h("img", { class: "group-picture", alt: what }) as HTMLImageElement;
  const pick = h("input", { id: "group-picture", type: "file", accept: "image/*" }) as HTMLInputElement;
  const remove = h("button", { type: "button" }, t("profile.removePicture"));
  const error = h("p", { class: "error", role: "alert" });
  const show = (): void => {
    const picture = chat()?.picture;
    preview.hidden = remove.hidden = picture === undefined;
    if (picture !== undefined) preview.src = picture;
  };
  const save = (picture: string | null): void => {
    error.textContent = "";
    pick.disabled = remove.disabled = true;
    messenger
      .setGroupPicture(chatId, picture)
      .then(show, (err: unknown) => (error.textContent = humanError(err)))
      .finally(() => {
        pick.disabled = remove.disabled = false;
        pick.value = "";
      });
  };
  pick.addEventListener("change", () => {
    const file = pick.files?.[0];
    if (file === undefined) return;
    pictureFrom(file, GROUP_PICTURE_SIDE, MAX_GROUP_PICTURE_CHARS).then(save, (err: unknown) => (error.textContent = err instanceof Error ? err.message : humanError(err)));
  });
  remove.addEventListener("click", () => save(null));
  show();
  return h("div", { class: "group-picture-form" }, h("label", { for: "group-picture" }, what), preview, pick, remove, error);
}
