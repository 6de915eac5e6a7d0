// What this device trusts about other users' devices, kept in the vault next to the MLS
// state: the user identity key (derived from the recovery phrase) and, per contact, the
// identity key pinned at first contact (TOFU). Before a device is added to any group
// from a KeyPackage the server handed out, `checkDevice` must say yes: the KeyPackage's
// leaf (credential and signature key) must be named by a certificate signed with the
// identity key this client pinned for that user. The server cannot make one.

import { fromBase64, fromUtf8, toBase64, utf8 } from "../crypto/encoding";
import { credentialIdentity, type DeviceSecrets } from "../crypto/identity";
import { issueCertificate, verifyCertificate, type CertificateRefusal } from "../identity/certificate";
import { decodeIdentityKey, encodeIdentityKey, identityKeyFromPhrase, type UserIdentityKey } from "../identity/userKey";
import { openSealed, sealForDevice } from "../crypto/sealedBox";
import type { Vault } from "../vault/vault";
import { decodeKeyPackage } from "./engine";

export const TRUST_ROW = {
  identity: "identity/key",
};

/**
 * A contact's pinned identity key (`pin`, by `user@domain`) or the last certificate seen
 * for a leaf identity (`cert`, by `user@domain:device_id`, checked again at each use). The
 * row's key is blinded (`Vault.blindKey`): the vault on disk does not list whom this
 * device talks to. Rows an older version kept under the plain name move on first use.
 */
type TrustKind = "pin" | "cert";

function trustRows(vault: Vault, kind: TrustKind, name: string): { row: string; legacy: string } {
  return { row: vault.blindKey(`trust/${kind}/`, name), legacy: `trust/${kind}/${name}` };
}

export async function readTrust(vault: Vault, kind: TrustKind, name: string): Promise<Uint8Array | undefined> {
  const { row, legacy } = trustRows(vault, kind, name);
  const value = await vault.get(row);
  if (value !== undefined) return value;
  const old = await vault.get(legacy);
  if (old !== undefined) await vault.commit([[row, old]], [legacy]);
  return old;
}

export async function writeTrust(vault: Vault, kind: TrustKind, name: string, value: Uint8Array): Promise<void> {
  const { row, legacy } = trustRows(vault, kind, name);
  await vault.commit([[row, value]], [legacy]);
}

/** A claimed device as the server describes it (base64 fields, null when missing). */
export interface ClaimedDevice {
  user: string;
  clientDeviceId: string;
  identityKey: string | null;
  certificate: string | null;
  /** Null when the device's pool is empty: the certificate is still checked (a refusal is still worth saying). */
  keyPackage: Uint8Array | null;
}

export type DeviceVerdict =
  | { ok: true; certified: boolean; pinnedNow: boolean }
  | {
      ok: false;
      reason: CertificateRefusal | "uncertified" | "identity-changed" | "identity-removed" | "leaf-mismatch" | "bad-keypackage";
    };

/** Derives the identity key from the phrase, keeps it, and certifies this device with it. */
export async function adoptIdentity(
  vault: Vault,
  device: DeviceSecrets,
  mnemonic: string,
): Promise<{ identityKey: string; certificate: string }> {
  const key = await identityKeyFromPhrase(device.user, mnemonic);
  await vault.put(TRUST_ROW.identity, encodeIdentityKey(key));
  // Our own key is pinned for our own user: our other devices must carry certificates by it.
  await writeTrust(vault, "pin", device.user, utf8(toBase64(key.publicKey)));
  const certificate = await certify(key, device);
  await writeTrust(vault, "cert", credentialIdentity(device.user, device.deviceId), certificate);
  return { identityKey: toBase64(key.publicKey), certificate: toBase64(certificate) };
}

function certify(key: UserIdentityKey, device: DeviceSecrets): Promise<Uint8Array> {
  return issueCertificate(key, {
    user: device.user,
    deviceId: device.deviceId,
    signatureKey: device.ed25519Public,
    x25519Key: device.x25519Public,
  });
}

/**
 * Approving another device of our own account (its keys as the person checked them by the
 * approval code): its certificate by our identity key, and the identity key sealed to its
 * X25519 key so that it can approve devices and show safety numbers in turn.
 */
