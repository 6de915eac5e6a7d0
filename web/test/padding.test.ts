import { describe, expect, it } from "vitest";
import { MESSAGE_BUCKETS, MalformedPaddingError, PayloadTooLargeError, messageBucketFor, padMessage, unpadMessage } from "../src/crypto/padding";
import { InvalidPayloadError, decodePayload, encodePayload } from "../src/crypto/payload";
import { utf8 } from "../src/crypto/encoding";

function bytes(n: number, fill = 0x41): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

describe("message padding (ISO/IEC 7816-4)", () => {
  it("pads every boundary to the right bucket and round-trips", () => {
    let previous = 0;
    for (const bucket of MESSAGE_BUCKETS) {
      // largest size that still fits this bucket, and the first that does not
      for (const size of [previous, bucket - 2, bucket - 1, bucket]) {
        if (size >= 65536) continue;
        const expected = size + 1 <= bucket ? bucket : messageBucketFor(size);
        const data = bytes(size, 0x00); // zero data must not be confused with padding
        const padded = padMessage(data);
        expect(padded.length, `size ${size}`).toBe(expected);
        expect(padded[size]).toBe(0x80);
        expect(unpadMessage(padded)).toEqual(data);
      }
      previous = bucket;
    }
    expect(padMessage(new Uint8Array(0)).length).toBe(64);
    expect(padMessage(bytes(63)).length).toBe(64);
    expect(padMessage(bytes(64)).length).toBe(256);
    expect(padMessage(bytes(255)).length).toBe(256);
    expect(padMessage(bytes(256)).length).toBe(1024);
    expect(padMessage(bytes(65535)).length).toBe(65536);
  });

  it("refuses more than 64 KiB with a clear error", () => {
    expect(() => padMessage(bytes(65536))).toThrow(PayloadTooLargeError);
    expect(() => padMessage(bytes(65536))).toThrow(/largest padding bucket \(64 KiB\)/);
    expect(() => padMessage(bytes(1 << 20))).toThrow(PayloadTooLargeError);
  });

  it("rejects malformed padding", () => {
    const good = padMessage(utf8("hi"));
    const noMarker = good.slice();
    noMarker[2] = 0x00;
    expect(() => unpadMessage(noMarker)).toThrow(MalformedPaddingError);
    const junkAfterMarker = good.slice();
    junkAfterMarker[40] = 0x01;
    expect(() => unpadMessage(junkAfterMarker)).toThrow(MalformedPaddingError);
    expect(() => unpadMessage(good.subarray(0, 63))).toThrow(MalformedPaddingError);
    expect(() => unpadMessage(new Uint8Array(64))).toThrow(MalformedPaddingError);
    expect(() => unpadMessage(new Uint8Array(0))).toThrow(MalformedPaddingError);
    const wrongMarker = good.slice();
    wrongMarker[2] = 0x81;
    expect(() => unpadMessage(wrongMarker)).toThrow(MalformedPaddingError);
    // Short data in an oversized bucket is not something padMessage produces.
    const oversized = new Uint8Array(256);
    oversized[3] = 0x80;
    expect(() => unpadMessage(oversized)).toThrow(/larger bucket/);
  });
});

describe("payload format", () => {
  it("round-trips JSON payloads through padding", () => {
    const payload = { _v: 1 as const, sender: "alice@example.org:dev-a", text: "Привет 👋", reply_to: "42" };
    const padded = encodePayload(payload);
    expect(padded.length).toBe(64 + 192); // 68-byte JSON → 256 bucket
    expect(decodePayload(padded)).toEqual(payload);
  });

  it("refuses text that does not fit 64 KiB", () => {
    expect(() => encodePayload({ _v: 1, sender: "a@b:c", text: "x".repeat(70_000) })).toThrow(/64 KiB/);
  });

  it("rejects payloads without the version-1 fields", () => {
    expect(() => decodePayload(padMessage(utf8('{"_v":2,"sender":"a","text":""}')))).toThrow(InvalidPayloadError);
    expect(() => decodePayload(padMessage(utf8('{"_v":1,"text":""}')))).toThrow(InvalidPayloadError);
    expect(() => decodePayload(padMessage(utf8("not json")))).toThrow(InvalidPayloadError);
    expect(() => decodePayload(padMessage(utf8('{"_v":1,"sender":"a","text":"","reply_to":5}')))).toThrow(InvalidPayloadError);
  });
});
