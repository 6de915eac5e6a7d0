// Keys derived from a group's MLS exporter. They rotate with the epoch because
// the exporter secret does.

import { concatBytes, utf8 } from "./encoding";
import { loadSodium } from "./sodium";

/** MLS exporter labels (RFC 9420 §8.5); each yields 32 bytes. */
export const EXPORTER_LABELS = {
  reaction: "talkee-reaction-v1",
  groupName: "talkee-group-name-v1",
  /** Input keying material for the call keys below. */
  call: "talkee-call-v1",
} as const;

export const SIGNALING_HKDF_INFO = "talkee-webrtc-signaling-v1";
export const MEDIA_HKDF_SALT = "talkee-media-e2e-v1";
export const MEDIA_HKDF_INFO = "talkee-frame-key";

/** HKDF-SHA256 (RFC 5869) via WebCrypto. */
export async function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", ikm as BufferSource, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: salt as BufferSource, info: info as BufferSource },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

/** Call-signalling sealing key: HKDF-SHA256(exporter "talkee-call-v1", info "talkee-webrtc-signaling-v1"). */
export function signalingKey(callExporterSecret: Uint8Array): Promise<Uint8Array> {
  return hkdfSha256(callExporterSecret, new Uint8Array(0), utf8(SIGNALING_HKDF_INFO), 32);
}

/** Insertable-Streams frame key: HKDF-SHA256(exporter, salt "talkee-media-e2e-v1", info "talkee-frame-key"). */
export function mediaFrameKey(callExporterSecret: Uint8Array): Promise<Uint8Array> {
  return hkdfSha256(callExporterSecret, utf8(MEDIA_HKDF_SALT), utf8(MEDIA_HKDF_INFO), 32);
}

export class OpenFailedError extends Error {
  override name = "OpenFailedError";
}

/**
 * Seals a small value (reaction, group name, signalling blob) under a derived
 * key: nonce (24) || XChaCha20-Poly1305 ciphertext. `context` is bound as AD.
 */
export async function sealWithKey(key: Uint8Array, plaintext: Uint8Array, context: string): Promise<Uint8Array> {
  const sodium = await loadSodium();
  const nonce = sodium.randombytes_buf(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, utf8(context), null, nonce, key);
  return concatBytes(nonce, ct);
}

export async function openWithKey(key: Uint8Array, sealed: Uint8Array, context: string): Promise<Uint8Array> {
  const sodium = await loadSodium();
  const n = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  if (sealed.length < n + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES) throw new OpenFailedError("sealed value too short");
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed.subarray(n), utf8(context), sealed.subarray(0, n), key);
  } catch {
    throw new OpenFailedError("sealed value does not open under this key (wrong epoch or altered)");
  }
}
