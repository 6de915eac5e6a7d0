import { describe, expect, it } from "vitest";
import {
  countingBytes,
  fitWithin,
  isInlineImage,
  isInlineVideo,
  jpegMetadata,
  jpegSegments,
  MAX_EDGE,
  reencodedType,
  renamedFor,
  sizeOf,
  thumbnailOf,
  THUMB_MAX_BYTES,
} from "../src/app/images";
import type { FileReference } from "../src/crypto/payload";
import { MAX_ZOOM, zoomAt } from "../src/ui/conversation/imageView";

const ref = (extra: Partial<FileReference> = {}): FileReference => ({ blob_id: "b", key: "k", name: "a.jpg", mime: "image/jpeg", size: 1000, ...extra });

/** A JPEG's head: SOI, the given segments, then SOS and a few bytes of "pixels". */
function jpeg(...segments: [number, number[]][]): Uint8Array {
  const bytes = [0xff, 0xd8];
  for (const [marker, data] of segments) bytes.push(0xff, marker, (data.length + 2) >> 8, (data.length + 2) & 0xff, ...data);
  bytes.push(0xff, 0xda, 0x00, 0x02, 0x12, 0x34, 0xff, 0xd9);
  return Uint8Array.from(bytes);
}
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

describe("fitWithin", () => {
  it("scales the long side down to the edge, keeping the shape", () => {
    expect(fitWithin(4000, 3000, MAX_EDGE)).toEqual({ width: 2560, height: 1920 });
    expect(fitWithin(3000, 4000, MAX_EDGE)).toEqual({ width: 1920, height: 2560 });
    expect(fitWithin(480, 640, 320)).toEqual({ width: 240, height: 320 });
  });
  it("never enlarges, and keeps at least one pixel", () => {
    expect(fitWithin(192, 192, 320)).toEqual({ width: 192, height: 192 });
    expect(fitWithin(10_000, 1, 320)).toEqual({ width: 320, height: 1 });
  });
  it("refuses an empty picture", () => {
    expect(() => fitWithin(0, 10, 320)).toThrow(RangeError);
  });
});

describe("what is re-encoded, and as what", () => {
  it("keeps JPEG, PNG and WebP; turns other decodable pictures into WebP", () => {
    expect(reencodedType("image/jpeg")).toBe("image/jpeg");
    expect(reencodedType("image/png")).toBe("image/png");
    expect(reencodedType("image/webp")).toBe("image/webp");
    expect(reencodedType("image/heic")).toBe("image/webp");
    expect(reencodedType("image/avif")).toBe("image/webp");
  });
  it("leaves GIFs (animation), SVGs and non-pictures alone", () => {
    expect(reencodedType("image/gif")).toBeNull();
    expect(reencodedType("image/svg+xml")).toBeNull();
    expect(reencodedType("video/mp4")).toBeNull();
    expect(reencodedType("application/pdf")).toBeNull();
  });
  it("renames to the new type's extension", () => {
    expect(renamedFor("IMG_0001.HEIC", "image/webp")).toBe("IMG_0001.webp");
    expect(renamedFor("photo.jpeg", "image/jpeg")).toBe("photo.jpeg");
    expect(renamedFor("photo.JPG", "image/jpeg")).toBe("photo.JPG");
    expect(renamedFor("image.png", "image/png")).toBe("image.png");
    expect(renamedFor("noext", "image/png")).toBe("noext.png");
    expect(renamedFor("", "image/jpeg")).toBe("picture.jpg");
  });
  it("shows inline only types a browser decodes safely", () => {
    expect(isInlineImage({ mime: "image/jpeg" })).toBe(true);
    expect(isInlineImage({ mime: "image/gif" })).toBe(true);
    expect(isInlineImage({ mime: "image/svg+xml" })).toBe(false);
    expect(isInlineVideo({ mime: "video/webm" })).toBe(true);
    expect(isInlineVideo({ mime: "video/quicktime" })).toBe(false);
  });
});

