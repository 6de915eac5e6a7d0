import { describe, expect, it } from "vitest";
import {
  FILE_BUCKETS,
  FILE_CHUNK_SIZE,
  FileDecryptionError,
  FileTooLargeError,
  decryptFileStream,
  encryptFileStream,
  encryptedSizeForBucket,
  fileBucketFor,
} from "../src/crypto/files";
import { loadSodium } from "../src/crypto/sodium";

const KiB = 1024;
const MiB = 1024 * KiB;

function pattern(size: number, seed = 7): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** A source stream delivering `data` in uneven pieces, as a network would. */
function streamOf(data: Uint8Array, piece = 10_007): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.length) {
        controller.close();
        return;
      }
      controller.enqueue(data.slice(offset, offset + piece));
      offset += piece;
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
    total += value.length;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe("file buckets and sizes", () => {
  it("documents the exact encrypted size per bucket", () => {
    expect(FILE_BUCKETS.map(encryptedSizeForBucket)).toEqual([
      32_809, 131_130, 524_448, 2_097_720, 8_390_808, 33_563_160, 67_126_296,
    ]);
    for (const b of FILE_BUCKETS) {
      expect(encryptedSizeForBucket(b)).toBe(24 + b + 17 * Math.ceil(b / FILE_CHUNK_SIZE));
    }
    expect(() => encryptedSizeForBucket(1000)).toThrow(RangeError);
  });

  it("chooses the smallest bucket and refuses more than 64 MiB", () => {
    expect(fileBucketFor(0)).toBe(32 * KiB);
    expect(fileBucketFor(32 * KiB)).toBe(32 * KiB);
    expect(fileBucketFor(32 * KiB + 1)).toBe(128 * KiB);
    expect(fileBucketFor(64 * MiB)).toBe(64 * MiB);
    expect(() => fileBucketFor(64 * MiB + 1)).toThrow(FileTooLargeError);
  });
});

describe("streamed file encryption", () => {
  const sizes = [0, 1, 32 * KiB - 1, 32 * KiB, 32 * KiB + 1, FILE_CHUNK_SIZE, 128 * KiB, 128 * KiB + 1, 512 * KiB];
  it.each(sizes)("round-trips %i bytes with the exact blob size", async (size) => {
    const data = pattern(size);
    const enc = await encryptFileStream(streamOf(data), size);
    const blob = await collect(enc.stream);
    expect(blob.length).toBe(enc.encryptedSize);
    expect(blob.length).toBe(encryptedSizeForBucket(fileBucketFor(size)));
    const back = await collect(await decryptFileStream(streamOf(blob, 65_000), enc.key, size));
    expect(back.length).toBe(data.length);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
  });

  it("refuses a flipped byte, truncation, extra bytes and a wrong key", async () => {
    const data = pattern(100 * KiB);
    const enc = await encryptFileStream(streamOf(data), data.length);
    const blob = await collect(enc.stream);
    const flipped = blob.slice();
    flipped[70_000]! ^= 1;
    await expect(collect(await decryptFileStream(streamOf(flipped), enc.key, data.length))).rejects.toBeInstanceOf(FileDecryptionError);
    await expect(collect(await decryptFileStream(streamOf(blob.subarray(0, blob.length - 1)), enc.key, data.length))).rejects.toThrow(/truncated/);
    const longer = new Uint8Array(blob.length + 1);
    longer.set(blob);
    await expect(collect(await decryptFileStream(streamOf(longer), enc.key, data.length))).rejects.toThrow(/after the final chunk/);
    const sodium = await loadSodium();
    await expect(
      collect(await decryptFileStream(streamOf(blob), sodium.crypto_secretstream_xchacha20poly1305_keygen(), data.length)),
    ).rejects.toThrow(/authentication/);
  });

  it("refuses a source whose length differs from the declared size", async () => {
    const data = pattern(5000);
    await expect(collect((await encryptFileStream(streamOf(data), 6000)).stream)).rejects.toThrow(/ended after 5000/);
    await expect(collect((await encryptFileStream(streamOf(data), 4000)).stream)).rejects.toThrow(/longer than/);
  });
});
