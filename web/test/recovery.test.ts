import { describe, expect, it } from "vitest";
import { blake3, editHash, newEditSecret } from "../src/crypto/blake3";
import { fromBase64, toHex } from "../src/crypto/encoding";
import { InvalidMnemonicError, newRecoveryMnemonic, recoveryEntropy, recoveryHash, recoveryProof } from "../src/crypto/recovery";

const TEST_MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

// The server side (Python) asserts these same bytes; they are printed in web/README.md.
const ALICE_PROOF_HEX = "971adc58a1cdb7e6d3e132e114a765614b8abe9c66f7b39eefbb7148e6ef2ea1";
const ALICE_HASH_HEX = "abe3ef4ecb1e2a1a200c300925a2c52900709b2304b3552071f1a0c3cc985d46";

describe("recovery proof and hash", () => {
  it("matches the documented known-answer vector for alice", async () => {
    const proof = fromBase64(await recoveryProof("alice", TEST_MNEMONIC));
    const hash = fromBase64(await recoveryHash("alice", TEST_MNEMONIC));
    expect(proof.length).toBe(32);
    expect(toHex(hash)).toBe(toHex(await blake3(proof)));
    expect(toHex(proof)).toBe(ALICE_PROOF_HEX);
    expect(toHex(hash)).toBe(ALICE_HASH_HEX);
    expect(await recoveryProof("alice", TEST_MNEMONIC)).toBe("lxrcWKHNt+bT4TLhFKdlYUuKvpxm97Oe77txSObvLqE=");
    expect(await recoveryHash("alice", TEST_MNEMONIC)).toBe("q+PvTsseKhogDDAJJaLFKQBwmyMEs1UgcfGgw8yYXUY=");
  });

  it("uses only the localpart and is insensitive to spacing and case of the words", async () => {
    const a = await recoveryProof("alice", TEST_MNEMONIC);
    expect(await recoveryProof("alice@example.org", TEST_MNEMONIC)).toBe(a);
    expect(await recoveryProof("alice", "  ABANDON abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about ")).toBe(a);
    expect(await recoveryProof("bob", TEST_MNEMONIC)).not.toBe(a);
  });

  it("rejects bad checksums, unknown words and wrong lengths", () => {
    expect(() => recoveryEntropy(TEST_MNEMONIC.replace(/about$/, "abandon"))).toThrow(InvalidMnemonicError);
    expect(() => recoveryEntropy(TEST_MNEMONIC.replace(/about$/, "aboutt"))).toThrow(InvalidMnemonicError);
    expect(() => recoveryEntropy("abandon abandon abandon")).toThrow(InvalidMnemonicError);
    const long = "abandon ".repeat(23) + "art";
    expect(() => recoveryEntropy(long)).toThrow(InvalidMnemonicError);
  });

  it("generates 12-word mnemonics that validate", () => {
    const m = newRecoveryMnemonic();
    expect(m.split(" ")).toHaveLength(12);
    expect(recoveryEntropy(m)).toHaveLength(16);
  });
});

describe("edit secrets", () => {
  it("edit_hash is base64 BLAKE3 of the 32-byte secret", async () => {
    const { secret, editHash: h } = await newEditSecret();
    expect(secret).toHaveLength(32);
    expect(toHex(fromBase64(h))).toBe(toHex(await blake3(secret)));
    await expect(editHash(new Uint8Array(31))).rejects.toThrow(RangeError);
  });
});