export async function certifyOwnDevice(
  vault: Vault,
  device: DeviceSecrets,
  other: { clientDeviceId: string; ed25519Pub: Uint8Array; x25519Pub: Uint8Array },
): Promise<{ identityKey: string; certificate: string; sealedIdentity: string }> {
  const row = await vault.get(TRUST_ROW.identity);
  if (row === undefined) throw new Error("This device has no identity key: enter your recovery phrase on it first.");
  const key = decodeIdentityKey(row);
  const certificate = await issueCertificate(key, {
    user: device.user,
    deviceId: other.clientDeviceId,
    signatureKey: other.ed25519Pub,
    x25519Key: other.x25519Pub,
  });
  await writeTrust(vault, "cert", credentialIdentity(device.user, other.clientDeviceId), certificate);
  const sealed = await sealForDevice(encodeIdentityKey(key), other.x25519Pub);
  return { identityKey: toBase64(key.publicKey), certificate: toBase64(certificate), sealedIdentity: toBase64(sealed) };
}

/**
 * This device was approved by another of ours: opens the identity key it sealed to us and
 * keeps it, but only if it is the key the server lists for our account and it signed our
 * own certificate (a server cannot make either).
 */
export async function adoptSealedIdentity(
  vault: Vault,
  device: DeviceSecrets,
  sealed: Uint8Array,
  listedKey: string,
  ownCertificate: Uint8Array,
): Promise<string> {
  const key = decodeIdentityKey(await openSealed(sealed, device.x25519Public, device.x25519Secret));
  if (toBase64(key.publicKey) !== listedKey) throw new Error("the sealed identity key is not the account's");
  const check = await verifyCertificate(ownCertificate, {
    user: device.user,
    identityKey: key.publicKey,
    deviceId: device.deviceId,
    signatureKey: device.ed25519Public,
  });
  if (!check.ok) throw new Error(`our certificate does not verify under the sealed key: ${check.reason}`);
  await vault.put(TRUST_ROW.identity, encodeIdentityKey(key));
  await writeTrust(vault, "pin", device.user, utf8(listedKey));
  await writeTrust(vault, "cert", credentialIdentity(device.user, device.deviceId), ownCertificate);
  return listedKey;
}

export async function ownIdentityKey(vault: Vault): Promise<string | null> {
  const bytes = await vault.get(TRUST_ROW.identity);
  return bytes === undefined ? null : toBase64(decodeIdentityKey(bytes).publicKey);
}

/** The identity key pinned for `user` (base64), if any. */
export async function pinnedKey(vault: Vault, user: string): Promise<string | null> {
  const bytes = await readTrust(vault, "pin", user);
  return bytes === undefined ? null : fromUtf8(bytes);
}

/** The user accepted `user`'s new identity key (base64): it replaces the pinned one. */
export async function repinKey(vault: Vault, user: string, identityKey: string): Promise<void> {
  if (fromBase64(identityKey).length !== 32) throw new RangeError("an identity key is 32 bytes");
  await writeTrust(vault, "pin", user, utf8(identityKey));
}

/**
 * May this device be added? Refuses a leaf that does not match its certificate, an
 * uncertified device of a user who has an identity key, a user whose identity key
 * changed or vanished since we pinned it. Pins the key on first contact.
 * A user with no identity key at all and none pinned is let through as `certified:
 * false` (accounts from before identity keys, or on an instance that does not send them;
 * a remote user's home sends both over federation, and this instance hands them on).
 */
