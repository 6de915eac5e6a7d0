// The one place that knows which MLS ciphersuite Talkee speaks. Everything
// else asks this module, so swapping ts-mls 1.6.4's custom suite for ts-mls
// 2.0's built-in 0xF00C (or another implementation) touches only this file.
//
// Wire id 0xF00C = MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_Ed25519. ts-mls
// 1.6.4's built-in suite of that *name* goes on the wire as id 82, so we build
// a custom suite whose name is the decimal id "61452": ts-mls treats suite ids
// as an open enum and encodes that name as 0xF00C.

import {
  defaultCapabilities,
  getCiphersuiteImpl,
  type Capabilities,
  type Ciphersuite,
  type CiphersuiteImpl,
  type CiphersuiteName,
} from "ts-mls";

export const TALKEE_SUITE_ID = 0xf00c;
export const TALKEE_SUITE_LABEL = "MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_Ed25519";

// "61452" is outside ts-mls 1.6.4's CiphersuiteName union, but the library
// handles unknown numeric names (open enum); this cast is the only such one.
const SUITE_NAME = String(TALKEE_SUITE_ID) as unknown as CiphersuiteName;

const suite: Ciphersuite = {
  hash: "SHA-512",
  hpke: { kem: "ML-KEM-1024", kdf: "HKDF-SHA512", aead: "CHACHA20POLY1305" },
  signature: "Ed25519",
  name: SUITE_NAME,
};

let impl: Promise<CiphersuiteImpl> | undefined;

/** The 0xF00C implementation (ML-KEM-1024 via @hpke/ml-kem, ChaCha20-Poly1305 via @hpke/chacha20poly1305). */
export function talkeeSuite(): Promise<CiphersuiteImpl> {
  impl ??= getCiphersuiteImpl(suite);
  return impl;
}

/** Capabilities advertised in our KeyPackages and leaf nodes: 0xF00C first. */
export function talkeeCapabilities(): Capabilities {
  const base = defaultCapabilities();
  return {
    ...base,
    ciphersuites: [SUITE_NAME, ...base.ciphersuites.filter((c) => c !== SUITE_NAME)],
  };
}

/** The first 8 bytes of every encoded Talkee KeyPackage message (the server checks them). */
export const KEYPACKAGE_PREFIX = new Uint8Array([0x00, 0x01, 0x00, 0x05, 0x00, 0x01, 0xf0, 0x0c]);
