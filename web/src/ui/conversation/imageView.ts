// A picture full size, in a modal <dialog>: zoom with the wheel, a pinch, a double click,
// the buttons (+, −, Fit) or the keys + − 0, drag or the arrow keys to move a zoomed
// picture, Escape or Close to leave (focus goes back to the picture in the conversation). The full picture is loaded (and
// decrypted) on demand with a progress bar when the conversation has not loaded it yet.
import { humanError } from "../../api/client";
import { t } from "../../i18n/index";
import { h } from "../dom";

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 8;

/** Scale and offset (px) of the picture from its fitted place in the middle of the view. */
export interface Zoom {
  scale: number;
  x: number;
  y: number;
}

/**
 * Zooms by `factor` keeping the point (`px`, `py`, from the view's centre) where it is;
 * the scale stays within MIN_ZOOM…MAX_ZOOM and back at 1 the picture is centred again.
 */
export function zoomAt(z: Zoom, factor: number, px: number, py: number): Zoom {
  const scale = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, z.scale * factor));
  if (scale === MIN_ZOOM) return { scale, x: 0, y: 0 };
  const k = scale / z.scale;
  return { scale, x: px - (px - z.x) * k, y: py - (py - z.y) * k };
}

export interface ImageViewOptions {
  name: string;
  alt: string;
  /** The decrypted picture's object URL, loading it first when needed (progress 0…1). */
  load(progress: (fraction: number) => void): Promise<string>;
  download(): void;
}

export function openImageViewer(options: ImageViewOptions): HTMLDialogElement {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  let zoom: Zoom = { scale: 1, x: 0, y: 0 };
  const img = h("img", { class: "viewer-image", alt: options.alt, draggable: "false" });
  const stage = h("div", { class: "viewer-stage" }, img);
  const bar = h("progress", { class: "download", max: 100, value: 0, "aria-label": t("file.downloadProgress", { name: options.name }) });
  const status = h("p", { class: "viewer-status", role: "status" });
  const level = h("span", { class: "viewer-level", "aria-live": "polite" }, "100%");
  const apply = (next: Zoom): void => {
    zoom = next;
    img.style.transform = `translate(${zoom.x}px, ${zoom.y}px) scale(${zoom.scale})`;
    level.textContent = `${Math.round(zoom.scale * 100)}%`;
    stage.classList.toggle("zoomed", zoom.scale > 1);
  };
  const fromCentre = (clientX: number, clientY: number): [number, number] => {
    const r = stage.getBoundingClientRect();
    return [clientX - r.left - r.width / 2, clientY - r.top - r.height / 2];
  };
  const button = (label: string, text: string, onclick: () => void): HTMLButtonElement => h("button", { type: "button", "aria-label": label, title: label, onclick }, text);
  const dialog = h(
    "dialog",
    { class: "image-viewer", "aria-label": t("image.picture", { name: options.name }) },
    h(
      "div",
      { class: "viewer-bar", role: "toolbar", "aria-label": t("image.toolbar") },
      h("span", { class: "viewer-name" }, options.name),
      button(t("image.zoomOut"), "−", () => apply(zoomAt(zoom, 1 / 1.5, 0, 0))),
      level,
      button(t("image.zoomIn"), "+", () => apply(zoomAt(zoom, 1.5, 0, 0))),
      button(t("image.fitLabel"), t("image.fit"), () => apply({ scale: 1, x: 0, y: 0 })),
      button(t("file.downloadName", { name: options.name }), t("file.download"), options.download),
      button(t("image.close"), "✕", () => dialog.close()),
    ),
    bar,
    status,
    stage,
  );

  stage.addEventListener(
    "wheel",
    (ev) => {
      ev.preventDefault();
      apply(zoomAt(zoom, Math.exp(-ev.deltaY * 0.002), ...fromCentre(ev.clientX, ev.clientY)));
    },
    { passive: false },
  );
  stage.addEventListener("dblclick", (ev) => apply(zoom.scale > 1 ? { scale: 1, x: 0, y: 0 } : zoomAt(zoom, 2.5, ...fromCentre(ev.clientX, ev.clientY))));
  // One pointer moves a zoomed picture; two pinch.
  const pointers = new Map<number, { x: number; y: number }>();
  const spread = (): number => {
    const [a, b] = [...pointers.values()];
    return a === undefined || b === undefined ? 0 : Math.hypot(a.x - b.x, a.y - b.y);
  };
  stage.addEventListener("pointerdown", (ev) => {
    try {
      stage.setPointerCapture(ev.pointerId);
    } catch {
      // a pointer the browser no longer tracks: moves still arrive while it is over the stage
    }
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
  });
  stage.addEventListener("pointermove", (ev) => {
    const last = pointers.get(ev.pointerId);
    if (last === undefined) return;
    const before = spread();
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pointers.size === 2 && before > 0) {
      const [a, b] = [...pointers.values()];
      apply(zoomAt(zoom, spread() / before, ...fromCentre((a!.x + b!.x) / 2, (a!.y + b!.y) / 2)));
    } else if (pointers.size === 1 && zoom.scale > 1) {
      apply({ ...zoom, x: zoom.x + ev.clientX - last.x, y: zoom.y + ev.clientY - last.y });
    }
  });
  const lift = (ev: PointerEvent): void => void pointers.delete(ev.pointerId);
  stage.addEventListener("pointerup", lift);
  stage.addEventListener("pointercancel", lift);
  // Keys: + and − zoom, 0 fits, the arrows move a zoomed picture (Escape is the dialog's own).
  dialog.addEventListener("keydown", (ev) => {
    const step = 40;
    const moves: Record<string, () => Zoom> = {
      "+": () => zoomAt(zoom, 1.5, 0, 0),
      "=": () => zoomAt(zoom, 1.5, 0, 0),
      "-": () => zoomAt(zoom, 1 / 1.5, 0, 0),
      "0": () => ({ scale: 1, x: 0, y: 0 }),
      ArrowLeft: () => ({ ...zoom, x: zoom.x + step }),
      ArrowRight: () => ({ ...zoom, x: zoom.x - step }),
      ArrowUp: () => ({ ...zoom, y: zoom.y + step }),
      ArrowDown: () => ({ ...zoom, y: zoom.y - step }),
    };
    const move = moves[ev.key];
    if (move === undefined || (ev.key.startsWith("Arrow") && zoom.scale === 1)) return;
    ev.preventDefault();
    apply(move());
  });
  // A click on the dark backdrop (outside the picture and the bar) closes too.
  dialog.addEventListener("click", (ev) => {
    if (ev.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener?.focus();
  });

  document.body.append(dialog);
  dialog.showModal();
  options
    .load((fraction) => (bar.value = Math.round(fraction * 100)))
    .then((url) => {
      img.src = url;
      bar.hidden = true;
    })
    .catch((err: unknown) => {
      bar.hidden = true;
      status.textContent = t("image.failed", { error: humanError(err) });
    });
  return dialog;
}
