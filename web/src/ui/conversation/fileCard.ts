// A file attached to a message: name, size, Download. Pictures show inline — first the
// thumbnail the message carries, then the full picture, decrypted with a progress bar —
// and open full size in the viewer (./imageView); MP4/WebM videos play inline from the
// decrypted blob. Decrypted files are kept as object URLs for the conversation's life.
import { humanError } from "../../api/client";
import { fitWithin, isInlineImage, isInlineVideo, sizeOf, thumbnailOf } from "../../app/images";
import type { FileReference } from "../../crypto/payload";
import { locale, t } from "../../i18n/index";
import { h } from "../dom";
import { openImageViewer } from "./imageView";

/** Larger pictures and videos load only when asked for (the viewer, Play). */
const AUTOLOAD_BYTES = 8 * 1024 * 1024;
/** Longest side of a picture or video in the conversation (CSS px). */
const INLINE_EDGE = 320;

/** Gives `el` the size it will show at (from the sender's numbers), so the list does not jump when it loads. */
function reserve(el: HTMLImageElement | HTMLVideoElement, ref: FileReference): void {
  const size = sizeOf(ref);
  if (size === null) return;
  const shown = fitWithin(size.width, size.height, INLINE_EDGE);
  el.width = shown.width;
  el.height = shown.height;
}

export interface FileActions {
  /** Downloads and decrypts; `progress` 0…1. */
  open(ref: FileReference, progress?: (fraction: number) => void): Promise<Blob>;
  say(text: string): void;
}

