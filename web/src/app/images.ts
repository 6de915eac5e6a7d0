// Pictures and videos on their way out, before anything is encrypted.
//
// A picture the browser can decode is drawn onto a canvas and encoded again: what leaves
// is pixels only — no EXIF (camera, time, GPS position), no XMP, no IPTC, no comments, no
// embedded thumbnail of the uncropped original. `createImageBitmap(…, {imageOrientation:
// "from-image"})` applies the EXIF orientation while decoding, so the picture still looks
// the right way up after the tag is gone. A picture larger than MAX_EDGE on its long side
// is scaled down (never refused). A small thumbnail (THUMB_EDGE) travels inside the
// encrypted message itself, so the other side shows something at once; the full picture
// goes as an encrypted, padded blob like every file.
//
// Not re-encoded (sent as they are): GIFs (drawing them would drop the animation; GIF has
// no EXIF), SVGs and other types the browser cannot decode (HEIC in Chromium: plain files);
// a JPEG, PNG or WebP that does not decode is refused rather than sent uncleaned. Videos are
// sent as they are too (no metadata stripping: a canvas cannot re-encode them); MP4/WebM
// get a thumbnail from their first frame when the browser can play them.
import type { FileReference } from "../crypto/payload";

/** Longest side of a picture as sent. */
export const MAX_EDGE = 2560;
/** Longest side of the thumbnail carried in the message. */
export const THUMB_EDGE = 320;
/** Largest thumbnail (bytes before base64) carried in the message; above it, smaller and coarser. */
export const THUMB_MAX_BYTES = 16 * 1024;
const PHOTO_QUALITY = 0.9;

/** Types shown inline as pictures (the browser decodes them; SVG is left a file). */
const INLINE_IMAGES = new Set(["image/jpeg", "image/png", "image/webp", "image/gif", "image/avif", "image/bmp"]);
/** Types re-encoded to themselves; other decodable pictures become WebP (keeps transparency). */
const KEEP_TYPE = new Set(["image/jpeg", "image/png", "image/webp"]);
export const INLINE_VIDEOS = new Set(["video/mp4", "video/webm"]);

/** What a picture or video adds to its file reference (inside the encrypted message). */
export type MediaInfo = Pick<FileReference, "width" | "height" | "thumb" | "thumb_mime">;

export interface PreparedFile {
  file: File;
  media: MediaInfo;
}

/** `width`×`height` scaled to fit `edge` on the long side (never enlarged, at least 1 px). */
export function fitWithin(width: number, height: number, edge: number): { width: number; height: number } {
  if (!(width > 0 && height > 0)) throw new RangeError(`invalid size ${width}×${height}`);
  const scale = Math.min(1, edge / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The type a picture is sent as after re-encoding, or null when it is sent untouched. */
export function reencodedType(mime: string): string | null {
  if (mime === "image/gif" || mime === "image/svg+xml" || !mime.startsWith("image/")) return null;
  return KEEP_TYPE.has(mime) ? mime : "image/webp";
}

const EXTENSIONS: Record<string, string> = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp" };

/** The name with the extension of its new type ("IMG_1.HEIC" → "IMG_1.webp"; "image.png" stays). */
export function renamedFor(name: string, mime: string): string {
  const ext = EXTENSIONS[mime];
  if (ext === undefined) return name;
  const dot = name.lastIndexOf(".");
  const base = dot > 0 ? name.slice(0, dot) : name || "picture";
  const current = dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
  if (current === ext || (ext === "jpg" && current === "jpeg")) return name;
  return `${base}.${ext}`;
}

/** A JPEG's segments before the image data: marker (0xE0…0xEF = APP0…APP15, 0xFE comment, …) and payload. */
export function jpegSegments(bytes: Uint8Array): { marker: number; data: Uint8Array }[] {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new Error("not a JPEG");
  const out: { marker: number; data: Uint8Array }[] = [];
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new Error(`no marker at ${at}`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // start of scan: pixels follow
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2 || at + 2 + length > bytes.length) throw new Error(`truncated segment at ${at}`);
    out.push({ marker, data: bytes.subarray(at + 4, at + 2 + length) });
    at += 2 + length;
  }
  return out;
}

/** Metadata a JPEG carries: "exif", "xmp", "iptc", "comment" (APP0 JFIF and APP2 ICC are not metadata about the person). */
export function jpegMetadata(bytes: Uint8Array): string[] {
  const found: string[] = [];
  const starts = (data: Uint8Array, text: string): boolean => [...text].every((c, i) => data[i] === c.charCodeAt(0));
  for (const { marker, data } of jpegSegments(bytes)) {
    if (marker === 0xe1 && starts(data, "Exif\0")) found.push("exif");
    else if (marker === 0xe1) found.push("xmp");
    else if (marker === 0xed) found.push("iptc");
    else if (marker === 0xfe) found.push("comment");
    else if (marker >= 0xe3 && marker <= 0xef) found.push(`app${marker - 0xe0}`);
  }
  return found;
}

/** Passes bytes through and reports the fraction of `total` seen so far (download progress). */
export function countingBytes(total: number, progress: (fraction: number) => void): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.length;
      progress(Math.min(1, seen / total));
      controller.enqueue(chunk);
    },
  });
}

