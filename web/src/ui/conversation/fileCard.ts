// A file attached to a message: name, size, Download, and an image's preview (decrypted
// once per blob and kept as an object URL for the conversation's life).
import { humanError } from "../../api/client";
import type { FileReference } from "../../crypto/payload";
import { h } from "../dom";

export interface FileActions {
  open(ref: FileReference): Promise<Blob>;
  say(text: string): void;
}

export function fileCards(actions: FileActions): (ref: FileReference) => HTMLElement {
  const previews = new Map<string, string>();
  return (ref) => {
    const card = h("div", { class: "file" });
    const size = ref.size < 1024 * 1024 ? `${Math.max(1, Math.round(ref.size / 1024))} KB` : `${(ref.size / 1024 / 1024).toFixed(1)} MB`;
    const download = h("button", { type: "button", "aria-label": `Download ${ref.name}` }, "Download");
    download.addEventListener("click", () => {
      download.disabled = true;
      actions
        .open(ref)
        .then((blob) => {
          const url = URL.createObjectURL(blob);
          const a = h("a", { href: url, download: ref.name });
          document.body.append(a);
          a.click();
          a.remove();
          window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
        })
        .catch((err: unknown) => actions.say(humanError(err)))
        .finally(() => (download.disabled = false));
    });
    if (ref.mime.startsWith("image/") && ref.size <= 8 * 1024 * 1024) {
      const img = h("img", { alt: ref.name, class: "preview" });
      const cached = previews.get(ref.blob_id);
      if (cached !== undefined) img.src = cached;
      else
        void actions
          .open(ref)
          .then((blob) => {
            const url = URL.createObjectURL(blob);
            previews.set(ref.blob_id, url);
            img.src = url;
          })
          .catch(() => img.replaceWith(h("span", { class: "muted" }, "Preview unavailable")));
      card.append(img);
    }
    card.append(h("span", { class: "file-name" }, ref.name), h("span", { class: "file-size" }, size), download);
    return card;
  };
}