export function sizeText(size: number): string {
  return size < 1024 * 1024 ? t("size.kb", { n: Math.max(1, Math.round(size / 1024)) }) : t("size.mb", { n: (size / 1024 / 1024).toLocaleString(locale(), { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
}

export function fileCards(actions: FileActions): (ref: FileReference) => HTMLElement {
  const decrypted = new Map<string, Promise<string>>();
  const thumbs = new Map<string, string | null>();
  const progressOf = new Map<string, Set<(fraction: number) => void>>();

  /** The decrypted file's object URL (one download per blob, whoever asks; `progress` follows it while it runs). */
  const load = (ref: FileReference, progress?: (fraction: number) => void): Promise<string> => {
    const known = decrypted.get(ref.blob_id);
    if (known !== undefined) {
      if (progress !== undefined) progressOf.get(ref.blob_id)?.add(progress);
      return known;
    }
    const listeners = new Set(progress === undefined ? [] : [progress]);
    progressOf.set(ref.blob_id, listeners);
    const url = actions
      .open(ref, (f) => listeners.forEach((l) => l(f)))
      .then((blob) => URL.createObjectURL(blob))
      .finally(() => progressOf.delete(ref.blob_id));
    url.catch(() => decrypted.delete(ref.blob_id));
    decrypted.set(ref.blob_id, url);
    return url;
  };
  const thumbUrl = (ref: FileReference): string | null => {
    if (!thumbs.has(ref.blob_id)) {
      const blob = thumbnailOf(ref);
      thumbs.set(ref.blob_id, blob === null ? null : URL.createObjectURL(blob));
    }
    return thumbs.get(ref.blob_id) ?? null;
  };
  /** Saves the file under its name; a picture or video comes from what the conversation decrypted, anything else is fetched for this (with `bar` moving). */
  const saveAs = (ref: FileReference, button: HTMLButtonElement, bar: HTMLProgressElement | null): void => {
    button.disabled = true;
    const kept = isInlineImage(ref) || isInlineVideo(ref);
    if (bar !== null) bar.hidden = false;
    const progress = (f: number): void => void (bar !== null && (bar.value = Math.round(f * 100)));
    const url = kept ? load(ref, progress) : actions.open(ref, progress).then((blob) => URL.createObjectURL(blob));
    url
      .then((href) => {
        const a = h("a", { href, download: ref.name });
        document.body.append(a);
        a.click();
        a.remove();
        if (!kept) window.setTimeout(() => URL.revokeObjectURL(href), 60_000);
      })
      .catch((err: unknown) => actions.say(humanError(err)))
      .finally(() => {
        button.disabled = false;
        if (bar !== null) bar.hidden = true;
      });
  };
  const progressBar = (ref: FileReference): HTMLProgressElement => {
    const bar = h("progress", { class: "download", max: 100, value: 0, "aria-label": t("file.downloadProgress", { name: ref.name }) });
    bar.hidden = true;
    return bar;
  };
  /** Loads into `show` with `bar` moving meanwhile. */
  const fill = (ref: FileReference, bar: HTMLProgressElement, show: (url: string) => void, failed: () => void): void => {
    bar.hidden = false;
    load(ref, (f) => (bar.value = Math.round(f * 100)))
      .then((url) => {
        bar.hidden = true;
        show(url);
      })
      .catch(() => {
        bar.hidden = true;
        failed();
      });
  };

  const picture = (ref: FileReference, card: HTMLElement, download: HTMLButtonElement): void => {
    const img = h("img", { alt: ref.name, class: "preview" });
    reserve(img, ref);
    const thumb = thumbUrl(ref);
    if (thumb !== null) img.src = thumb;
    const bar = progressBar(ref);
    const open = h("button", { type: "button", class: "media-open", "aria-label": t("file.viewFull", { name: ref.name }) }, img);
    open.addEventListener("click", () => {
      // What the viewer loads replaces the thumbnail here too.
      const full = (progress: (f: number) => void): Promise<string> => load(ref, progress).then((url) => ((img.src = url), url));
      openImageViewer({ name: ref.name, alt: ref.name, load: full, download: () => saveAs(ref, download, null) });
    });
    card.append(open, bar);
    if (ref.size <= AUTOLOAD_BYTES)
      fill(
        ref,
        bar,
        (url) => (img.src = url),
        () => {
          if (thumb === null) open.replaceWith(h("span", { class: "muted" }, t("file.noPreview")));
        },
      );
  };

  const video = (ref: FileReference, card: HTMLElement): void => {
    const player = h("video", { class: "preview", controls: true, playsinline: true, preload: "metadata", "aria-label": t("file.video", { name: ref.name }) });
    reserve(player, ref);
    const thumb = thumbUrl(ref);
    if (thumb !== null) player.poster = thumb;
    const bar = progressBar(ref);
    const failed = (): void => actions.say(`${ref.name} could not be loaded.`);
    card.append(player, bar);
    // The bytes are in memory once decrypted: the player may read them all at once.
    const show = (url: string): void => {
      player.preload = "auto";
      player.src = url;
    };
    if (ref.size <= AUTOLOAD_BYTES) {
      fill(ref, bar, show, failed);
      return;
    }
    const play = h("button", { type: "button", class: "media-play" }, t("file.playVideo", { size: sizeText(ref.size) }));
    play.addEventListener("click", () => {
      play.remove();
      fill(ref, bar, (url) => (show(url), void player.play().catch(() => undefined)), failed);
    });
    card.append(play);
  };

  return (ref) => {
    const media = isInlineImage(ref) ? "image" : isInlineVideo(ref) ? "video" : null;
    const card = h("div", { class: media === null ? "file" : `file media ${media}` });
    const download = h("button", { type: "button", "aria-label": t("file.downloadName", { name: ref.name }) }, t("file.download"));
    const bar = media === null ? progressBar(ref) : null;
    download.addEventListener("click", () => saveAs(ref, download, bar));
    if (media === "image") picture(ref, card, download);
    else if (media === "video") video(ref, card);
    card.append(h("span", { class: "file-name" }, ref.name), h("span", { class: "file-size" }, sizeText(ref.size)), download);
    if (bar !== null) card.append(bar);
    return card;
  };
}
