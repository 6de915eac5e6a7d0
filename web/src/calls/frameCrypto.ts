// End-to-end encryption of encoded media frames (on top of DTLS-SRTP).
//
// Key: the chat's MLS-exporter media key, HKDF-SHA256(exporter "talkee-call-v1",
// salt "talkee-media-e2e-v1", info "talkee-frame-key") (crypto/derivedKeys.ts).
// Each frame becomes
//
//   clear header || AES-256-GCM(rest, iv, aad = clear header) (with its 16-byte tag) || iv (12) || header length (1)
//
// iv = 4-byte salt || 8-byte counter. Both peers hold the same key, so each sender
// keeps IVs of its own: the salt's top bit is the sender's role (caller 0, callee 1),
// the other 31 bits and the counter's high 32 bits are random per call, and the low
// 32 bits count the sender's frames (audio and video share one counter).
// The first bytes stay in clear so the packetizer and jitter buffer can still read the
// codec's payload header: VP8 10 bytes on key frames, 3 on delta frames (RFC 7741 §4.3
// and the frame tag), Opus 1 byte (the TOC). The header is authenticated as AAD.

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const TRAILER_BYTES = IV_BYTES + 1;

export type MediaKind = "audio" | "video";
export type FrameType = "key" | "delta" | "empty" | undefined;

export function clearHeaderBytes(kind: MediaKind, type: FrameType): number {
  if (kind === "audio") return 1;
  return type === "key" ? 10 : 3;
}

export function importFrameKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw as BufferSource, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

export class FrameDecryptError extends Error {
  override name = "FrameDecryptError";
}

/** One sender's IV sequence. */
export class FrameSealer {
  private readonly salt: Uint8Array;
  private readonly high: number;
  private low = 0;

  constructor(
    private readonly key: CryptoKey,
    role: 0 | 1,
    random: Uint8Array = crypto.getRandomValues(new Uint8Array(8)),
  ) {
    this.salt = random.slice(0, 4);
    this.salt[0] = (this.salt[0]! & 0x7f) | (role << 7);
    this.high = new DataView(random.buffer, random.byteOffset + 4, 4).getUint32(0);
  }

  nextIv(): Uint8Array {
    if (this.low === 0xffffffff) throw new Error("frame counter exhausted");
    const iv = new Uint8Array(IV_BYTES);
    iv.set(this.salt);
    const view = new DataView(iv.buffer);
    view.setUint32(4, this.high);
    view.setUint32(8, this.low);
    this.low += 1;
    return iv;
  }

  async seal(frame: Uint8Array, clear: number): Promise<Uint8Array> {
    const n = Math.min(clear, frame.length);
    const header = frame.subarray(0, n);
    const iv = this.nextIv();
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: iv as BufferSource, additionalData: header as BufferSource, tagLength: TAG_BYTES * 8 },
        this.key,
        frame.subarray(n) as BufferSource,
      ),
    );
    const out = new Uint8Array(n + sealed.length + TRAILER_BYTES);
    out.set(header);
    out.set(sealed, n);
    out.set(iv, n + sealed.length);
    out[out.length - 1] = n;
    return out;
  }
}

export async function openFrame(key: CryptoKey, frame: Uint8Array): Promise<Uint8Array> {
  if (frame.length < TRAILER_BYTES + TAG_BYTES) throw new FrameDecryptError("frame too short");
  const n = frame[frame.length - 1]!;
  const ivAt = frame.length - TRAILER_BYTES;
  if (n > ivAt - TAG_BYTES) throw new FrameDecryptError("bad header length");
  const header = frame.subarray(0, n);
  const iv = frame.subarray(ivAt, ivAt + IV_BYTES);
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: iv as BufferSource, additionalData: header as BufferSource, tagLength: TAG_BYTES * 8 },
      key,
      frame.subarray(n, ivAt) as BufferSource,
    );
  } catch {
    throw new FrameDecryptError("frame does not decrypt (wrong key or altered)");
  }
  const out = new Uint8Array(n + plain.byteLength);
  out.set(header);
  out.set(new Uint8Array(plain), n);
  return out;
}

export interface FrameCounts {
  encrypted: number;
  decrypted: number;
  failed: number;
}

interface EncodedFrame {
  data: ArrayBuffer;
  type?: string;
}

/**
 * The TransformStream for one sender or receiver (used in the RTCRtpScriptTransform
 * worker, or on the page with createEncodedStreams). Frames that do not decrypt are
 * dropped, never passed on as they came.
 */
export function frameTransform(
  direction: "encrypt" | "decrypt",
  kind: MediaKind,
  key: CryptoKey,
  sealer: FrameSealer | null,
  counts: FrameCounts,
): TransformStream<EncodedFrame, EncodedFrame> {
  return new TransformStream<EncodedFrame, EncodedFrame>({
    async transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      if (data.length === 0) {
        controller.enqueue(frame);
        return;
      }
      try {
        if (direction === "encrypt") {
          const out = await sealer!.seal(data, clearHeaderBytes(kind, frame.type as FrameType));
          frame.data = out.buffer as ArrayBuffer;
          counts.encrypted += 1;
        } else {
          const out = await openFrame(key, data);
          frame.data = out.buffer as ArrayBuffer;
          counts.decrypted += 1;
        }
        controller.enqueue(frame);
      } catch {
        counts.failed += 1;
      }
    },
  });
}
