// Per-install device identity: an Ed25519 key pair (login challenges and the
// MLS leaf signature key) and an X25519 key pair (sealed history bundles).

import { fromBase64, toBase64, utf8 } from "./encoding";
import { loadSodium } from "./sodium";

/** What the server and other members may see. */
export interface DevicePublicIdentity {
  /** `user@domain`. */
  user: string;
  /** Client-chosen UUID. */
  deviceId: string;
  /** `user@domain:device_id`, the MLS credential identity. */
  credential: string;
  /** Standard base64 of the raw 32-byte keys. */
  ed25519Pub: string;
  x25519Pub: string;
}

/** Private key material: lives only in the MLS worker and, sealed, in the vault. */
export interface DeviceSecrets {
  user: string;
  deviceId: string;
  ed25519Public: Uint8Array;
  /** libsodium's 64-byte form: seed || public key. */
  ed25519Secret: Uint8Array;
  x25519Public: Uint8Array;
  x25519Secret: Uint8Array;
}

export function credentialIdentity(user: string, deviceId: string): string {
  if (!/^[^@:\s]+@[^@:\s]+$/.test(user)) throw new TypeError(`user must look like localpart@domain, got ${user}`);
  if (!/^[^:\s]+$/.test(deviceId)) throw new TypeError("device id must not contain ':' or spaces");
  return `${user}:${deviceId}`;
}

export async function generateDeviceSecrets(user: string, deviceId: string): Promise<DeviceSecrets> {
  credentialIdentity(user, deviceId);
  const sodium = await loadSodium();
  const signing = sodium.crypto_sign_keypair();
  const box = sodium.crypto_box_keypair();
  return {
    user,
    deviceId,
    ed25519Public: signing.publicKey,
    ed25519Secret: signing.privateKey,
    x25519Public: box.publicKey,
    x25519Secret: box.privateKey,
  };
}

export function publicIdentity(secrets: DeviceSecrets): DevicePublicIdentity {
  return {
    user: secrets.user,
    deviceId: secrets.deviceId,
    credential: credentialIdentity(secrets.user, secrets.deviceId),
    ed25519Pub: toBase64(secrets.ed25519Public),
    x25519Pub: toBase64(secrets.x25519Public),
  };
}

/** The 32-byte Ed25519 seed, the private-key form ts-mls accepts. */
export function ed25519Seed(secrets: DeviceSecrets): Uint8Array {
  return secrets.ed25519Secret.slice(0, 32);
}

/** Login: base64 Ed25519 signature over the UTF-8 bytes of the server's nonce string. */
export async function signChallenge(secrets: DeviceSecrets, nonce: string): Promise<string> {
  const sodium = await loadSodium();
  return toBase64(sodium.crypto_sign_detached(utf8(nonce), secrets.ed25519Secret));
}

export async function verifyChallenge(ed25519Pub: string, nonce: string, signature: string): Promise<boolean> {
  const sodium = await loadSodium();
  return sodium.crypto_sign_verify_detached(fromBase64(signature), utf8(nonce), fromBase64(ed25519Pub));
}

/** Signature context of device-sync history bundles. */
export const SYNC_BUNDLE_CONTEXT = "talkee-sync-bundle-v1";

/** Ed25519 over `context || 0x00 || message` (a context of its own: never a valid login signature). */
function withContext(context: string, message: Uint8Array): Uint8Array {
  const prefix = utf8(context);
  const out = new Uint8Array(prefix.length + 1 + message.length);
  out.set(prefix);
  out.set(message, prefix.length + 1);
  return out;
}

export async function signWithContext(secrets: DeviceSecrets, context: string, message: Uint8Array): Promise<Uint8Array> {
  const sodium = await loadSodium();
  return sodium.crypto_sign_detached(withContext(context, message), secrets.ed25519Secret);
}

export async function verifyWithContext(ed25519Pub: Uint8Array, context: string, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const sodium = await loadSodium();
  try {
    return sodium.crypto_sign_verify_detached(signature, withContext(context, message), ed25519Pub);
  } catch {
    return false;
  }
}

/** Vault serialisation (the row is encrypted by the vault, never stored like this in the clear). */
export function encodeDeviceSecrets(secrets: DeviceSecrets): Uint8Array {
  return utf8(
    JSON.stringify({
      user: secrets.user,
      deviceId: secrets.deviceId,
      ed25519Public: toBase64(secrets.ed25519Public),
      ed25519Secret: toBase64(secrets.ed25519Secret),
      x25519Public: toBase64(secrets.x25519Public),
      x25519Secret: toBase64(secrets.x25519Secret),
    }),
  );
}

export function decodeDeviceSecrets(bytes: Uint8Array): DeviceSecrets {
  const raw = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, string>;
  const field = (name: string): string => {
    const value = raw[name];
    if (typeof value !== "string") throw new TypeError(`device secrets: ${name} missing`);
    return value;
  };
  return {
    user: field("user"),
    deviceId: field("deviceId"),
    ed25519Public: fromBase64(field("ed25519Public")),
    ed25519Secret: fromBase64(field("ed25519Secret")),
    x25519Public: fromBase64(field("x25519Public")),
    x25519Secret: fromBase64(field("x25519Secret")),
  };
}
