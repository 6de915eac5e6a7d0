// ISO/IEC 7816-4 padding of message payloads to fixed buckets, so the server
// (which only sees MLS ciphertext) learns a bucket, never an exact length.

export const MESSAGE_BUCKETS = [64, 256, 1024, 4096, 16384, 65536] as const;
export const MAX_MESSAGE_BUCKET = 65536;

export class PayloadTooLargeError extends Error {
  override name = "PayloadTooLargeError";
  constructor(readonly size: number) {
    super(
      `message payload is ${size} bytes; at most ${MAX_MESSAGE_BUCKET - 1} bytes fit ` +
        `in the largest padding bucket (64 KiB) — send it as a file instead`,
    );
  }
}

export class MalformedPaddingError extends Error {
  override name = "MalformedPaddingError";
}

/** Smallest bucket that holds `size` bytes plus the mandatory 0x80 marker. */
export function messageBucketFor(size: number): number {
  for (const bucket of MESSAGE_BUCKETS) {
    if (size + 1 <= bucket) return bucket;
  }
  throw new PayloadTooLargeError(size);
}

/** Appends 0x80 and zeros up to the bucket size. */
export function padMessage(data: Uint8Array): Uint8Array {
  const bucket = messageBucketFor(data.length);
  const out = new Uint8Array(bucket);
  out.set(data, 0);
  out[data.length] = 0x80;
  return out;
}

/**
 * Strips ISO/IEC 7816-4 padding. Refuses input whose length is not a bucket
 * size, or whose tail is not 0x80 followed only by zeros.
 */
export function unpadMessage(padded: Uint8Array): Uint8Array {
  if (!(MESSAGE_BUCKETS as readonly number[]).includes(padded.length)) {
    throw new MalformedPaddingError(`padded payload length ${padded.length} is not a bucket size`);
  }
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0x00) i--;
  if (i < 0 || padded[i] !== 0x80) {
    throw new MalformedPaddingError("padding marker 0x80 not found");
  }
  // The marker must sit in the smallest bucket that fits the data; anything
  // else is not what padMessage produces.
  if (messageBucketFor(i) !== padded.length) {
    throw new MalformedPaddingError("payload padded to a larger bucket than needed");
  }
  return padded.slice(0, i);
}
