// Anonymous-sender sealed boxes (X25519 + XSalsa20-Poly1305) for device-sync
// history bundles addressed to one device's X25519 public key.

import { loadSodium } from "./sodium";

export const SEALED_BOX_OVERHEAD = 48; // ephemeral public key (32) + MAC (16)

export class SealedBoxOpenError extends Error {
  override name = "SealedBoxOpenError";
}

export async function sealForDevice(plaintext: Uint8Array, recipientX25519Pub: Uint8Array): Promise<Uint8Array> {
  const sodium = await loadSodium();
  return sodium.crypto_box_seal(plaintext, recipientX25519Pub);
}

export async function openSealed(
  sealed: Uint8Array,
  ownX25519Pub: Uint8Array,
  ownX25519Secret: Uint8Array,
): Promise<Uint8Array> {
  const sodium = await loadSodium();
  try {
    return sodium.crypto_box_seal_open(sealed, ownX25519Pub, ownX25519Secret);
  } catch {
    throw new SealedBoxOpenError("sealed bundle is not for this device or was altered");
  }
}
