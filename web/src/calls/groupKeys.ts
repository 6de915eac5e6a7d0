// Per-sender media keys for group calls (through the SFU, ./groupCall.ts).
//
// Each sender encrypts its frames (./frameCrypto.ts) with a key of its own:
//
//   exporter = MLS-Exporter("talkee-group-call-v1") of the chat's current epoch
//   key(sender) = HKDF-SHA256(exporter, salt "talkee-group-media-v1",
//                             info "talkee-group-frame-key" || call id || epoch || sender leaf index)
//
// so the SFU (which never sees the MLS group) cannot decrypt, a member who left cannot
// derive the keys of any later epoch, and one who joined cannot derive earlier ones.
// Receivers derive every other member's key the same way. On an epoch change the
// keyring keeps the previous key of each sender for OVERLAP_MS, so frames encrypted
// just before a sender switched still open.
import { hkdfSha256 } from "../crypto/derivedKeys";
import { concatBytes, utf8 } from "../crypto/encoding";

export const GROUP_CALL_EXPORTER_LABEL = "talkee-group-call-v1";
export const GROUP_MEDIA_SALT = "talkee-group-media-v1";
export const GROUP_MEDIA_INFO = "talkee-group-frame-key";
export const OVERLAP_MS = 3000;

export function senderInfo(callId: string, epoch: number, leaf: number): Uint8Array {
  const numbers = new Uint8Array(12);
  const view = new DataView(numbers.buffer);
  view.setBigUint64(0, BigInt(epoch));
  view.setUint32(8, leaf);
  const id = utf8(callId);
  const length = new Uint8Array([id.length]);
  return concatBytes(utf8(GROUP_MEDIA_INFO), length, id, numbers);
}

/** One sender's 32-byte frame key in one epoch of one call. */
export function senderFrameKey(exporter: Uint8Array, callId: string, epoch: number, leaf: number): Promise<Uint8Array> {
  if (exporter.length < 32) throw new Error("exporter secret too short");
  if (callId.length === 0 || callId.length > 64) throw new Error("bad call id");
  return hkdfSha256(exporter, utf8(GROUP_MEDIA_SALT), senderInfo(callId, epoch, leaf), 32);
}

/** Every member's key of one epoch, by leaf index. */
export async function epochKeys(exporter: Uint8Array, callId: string, epoch: number, leaves: number[]): Promise<Map<number, Uint8Array>> {
  const keys = new Map<number, Uint8Array>();
  for (const leaf of leaves) keys.set(leaf, await senderFrameKey(exporter, callId, epoch, leaf));
  return keys;
}

/**
 * The keys a receiver may try for a sender: this epoch's, and the previous epoch's until
 * OVERLAP_MS after the switch. Generic over the key type (raw bytes in tests, CryptoKey in the worker).
 */
export class SenderKeyring<K> {
  private current = new Map<number, K>();
  private previous = new Map<number, K>();
  private previousUntil = 0;
  epoch = -1;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** The keys of a new epoch; the current ones become the previous ones for a while. */
  install(epoch: number, keys: Map<number, K>): void {
    if (epoch === this.epoch) {
      this.current = keys;
      return;
    }
    this.previous = this.current;
    this.previousUntil = this.now() + OVERLAP_MS;
    this.current = keys;
    this.epoch = epoch;
  }

  /** Keys to try for a frame of `leaf`, newest first. */
  candidates(leaf: number): K[] {
    const out: K[] = [];
    const now = this.current.get(leaf);
    if (now !== undefined) out.push(now);
    const before = this.previous.get(leaf);
    if (before !== undefined && this.now() < this.previousUntil) out.push(before);
    return out;
  }

  /** Forget everything (the call ended, or we left the group). */
  clear(): void {
    this.current = new Map();
    this.previous = new Map();
    this.previousUntil = 0;
  }
}
