// Device certificates: the user identity key (userKey.ts) vouches for one
// device of that user — its MLS signature key (Ed25519) and its X25519 key.
// The server stores and serves them but cannot make one.
//
// Canonical bytes (all integers big-endian):
//   body = 0x01 (version)
//        || u16 len || user (UTF-8, `localpart@domain`)
//        || u16 len || device id (UTF-8, the client-chosen UUID)
//        || 32  device Ed25519 public key (its MLS leaf signature key)
//        || 32  device X25519 public key
//        || u64 created (Unix seconds)
//        || u64 expires (Unix seconds; 0 = no expiry)
//        || 32  the signing identity public key
//   certificate = body || Ed25519 signature (64) by the identity key over
//        "talkee-device-cert-v1" || 0x00 || body
// The context string keeps a certificate from ever being a valid signature of
// anything else the identity key (or a device key) signs.

import { bytesEqual, concatBytes, fromUtf8, utf8 } from "../crypto/encoding";
import { loadSodium } from "../crypto/sodium";
import type { UserIdentityKey } from "./userKey";

export const CERTIFICATE_CONTEXT = "talkee-device-cert-v1";
const VERSION = 1;
const SIGNATURE_BYTES = 64;

export interface DeviceCertificate {
  user: string;
  deviceId: string;
  /** The device's Ed25519 key = its MLS leaf signature key. */
  signatureKey: Uint8Array;
  x25519Key: Uint8Array;
  /** Unix seconds. */
  created: number;
  /** Unix seconds, 0 for none. */
  expires: number;
  identityKey: Uint8Array;
}

export type CertificateRefusal =
  | "malformed"
  | "bad-signature"
  | "wrong-signer"
  | "other-user"
  | "unknown-device"
  | "key-mismatch"
  | "expired";

export type CertificateCheck = { ok: true; certificate: DeviceCertificate } | { ok: false; reason: CertificateRefusal };

export class CertificateError extends Error {
  override name = "CertificateError";
  constructor(readonly reason: CertificateRefusal) {
    super(`device certificate refused: ${reason}`);
  }
}

function u16(n: number): Uint8Array {
  return new Uint8Array([(n >> 8) & 0xff, n & 0xff]);
}

function u64(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError("timestamp must be a non-negative integer");
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

function key32(key: Uint8Array, what: string): Uint8Array {
  if (key.length !== 32) throw new RangeError(`${what} must be 32 bytes`);
  return key;
}

export function encodeCertificateBody(cert: DeviceCertificate): Uint8Array {
  const user = utf8(cert.user);
  const device = utf8(cert.deviceId);
  if (user.length === 0 || user.length > 0xffff || device.length === 0 || device.length > 0xffff) {
    throw new RangeError("user and device id must be 1..65535 bytes");
  }
  return concatBytes(
    new Uint8Array([VERSION]),
    u16(user.length),
    user,
    u16(device.length),
    device,
    key32(cert.signatureKey, "signature key"),
    key32(cert.x25519Key, "X25519 key"),
    u64(cert.created),
    u64(cert.expires),
    key32(cert.identityKey, "identity key"),
  );
}

function signedMessage(body: Uint8Array): Uint8Array {
  return concatBytes(utf8(CERTIFICATE_CONTEXT), new Uint8Array([0]), body);
}

/** Signs a certificate for one device with the user's identity key. */
export async function issueCertificate(
  identity: UserIdentityKey,
  device: { user: string; deviceId: string; signatureKey: Uint8Array; x25519Key: Uint8Array },
  created: number = Math.floor(Date.now() / 1000),
  expires = 0,
): Promise<Uint8Array> {
  const body = encodeCertificateBody({ ...device, created, expires, identityKey: identity.publicKey });
  const sodium = await loadSodium();
  return concatBytes(body, sodium.crypto_sign_detached(signedMessage(body), identity.secretKey));
}

/** Parses the canonical bytes; throws CertificateError("malformed") on anything else. */
export function decodeCertificate(bytes: Uint8Array): { certificate: DeviceCertificate; body: Uint8Array; signature: Uint8Array } {
  const fail = (): never => {
    throw new CertificateError("malformed");
  };
  let at = 0;
  const take = (n: number): Uint8Array => {
    if (at + n > bytes.length) fail();
    const out = bytes.slice(at, at + n);
    at += n;
    return out;
  };
  const readU16 = (): number => {
    const b = take(2);
    return ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  };
  const readU64 = (): number => {
    const n = new DataView(take(8).buffer).getBigUint64(0);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail();
    return Number(n);
  };
  if (take(1)[0] !== VERSION) fail();
  let user = "";
  let deviceId = "";
  try {
    user = fromUtf8(take(readU16()));
    deviceId = fromUtf8(take(readU16()));
  } catch (err) {
    if (err instanceof CertificateError) throw err;
    fail();
  }
  if (user.length === 0 || deviceId.length === 0) fail();
  const signatureKey = take(32);
  const x25519Key = take(32);
  const created = readU64();
  const expires = readU64();
  const identityKey = take(32);
  const body = bytes.slice(0, at);
  const signature = take(SIGNATURE_BYTES);
  if (at !== bytes.length) fail();
  return { certificate: { user, deviceId, signatureKey, x25519Key, created, expires, identityKey }, body, signature };
}

export interface CertificateExpectation {
  /** `localpart@domain` the device must belong to. */
  user: string;
  /** The identity key this client knows (pinned) for that user. */
  identityKey: Uint8Array;
  /** When given, the certificate must be for this device id. */
  deviceId?: string;
  /** When given, the certified signature key must be this one (e.g. a KeyPackage's leaf key). */
  signatureKey?: Uint8Array;
  /** Unix seconds; defaults to now. */
  now?: number;
}

/**
 * Checks a certificate against what this client expects. Refusals, in order:
 * malformed bytes; signed by another identity key than the pinned one
 * (wrong-signer); a signature that does not verify (bad-signature); another
 * user's device (other-user); another device (unknown-device); a different
 * signature key than the leaf's (key-mismatch); past its expiry (expired).
 */
export async function verifyCertificate(bytes: Uint8Array, expected: CertificateExpectation): Promise<CertificateCheck> {
  let parsed: ReturnType<typeof decodeCertificate>;
  try {
    parsed = decodeCertificate(bytes);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const { certificate, body, signature } = parsed;
  if (!bytesEqual(certificate.identityKey, expected.identityKey)) return { ok: false, reason: "wrong-signer" };
  const sodium = await loadSodium();
  let valid = false;
  try {
    valid = sodium.crypto_sign_verify_detached(signature, signedMessage(body), expected.identityKey);
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: "bad-signature" };
  if (certificate.user !== expected.user) return { ok: false, reason: "other-user" };
  if (expected.deviceId !== undefined && certificate.deviceId !== expected.deviceId) return { ok: false, reason: "unknown-device" };
  if (expected.signatureKey !== undefined && !bytesEqual(certificate.signatureKey, expected.signatureKey)) {
    return { ok: false, reason: "key-mismatch" };
  }
  const now = expected.now ?? Math.floor(Date.now() / 1000);
  if (certificate.expires !== 0 && now >= certificate.expires) return { ok: false, reason: "expired" };
  return { ok: true, certificate };
}
