// File encryption: the plaintext is padded with zeros to a size bucket and
// encrypted with libsodium's crypto_secretstream_xchacha20poly1305 in fixed
// 64 KiB plaintext chunks, as streams, so a 64 MiB file is never held whole.
//
// Encrypted blob layout (what the server stores and size-checks):
//   header (24 bytes) || chunk_0 || ... || chunk_{n-1}
//   chunk_i = secretstream_push(64 KiB of padded plaintext)  (+17 bytes each)
//   n = ceil(bucket / 64 KiB); the last chunk carries TAG_FINAL, the others TAG_MESSAGE.
// The true size, key, name and MIME type travel only inside the MLS payload.

import { loadSodium } from "./sodium";

const KiB = 1024;
const MiB = 1024 * KiB;

export const FILE_BUCKETS = [32 * KiB, 128 * KiB, 512 * KiB, 2 * MiB, 8 * MiB, 32 * MiB, 64 * MiB] as const;
export const MAX_FILE_SIZE = 64 * MiB;
export const FILE_CHUNK_SIZE = 64 * KiB;
/** crypto_secretstream_xchacha20poly1305_HEADERBYTES */
export const SECRETSTREAM_HEADER_BYTES = 24;
/** crypto_secretstream_xchacha20poly1305_ABYTES: 1 tag byte + 16 MAC bytes per chunk. */
export const SECRETSTREAM_CHUNK_OVERHEAD = 17;

export class FileTooLargeError extends Error {
  override name = "FileTooLargeError";
  constructor(readonly size: number) {
    super(`file is ${size} bytes; the largest allowed is 64 MiB (${MAX_FILE_SIZE} bytes)`);
  }
}

export class FileDecryptionError extends Error {
  override name = "FileDecryptionError";
}

