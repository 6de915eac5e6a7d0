// The user identity key: one Ed25519 key pair per account, the same on every
// device of that account. It never leaves the client in the clear: the first
// device derives it from the recovery phrase at sign-up and keeps it in the
// vault; any device given the phrase derives the same key again.
//
//   seed = BLAKE3("talkee-identity-key-v1" || 0x00 || localpart || 0x00 || entropy16)
//
// `entropy16` is the BIP-39 entropy of the 12-word phrase (crypto/recovery.ts).
// The server only ever sees BLAKE3(BLAKE3("talkee-recovery-proof-v1" || ...)),
// a different label over the same entropy, from which this seed cannot be had.

import { blake3 } from "../crypto/blake3";
import { concatBytes, fromBase64, toBase64, utf8 } from "../crypto/encoding";
import { recoveryEntropy } from "../crypto/recovery";
import { loadSodium } from "../crypto/sodium";

const IDENTITY_SEED_LABEL = "talkee-identity-key-v1";

export interface UserIdentityKey {
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** libsodium's 64-byte secret form (seed || public key). */
  secretKey: Uint8Array;
}

function localpart(username: string): string {
  const at = username.indexOf("@");
  return (at === -1 ? username : username.slice(0, at)).trim().toLowerCase();
}

/** The account's identity key, derived from its recovery phrase (deterministic). */
export async function identityKeyFromPhrase(username: string, mnemonic: string): Promise<UserIdentityKey> {
  const entropy = recoveryEntropy(mnemonic);
  const zero = new Uint8Array([0]);
  const seed = await blake3(concatBytes(utf8(IDENTITY_SEED_LABEL), zero, utf8(localpart(username)), zero, entropy));
  const sodium = await loadSodium();
  const pair = sodium.crypto_sign_seed_keypair(seed);
  seed.fill(0);
  return { publicKey: pair.publicKey, secretKey: pair.privateKey };
}

/** Vault serialisation (the vault encrypts the row). */
export function encodeIdentityKey(key: UserIdentityKey): Uint8Array {
  return utf8(JSON.stringify({ publicKey: toBase64(key.publicKey), secretKey: toBase64(key.secretKey) }));
}

export function decodeIdentityKey(bytes: Uint8Array): UserIdentityKey {
  const raw = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  if (typeof raw.publicKey !== "string" || typeof raw.secretKey !== "string") throw new TypeError("identity key row malformed");
  return { publicKey: fromBase64(raw.publicKey), secretKey: fromBase64(raw.secretKey) };
}
