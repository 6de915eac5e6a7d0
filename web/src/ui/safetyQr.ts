// The safety number as a QR code, and a camera scanner for the other person's (and for a
// new device's approval code, ./approval). The code
// is drawn into a data: URL (the CSP allows data: images; no inline script or style), and
// read frame by frame from a <video> of getUserMedia with jsQR.
import jsQR from "jsqr";
import QRCode from "qrcode";
import { formatSafetyNumber, parseSafetyQr, safetyQrPayload } from "../identity/safetyNumber";
import { t } from "../i18n/index";
import { h } from "./dom";

/** An <img> of the QR code for our safety number, its text alternative the number itself. */
export async function safetyQrImage(digits: string, name: string): Promise<HTMLImageElement> {
  const url = await QRCode.toDataURL(safetyQrPayload(digits), { errorCorrectionLevel: "M", margin: 2, scale: 6 });
  return h("img", {
    class: "safety-qr",
    src: url,
    width: "222",
    height: "222",
    alt: t("safety.qrAlt", { name, digits: formatSafetyNumber(digits) }),
  }) as HTMLImageElement;
}

/** Reads a QR code from RGBA pixels: its text, or null. */
export function readQr(pixels: Uint8ClampedArray, width: number, height: number): string | null {
  return jsQR(pixels, width, height, { inversionAttempts: "attemptBoth" })?.data ?? null;
}

export interface Scanner {
  el: HTMLElement;
  stop(): void;
}

/**
 * Starts the camera and looks for a Talkee safety code in each frame; `found` gets its 60
 * digits once (the camera then stops). Other codes are ignored with a word.
 */
export function startScanner(found: (digits: string) => void, say: (text: string) => void): Promise<Scanner> {
  return startQrScanner(parseSafetyQr, found, say, t("safety.notQr"));
}

/**
 * Starts the camera and reads each frame's QR code with `parse`; `found` gets the first
 * code it accepts (the camera then stops); others are ignored with `wrong` said.
 */
export async function startQrScanner<T>(
  parse: (text: string) => T | null,
  found: (value: T) => void,
  say: (text: string) => void,
  wrong: string,
): Promise<Scanner> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  const video = h("video", { class: "safety-scan", "aria-label": t("safety.camera") }) as HTMLVideoElement;
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  const canvas = document.createElement("canvas");
  const draw = canvas.getContext("2d", { willReadFrequently: true });
  let timer = 0;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    window.clearInterval(timer);
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
  await video.play().catch(() => undefined);
  let shown = false;
  timer = window.setInterval(() => {
    // The panel was drawn again without us: the camera must not stay on.
    if (video.isConnected) shown = true;
    else if (shown) return stop();
    if (stopped || draw === null || video.videoWidth === 0) return;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    draw.drawImage(video, 0, 0);
    const text = readQr(draw.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height);
    if (text === null) return;
    const value = parse(text);
    if (value === null) {
      say(wrong);
      return;
    }
    stop();
    found(value);
  }, 200);
  return { el: video, stop };
}