describe("JPEG metadata", () => {
  it("finds EXIF, XMP, IPTC and comments before the pixels", () => {
    const tagged = jpeg([0xe0, ascii("JFIF\0")], [0xe1, ascii("Exif\0\0II*\0GPS")], [0xe1, ascii("http://ns.adobe.com/xap/1.0/\0")], [0xed, ascii("Photoshop 3.0\0")], [0xfe, ascii("at home")]);
    expect(jpegMetadata(tagged)).toEqual(["exif", "xmp", "iptc", "comment"]);
    expect(jpegSegments(tagged).map((s) => s.marker)).toEqual([0xe0, 0xe1, 0xe1, 0xed, 0xfe]);
  });
  it("finds nothing in a clean JPEG (JFIF and a colour profile are not about the person)", () => {
    expect(jpegMetadata(jpeg([0xe0, ascii("JFIF\0")], [0xe2, ascii("ICC_PROFILE\0")], [0xdb, [0, 1, 2]]))).toEqual([]);
  });
  it("does not read past the start of the pixels", () => {
    const bytes = jpeg([0xe0, ascii("JFIF\0")]);
    const withTail = Uint8Array.from([...bytes.subarray(0, bytes.length - 2), 0xff, 0xe1, 0x00, 0x04, 0x00, 0x00, 0xff, 0xd9]);
    expect(jpegMetadata(withTail)).toEqual([]);
  });
  it("refuses what is not a JPEG or is cut short", () => {
    expect(() => jpegSegments(Uint8Array.from([0x89, 0x50, 0x4e, 0x47]))).toThrow("not a JPEG");
    expect(() => jpegSegments(Uint8Array.from([0xff, 0xd8, 0xff, 0xe1, 0x00, 0x40, 0x45]))).toThrow("truncated");
  });
});

describe("what a message says about its picture", () => {
  it("takes a JPEG or WebP thumbnail within the size limit", async () => {
    const thumb = thumbnailOf(ref({ thumb: btoa("\xff\xd8\xff\xd9"), thumb_mime: "image/jpeg" }));
    expect(thumb?.type).toBe("image/jpeg");
    expect([...new Uint8Array(await thumb!.arrayBuffer())]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
  });
  it("ignores other types, oversized or broken thumbnails", () => {
    expect(thumbnailOf(ref({ thumb: btoa("<svg/>"), thumb_mime: "image/svg+xml" }))).toBeNull();
    expect(thumbnailOf(ref({ thumb: "A".repeat(THUMB_MAX_BYTES * 2), thumb_mime: "image/jpeg" }))).toBeNull();
    expect(thumbnailOf(ref({ thumb: "!!not base64!!", thumb_mime: "image/jpeg" }))).toBeNull();
    expect(thumbnailOf(ref())).toBeNull();
  });
  it("takes a sane pixel size only", () => {
    expect(sizeOf(ref({ width: 480, height: 640 }))).toEqual({ width: 480, height: 640 });
    expect(sizeOf(ref({ width: 0, height: 640 }))).toBeNull();
    expect(sizeOf(ref({ width: 1.5, height: 640 }))).toBeNull();
    expect(sizeOf(ref({ width: 1e9, height: 640 }))).toBeNull();
    expect(sizeOf(ref({ width: "480" as unknown as number, height: 640 }))).toBeNull();
  });
});

describe("download progress", () => {
  it("reports the share of the expected bytes that went through, unchanged", async () => {
    const seen: number[] = [];
    const source = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(25));
        c.enqueue(new Uint8Array(25));
        c.enqueue(new Uint8Array(50));
        c.close();
      },
    });
    const out = await new Response(source.pipeThrough(countingBytes(100, (f) => seen.push(f)))).arrayBuffer();
    expect(out.byteLength).toBe(100);
    expect(seen).toEqual([0.25, 0.5, 1]);
  });
});

describe("zoom in the viewer", () => {
  it("keeps the point under the pointer in place", () => {
    const z = zoomAt({ scale: 1, x: 0, y: 0 }, 2, 100, 50);
    expect(z).toEqual({ scale: 2, x: -100, y: -50 });
    // The point (100, 50) from the centre was at (100 - 0) / 1 in picture units; now 2 × 100 - 100 = 100.
    expect(z.scale * 100 + z.x).toBe(100);
  });
  it("stays between fitted and MAX_ZOOM, centred again when fitted", () => {
    expect(zoomAt({ scale: 2, x: -100, y: -50 }, 0.1, 0, 0)).toEqual({ scale: 1, x: 0, y: 0 });
    expect(zoomAt({ scale: 6, x: 0, y: 0 }, 3, 0, 0).scale).toBe(MAX_ZOOM);
  });
});
