import { blake3 as blake3Hex, createBLAKE3 } from "hash-wasm";
import { fromHex, toBase64 } from "./encoding";
import { loadSodium } from "./sodium";

/** Unkeyed BLAKE3 with a 32-byte output. */
export async function blake3(data: Uint8Array): Promise<Uint8Array> {
  return fromHex(await blake3Hex(data, 256));
}

/** Incremental BLAKE3, for hashing streams without holding them. */
export async function createBlake3Hasher(): Promise<{
  update(chunk: Uint8Array): void;
  digest(): Uint8Array;
}> {
  const hasher = await createBLAKE3(256);
  hasher.init();
  return {
    update(chunk) {
      hasher.update(chunk);
    },
    digest() {
      return hasher.digest("binary");
    },
  };
}

/**
 * A fresh edit/reaction secret and the hash the server stores: the author keeps
 * `secret` in the vault and proves authorship later by revealing it.
 */
export async function newEditSecret(): Promise<{ secret: Uint8Array; editHash: string }> {
  const sodium = await loadSodium();
  const secret = sodium.randombytes_buf(32);
  return { secret, editHash: await editHash(secret) };
}

/** `edit_hash = base64(BLAKE3(secret))`, as the server recomputes it. */
export async function editHash(secret: Uint8Array): Promise<string> {
  if (secret.length !== 32) throw new RangeError("edit secret must be 32 bytes");
  return toBase64(await blake3(secret));
}