/** Smallest bucket holding `size` bytes (a file exactly at a bucket size fits it). */
export function fileBucketFor(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid file size ${size}`);
  for (const bucket of FILE_BUCKETS) if (size <= bucket) return bucket;
  throw new FileTooLargeError(size);
}

export function chunkCountForBucket(bucket: number): number {
  return Math.ceil(bucket / FILE_CHUNK_SIZE);
}

/** Exact size of the encrypted blob for a bucket: 24 + bucket + 17 × ceil(bucket / 65536). */
export function encryptedSizeForBucket(bucket: number): number {
  if (!(FILE_BUCKETS as readonly number[]).includes(bucket)) throw new RangeError(`${bucket} is not a file bucket`);
  return SECRETSTREAM_HEADER_BYTES + bucket + SECRETSTREAM_CHUNK_OVERHEAD * chunkCountForBucket(bucket);
}

/** Reads exactly `n` bytes at a time from a byte stream, whatever its chunking. */
class ExactReader {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** Up to `n` bytes; fewer only at the end of the stream. */
  async read(n: number): Promise<Uint8Array> {
    while (this.pendingBytes < n && !this.done) {
      const { value, done } = await this.reader.read();
      if (done) this.done = true;
      else if (value.length > 0) {
        this.pending.push(value);
        this.pendingBytes += value.length;
      }
    }
    const take = Math.min(n, this.pendingBytes);
    const first = this.pending[0];
    if (first !== undefined && first.length === take) {
      // The common case (producers write whole chunks): hand it over without a copy.
      this.pending.shift();
      this.pendingBytes -= take;
      return first;
    }
    const out = new Uint8Array(take);
    let filled = 0;
    while (filled < take) {
      const head = this.pending[0];
      if (head === undefined) break;
      const want = take - filled;
      if (head.length <= want) {
        out.set(head, filled);
        filled += head.length;
        this.pending.shift();
      } else {
        out.set(head.subarray(0, want), filled);
        this.pending[0] = head.subarray(want);
        filled += want;
      }
    }
    this.pendingBytes -= take;
    return out;
  }

  async atEnd(): Promise<boolean> {
    return (await this.read(1)).length === 0;
  }

  cancel(reason?: unknown): Promise<void> {
    return this.reader.cancel(reason);
  }
}

export interface EncryptedFileStream {
  /** Fresh 32-byte secretstream key; goes into the MLS payload as `file.key`. */
  key: Uint8Array;
  bucket: number;
  /** Total bytes `stream` will produce (= encryptedSizeForBucket(bucket)). */
  encryptedSize: number;
  stream: ReadableStream<Uint8Array>;
}

/**
 * Encrypts `plaintextSize` bytes from `source`, padding to the bucket. The
 * returned stream pulls from `source` one chunk at a time (back-pressure aware).
 */
export async function encryptFileStream(
  source: ReadableStream<Uint8Array>,
  plaintextSize: number,
): Promise<EncryptedFileStream> {
  const sodium = await loadSodium();
  const bucket = fileBucketFor(plaintextSize);
  const chunks = chunkCountForBucket(bucket);
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const input = new ExactReader(source.getReader());
  let index = -1; // -1: header not yet sent
  let consumed = 0;

  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (index === -1) {
          controller.enqueue(header);
          index = 0;
          return;
        }
        if (index >= chunks) return;
        const length = Math.min(FILE_CHUNK_SIZE, bucket - index * FILE_CHUNK_SIZE);
        const wanted = Math.max(0, Math.min(length, plaintextSize - consumed));
        const data = wanted > 0 ? await input.read(wanted) : new Uint8Array(0);
        if (data.length !== wanted) {
          throw new RangeError(`file stream ended after ${consumed + data.length} of ${plaintextSize} bytes`);
        }
        consumed += data.length;
        let plain = data;
        if (data.length < length) {
          plain = new Uint8Array(length); // zero padding up to the bucket
          plain.set(data);
        }
        const last = index === chunks - 1;
        if (last && !(await input.atEnd())) {
          throw new RangeError(`file stream is longer than the declared ${plaintextSize} bytes`);
        }
        const tag = last
          ? sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
          : sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
        controller.enqueue(sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, null, tag));
        index++;
        if (last) controller.close();
      },
      cancel(reason) {
        return input.cancel(reason);
      },
    },
    { highWaterMark: 1 },
  );
  return { key, bucket, encryptedSize: encryptedSizeForBucket(bucket), stream };
}

/**
 * Decrypts a blob produced by encryptFileStream, yielding exactly the
 * `plaintextSize` true bytes. Truncation, reordering, extra bytes, a wrong key
 * or non-zero padding all error the stream.
 */
export async function decryptFileStream(
  source: ReadableStream<Uint8Array>,
  key: Uint8Array,
  plaintextSize: number,
): Promise<ReadableStream<Uint8Array>> {
  const sodium = await loadSodium();
  const bucket = fileBucketFor(plaintextSize);
  const chunks = chunkCountForBucket(bucket);
  const input = new ExactReader(source.getReader());
  let state: ReturnType<typeof sodium.crypto_secretstream_xchacha20poly1305_init_pull> | undefined;
  let index = 0;
  let produced = 0;

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (state === undefined) {
          const header = await input.read(SECRETSTREAM_HEADER_BYTES);
          if (header.length !== SECRETSTREAM_HEADER_BYTES) throw new FileDecryptionError("blob too short for a header");
          state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
        }
        // Padding-only chunks yield nothing; keep going until a chunk yields
        // data or the stream ends (a pull that enqueues nothing is not retried).
        for (;;) {
          const length = Math.min(FILE_CHUNK_SIZE, bucket - index * FILE_CHUNK_SIZE);
          const sealed = await input.read(length + SECRETSTREAM_CHUNK_OVERHEAD);
          if (sealed.length !== length + SECRETSTREAM_CHUNK_OVERHEAD) throw new FileDecryptionError("blob is truncated");
          const opened = sodium.crypto_secretstream_xchacha20poly1305_pull(state, sealed, null);
          if (opened === false) throw new FileDecryptionError(`chunk ${index} failed authentication`);
          const last = index === chunks - 1;
          const expectedTag = last
            ? sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
            : sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
          if (opened.tag !== expectedTag) throw new FileDecryptionError(`chunk ${index} has an unexpected tag`);
          const keep = Math.max(0, Math.min(opened.message.length, plaintextSize - produced));
          for (let i = keep; i < opened.message.length; i++) {
            if (opened.message[i] !== 0) throw new FileDecryptionError("padding is not zero");
          }
          produced += keep;
          index++;
          if (keep > 0) controller.enqueue(opened.message.subarray(0, keep));
          if (last) {
            if (!(await input.atEnd())) throw new FileDecryptionError("blob has bytes after the final chunk");
            controller.close();
            return;
          }
          if (keep > 0) return;
        }
      },
      cancel(reason) {
        return input.cancel(reason);
      },
    },
    { highWaterMark: 1 },
  );
}
