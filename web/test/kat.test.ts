// Known-answer tests of the primitives against published vectors.
import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { mnemonicToSeedSync } from "@scure/bip39";
import { argon2id as wasmArgon2id } from "hash-wasm";
import { describe, expect, it } from "vitest";
import { blake3 } from "../src/crypto/blake3";
import { fromHex, toHex, utf8 } from "../src/crypto/encoding";
import { mnemonicFromEntropy, recoveryEntropy } from "../src/crypto/recovery";
import { loadSodium } from "../src/crypto/sodium";

describe("XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 §A.3.1)", () => {
  const key = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = fromHex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const aad = fromHex("50515253c0c1c2c3c4c5c6c7");
  const plaintext = utf8(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const expected =
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb" +
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452" +
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9" +
    "21f9664c97637da9768812f615c68b13b52e" +
    "c0875924c1c7987947deafd8780acf49"; // tag

  it("libsodium produces the draft's ciphertext and tag and opens it", async () => {
    const sodium = await loadSodium();
    const ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key);
    expect(toHex(ct)).toBe(expected);
    expect(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ct, aad, nonce, key)).toEqual(plaintext);
    const bad = ct.slice();
    bad[bad.length - 1]! ^= 1;
    expect(() => sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, bad, aad, nonce, key)).toThrow();
  });
});

describe("Argon2id", () => {
  it("RFC 9106 §5.3 vector (p=4, secret and associated data) via @noble/hashes", () => {
    // libsodium's crypto_pwhash takes neither a secret nor associated data and
    // always uses p=1, and hash-wasm has no associated-data input, so the RFC
    // vector is checked with @noble/hashes; the agreement tests below tie
    // libsodium (which the vault uses) to the published reference vectors.
    const tag = nobleArgon2id(new Uint8Array(32).fill(1), new Uint8Array(16).fill(2), {
      t: 3,
      m: 32,
      p: 4,
      dkLen: 32,
      key: new Uint8Array(8).fill(3),
      personalization: new Uint8Array(12).fill(4),
    });
    expect(toHex(tag)).toBe("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
  });

  it("reference-implementation vector (password/somesalt, t=2, m=64 MiB, p=1) via hash-wasm", async () => {
    const tag = await wasmArgon2id({
      password: "password",
      salt: "somesalt",
      iterations: 2,
      memorySize: 65536,
      parallelism: 1,
      hashLength: 32,
      outputType: "hex",
    });
    expect(tag).toBe("09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7");
  });

  it("libsodium crypto_pwhash agrees with hash-wasm and noble at the vault's parameters", async () => {
    const sodium = await loadSodium();
    const salt = fromHex("000102030405060708090a0b0c0d0e0f"); // crypto_pwhash needs exactly 16 bytes
    const ours = sodium.crypto_pwhash(32, utf8("correct horse battery staple"), salt, 3, 64 * 1024 * 1024, sodium.crypto_pwhash_ALG_ARGON2ID13);
    const wasm = await wasmArgon2id({
      password: "correct horse battery staple",
      salt,
      iterations: 3,
      memorySize: 65536,
      parallelism: 1,
      hashLength: 32,
      outputType: "hex",
    });
    expect(toHex(ours)).toBe(wasm);
    const small = sodium.crypto_pwhash(32, utf8("password"), salt, 2, 1024 * 1024, sodium.crypto_pwhash_ALG_ARGON2ID13);
    expect(toHex(small)).toBe(toHex(nobleArgon2id(utf8("password"), salt, { t: 2, m: 1024, p: 1, dkLen: 32 })));
  });
});

describe("BLAKE3 (official test_vectors.json, input = i mod 251)", () => {
  const input = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i % 251);
  const vectors: Array<[number, string]> = [
    [0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"],
    [1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"],
    [1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"],
    [1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"],
    [1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"],
    [3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"],
  ];
  it.each(vectors)("input_len %i", async (n, hex) => {
    expect(toHex(await blake3(input(n)))).toBe(hex);
  });
});

describe("BIP-39 (Trezor English vectors)", () => {
  const vectors: Array<[string, string, string]> = [
    [
      "00000000000000000000000000000000",
      "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
      "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
    ],
    [
      "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
      "legal winner thank year wave sausage worth useful legal winner thank yellow",
      "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
    ],
    [
      "80808080808080808080808080808080",
      "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
      "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30fa280f12eb2e47ed2ac03b5c462a0358d18d69fe4f985ec81778c1b370b652a8",
    ],
    ["ffffffffffffffffffffffffffffffff", "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong", ""],
  ];
  it.each(vectors)("entropy %s", (entropyHex, mnemonic, seedHex) => {
    expect(mnemonicFromEntropy(fromHex(entropyHex))).toBe(mnemonic);
    expect(toHex(recoveryEntropy(mnemonic))).toBe(entropyHex);
    if (seedHex !== "") expect(toHex(mnemonicToSeedSync(mnemonic, "TREZOR"))).toBe(seedHex);
  });
});