/** Shown inline (decoded by the browser) — from the reference's type. */
export function isInlineImage(ref: Pick<FileReference, "mime">): boolean {
  return INLINE_IMAGES.has(ref.mime);
}

export function isInlineVideo(ref: Pick<FileReference, "mime">): boolean {
  return INLINE_VIDEOS.has(ref.mime);
}

/** The thumbnail a message carries, checked (any other shape is ignored). */
export function thumbnailOf(ref: FileReference): Blob | null {
  const { thumb, thumb_mime: mime } = ref;
  if (typeof thumb !== "string" || (mime !== "image/jpeg" && mime !== "image/webp")) return null;
  if (thumb.length > (THUMB_MAX_BYTES * 4) / 3 + 4) return null;
  try {
    return new Blob([Uint8Array.from(atob(thumb), (c) => c.charCodeAt(0))], { type: mime });
  } catch {
    return null;
  }
}

/** The picture's size as the sender gave it, when sane (for the layout before it loads). */
export function sizeOf(ref: FileReference): { width: number; height: number } | null {
  const { width, height } = ref;
  if (typeof width !== "number" || typeof height !== "number") return null;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 65_535 || height > 65_535) return null;
  return { width, height };
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function canvasBlob(canvas: HTMLCanvasElement, type: string, quality?: number): Promise<Blob> {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b === null ? reject(new Error("the picture could not be encoded")) : resolve(b)), type, quality));
}

function draw(source: CanvasImageSource, width: number, height: number, background?: string): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (ctx === null) throw new Error("no canvas");
  if (background !== undefined) {
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, width, height);
  }
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, width, height);
  return canvas;
}

/** A small JPEG/WebP of `source` (≤ THUMB_EDGE, ≤ THUMB_MAX_BYTES), as message fields. */
async function thumbnail(source: CanvasImageSource, width: number, height: number): Promise<MediaInfo> {
  for (const [edge, quality] of [[THUMB_EDGE, 0.7], [THUMB_EDGE, 0.5], [200, 0.5], [120, 0.4]] as const) {
    const size = fitWithin(width, height, edge);
    // WebP keeps transparency; a browser that cannot write WebP gets JPEG on white.
    let blob = await canvasBlob(draw(source, size.width, size.height), "image/webp", quality);
    if (blob.type !== "image/webp") blob = await canvasBlob(draw(source, size.width, size.height, "#fff"), "image/jpeg", quality);
    if (blob.size <= THUMB_MAX_BYTES) return { thumb: toBase64(new Uint8Array(await blob.arrayBuffer())), thumb_mime: blob.type };
  }
  return {};
}

/** A JPEG, PNG or WebP this browser cannot decode: its metadata cannot be removed, so it is not sent. */
export class PictureUnreadableError extends Error {
  override name = "PictureUnreadableError";
  constructor(name: string) {
    super(`${name} could not be read as a picture, so its hidden details (such as where it was taken) cannot be removed. It was not sent.`);
  }
}

/** A picture re-encoded without its metadata (scaled to MAX_EDGE), with its thumbnail. */
async function preparePicture(file: File, type: string): Promise<PreparedFile | null> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    // A type we promise to clean must be cleaned; others (HEIC here) go as plain files.
    if (KEEP_TYPE.has(file.type)) throw new PictureUnreadableError(file.name);
    return null;
  }
  try {
    const size = fitWithin(bitmap.width, bitmap.height, MAX_EDGE);
    const canvas = draw(bitmap, size.width, size.height);
    const blob = await canvasBlob(canvas, type, type === "image/png" ? undefined : PHOTO_QUALITY);
    const mime = blob.type || type;
    const name = renamedFor(file.name, mime);
    const media: MediaInfo = { width: size.width, height: size.height, ...(await thumbnail(canvas, size.width, size.height)) };
    return { file: new File([blob], name, { type: mime }), media };
  } finally {
    bitmap.close();
  }
}

/** A video's first frame as its thumbnail (nothing when this browser cannot play it). */
async function videoThumbnail(file: File): Promise<MediaInfo> {
  const url = URL.createObjectURL(file);
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = window.setTimeout(() => reject(new Error("timeout")), 5000);
      video.addEventListener("loadeddata", () => (window.clearTimeout(timer), resolve()), { once: true });
      video.addEventListener("error", () => (window.clearTimeout(timer), reject(new Error("undecodable"))), { once: true });
      video.src = url;
    });
    if (video.videoWidth === 0 || video.videoHeight === 0) return {};
    return { width: video.videoWidth, height: video.videoHeight, ...(await thumbnail(video, video.videoWidth, video.videoHeight)) };
  } catch {
    return {};
  } finally {
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  }
}

/** What goes out for `file`: pictures stripped and scaled, with a thumbnail; others as they are. */
export async function prepareMedia(file: File): Promise<PreparedFile> {
  const type = reencodedType(file.type);
  if (type !== null) {
    const picture = await preparePicture(file, type);
    if (picture !== null) return picture;
  }
  if (isInlineVideo({ mime: file.type })) return { file, media: await videoThumbnail(file) };
  return { file, media: {} };
}
