// BIP-39 recovery mnemonic and the proof/hash pair the server checks.
//   recovery_proof = BLAKE3("talkee-recovery-proof-v1" || 0x00 || localpart || 0x00 || entropy16)
//   recovery_hash  = BLAKE3(recovery_proof)
// The server stores only recovery_hash; presenting recovery_proof resets the password.

import { entropyToMnemonic, generateMnemonic, mnemonicToEntropy, validateMnemonic } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { blake3 } from "./blake3";
import { concatBytes, toBase64, utf8 } from "./encoding";

const PROOF_CONTEXT = "talkee-recovery-proof-v1";

export class InvalidMnemonicError extends Error {
  override name = "InvalidMnemonicError";
}

/** A new 12-word English mnemonic (128 bits of entropy). */
export function newRecoveryMnemonic(): string {
  return generateMnemonic(wordlist, 128);
}

export function mnemonicFromEntropy(entropy: Uint8Array): string {
  return entropyToMnemonic(entropy, wordlist);
}

function normaliseMnemonic(mnemonic: string): string {
  return mnemonic.normalize("NFKD").trim().toLowerCase().split(/\s+/).join(" ");
}

/** The 16 entropy bytes of a 12-word mnemonic; rejects bad words and checksums. */
export function recoveryEntropy(mnemonic: string): Uint8Array {
  const words = normaliseMnemonic(mnemonic);
  if (words.split(" ").length !== 12 || !validateMnemonic(words, wordlist)) {
    throw new InvalidMnemonicError("not a valid 12-word recovery phrase (unknown word or bad checksum)");
  }
  return mnemonicToEntropy(words, wordlist);
}

/** Localpart of `user` or `user@domain`. */
function localpart(username: string): string {
  const at = username.indexOf("@");
  return at === -1 ? username : username.slice(0, at);
}

export async function recoveryProofBytes(username: string, mnemonic: string): Promise<Uint8Array> {
  const entropy = recoveryEntropy(mnemonic);
  const zero = new Uint8Array([0]);
  return blake3(concatBytes(utf8(PROOF_CONTEXT), zero, utf8(localpart(username)), zero, entropy));
}

/** base64 recovery_proof sent to POST /v1/accounts/recover. */
export async function recoveryProof(username: string, mnemonic: string): Promise<string> {
  return toBase64(await recoveryProofBytes(username, mnemonic));
}

/** base64 recovery_hash sent at registration. */
export async function recoveryHash(username: string, mnemonic: string): Promise<string> {
  return toBase64(await blake3(await recoveryProofBytes(username, mnemonic)));
}