export async function checkDevice(vault: Vault, claimed: ClaimedDevice): Promise<DeviceVerdict> {
  let signatureKey: Uint8Array | undefined;
  if (claimed.keyPackage !== null) {
    try {
      const kp = decodeKeyPackage(claimed.keyPackage);
      const credential = kp.leafNode.credential;
      if (credential.credentialType !== "basic" || fromUtf8(credential.identity) !== credentialIdentity(claimed.user, claimed.clientDeviceId)) {
        return { ok: false, reason: "leaf-mismatch" };
      }
      signatureKey = kp.leafNode.signaturePublicKey;
    } catch {
      return { ok: false, reason: "bad-keypackage" };
    }
  }
  const pinned = await pinnedKey(vault, claimed.user);
  if (claimed.identityKey === null) {
    if (pinned !== null) return { ok: false, reason: "identity-removed" };
    return { ok: true, certified: false, pinnedNow: false };
  }
  if (pinned !== null && pinned !== claimed.identityKey) return { ok: false, reason: "identity-changed" };
  if (claimed.certificate === null) return { ok: false, reason: "uncertified" };
  let identityKey: Uint8Array;
  let certificate: Uint8Array;
  try {
    identityKey = fromBase64(claimed.identityKey);
    certificate = fromBase64(claimed.certificate);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const check = await verifyCertificate(certificate, {
    user: claimed.user,
    identityKey,
    deviceId: claimed.clientDeviceId,
    ...(signatureKey === undefined ? {} : { signatureKey }),
  });
  if (!check.ok) return { ok: false, reason: check.reason };
  if (pinned === null) await writeTrust(vault, "pin", claimed.user, utf8(claimed.identityKey));
  // Kept for the MLS validator (checkLeaf): our own commit adding it checks it again.
  await writeTrust(vault, "cert", credentialIdentity(claimed.user, claimed.clientDeviceId), certificate);
  return { ok: true, certified: true, pinnedNow: pinned === null };
}

/** A user's identity key and device certificates as the server lists them (GET /v1/devices/of/{user}). */
export interface UserDirectory {
  identityKey: string | null;
  devices: Array<{ clientDeviceId: string; certificate: string | null }>;
}

/**
 * Checks the leaves of `user` already in one of our groups (we joined by a Welcome, or
 * someone else added them) against their certificates, and pins the user's identity key
 * on first contact when every such leaf is certified by it. Refusals as for checkDevice.
 */
export async function checkMembers(
  vault: Vault,
  user: string,
  leaves: Array<{ identity: string; signatureKey: Uint8Array }>,
  directory: UserDirectory,
): Promise<DeviceVerdict> {
  const pinned = await pinnedKey(vault, user);
  if (directory.identityKey === null) {
    return pinned === null ? { ok: true, certified: false, pinnedNow: false } : { ok: false, reason: "identity-removed" };
  }
  if (pinned !== null && pinned !== directory.identityKey) return { ok: false, reason: "identity-changed" };
  let identityKey: Uint8Array;
  try {
    identityKey = fromBase64(directory.identityKey);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  for (const leaf of leaves) {
    const deviceId = leaf.identity.slice(user.length + 1);
    if (!leaf.identity.startsWith(`${user}:`)) continue;
    const entry = directory.devices.find((d) => d.clientDeviceId === deviceId);
    if (entry === undefined || entry.certificate === null) return { ok: false, reason: "uncertified" };
    let certificate: Uint8Array;
    try {
      certificate = fromBase64(entry.certificate);
    } catch {
      return { ok: false, reason: "malformed" };
    }
    const check = await verifyCertificate(certificate, { user, identityKey, deviceId, signatureKey: leaf.signatureKey });
    if (!check.ok) return { ok: false, reason: check.reason };
  }
  if (pinned === null) await writeTrust(vault, "pin", user, utf8(directory.identityKey));
  await learnCertificates(vault, user, directory);
  return { ok: true, certified: true, pinnedNow: pinned === null };
}

/**
 * Keeps the certificates the server lists for `user` for checkLeaf. Nothing is trusted
 * here: checkLeaf verifies each one against the pinned identity key when it is used, so a
 * forged one only ever leads to a refusal. Returns how many were kept.
 */
export async function learnCertificates(vault: Vault, user: string, directory: UserDirectory): Promise<number> {
  let kept = 0;
  for (const d of directory.devices) {
    if (d.certificate === null) continue;
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(d.certificate);
      credentialIdentity(user, d.clientDeviceId);
    } catch {
      continue;
    }
    await writeTrust(vault, "cert", credentialIdentity(user, d.clientDeviceId), bytes);
    kept++;
  }
  return kept;
}

export type LeafVerdict =
  | { ok: true; certified: boolean }
  | { ok: false; reason: CertificateRefusal | "uncertified" | "bad-identity" };

/**
 * The MLS credential validator's rule (every leaf a Welcome, Commit or Proposal brings in
 * or changes, on every member): a leaf `user@domain:device_id` of a user whose identity
 * key this client pinned is accepted only if its signature key is the one in that device's
 * certificate, signed by the pinned key, for that user and device, not expired. "uncertified"
 * means no certificate for the device is known here (the caller may fetch the user's list,
 * learnCertificates, and try once more). A user with nothing pinned (an account from
 * before identity keys, or first contact, checked afterwards by checkMembers)
 * is let through as `certified: false`.
 */
export async function checkLeaf(vault: Vault, identity: string, signatureKey: Uint8Array, now?: number): Promise<LeafVerdict> {
  const split = identity.lastIndexOf(":");
  const user = identity.slice(0, split);
  const deviceId = identity.slice(split + 1);
  if (split <= 0 || deviceId.length === 0) return { ok: false, reason: "bad-identity" };
  const pinned = await pinnedKey(vault, user);
  if (pinned === null) return { ok: true, certified: false };
  const certificate = await readTrust(vault, "cert", identity);
  if (certificate === undefined) return { ok: false, reason: "uncertified" };
  let identityKey: Uint8Array;
  try {
    identityKey = fromBase64(pinned);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const check = await verifyCertificate(certificate, {
    user,
    identityKey,
    deviceId,
    signatureKey,
    ...(now === undefined ? {} : { now }),
  });
  return check.ok ? { ok: true, certified: true } : { ok: false, reason: check.reason };
}
