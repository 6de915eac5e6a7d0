// Files picked, pasted or dropped wait above the text box before they go: a picture shows a
// preview, any file its name and size; what is written below becomes the caption; Send (or
// Enter) sends them, "Cancel" drops them and nothing left the device. The preview is a local
// object URL of the file itself, revoked when it goes or is dropped.
import { locale, t } from "../../i18n/index";
import { clear, h } from "../dom";

export interface StagedFiles {
  el: HTMLElement;
  readonly files: readonly File[];
  add(file: File): void;
  /** Takes the staged files out (to send them). */
  take(): File[];
  clear(): void;
}

function sizeText(bytes: number): string {
  const one = (n: number): string => n.toLocaleString(locale(), { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  if (bytes < 1024) return t("size.b", { n: bytes });
  if (bytes < 1024 * 1024) return t("size.kb", { n: one(bytes / 1024) });
  return t("size.mb", { n: one(bytes / (1024 * 1024)) });
}

export function stagedFiles(changed: (count: number) => void): StagedFiles {
  let files: File[] = [];
  let urls: string[] = [];
  const list = h("ul", { class: "staged-list" });
  const cancel = h("button", { type: "button", class: "link", "aria-label": t("staged.cancelLabel"), onclick: () => drop() }, t("staged.cancel"));
  const el = h(
    "div",
    { class: "staged", role: "group", "aria-label": t("staged.files") },
    list,
    h("p", { class: "staged-hint muted" }, t("staged.hint"), cancel),
  );
  el.hidden = true;

  const render = (): void => {
    for (const url of urls) URL.revokeObjectURL(url);
    urls = [];
    clear(list);
    for (const file of files) {
      let preview: HTMLElement = h("span", { class: "staged-icon", "aria-hidden": "true" }, "📄");
      if (file.type.startsWith("image/")) {
        const url = URL.createObjectURL(file);
        urls.push(url);
        preview = h("img", { class: "staged-preview", src: url, alt: t("staged.preview", { name: file.name }) });
      }
      list.append(h("li", { class: "staged-file" }, preview, h("span", { class: "staged-name" }, file.name), h("span", { class: "staged-size muted" }, sizeText(file.size))));
    }
    el.hidden = files.length === 0;
    changed(files.length);
  };
  const drop = (): void => {
    files = [];
    render();
  };
  return {
    el,
    get files() {
      return files;
    },
    add(file) {
      files = [...files, file].slice(0, 10);
      render();
    },
    take() {
      const taken = files;
      files = [];
      render();
      return taken;
    },
    clear: drop,
  };
}
