// Safety numbers: what two people compare (read aloud or scan as a QR code) to
// know that the identity keys their clients pinned for each other are the
// real ones. Our own construction, in the spirit of Signal's numeric
// fingerprint:
//
//   half(address, key) = H^1024 where H^0 = BLAKE3("talkee-safety-number-v1" || 0x00 || address || 0x00 || key)
//                                     H^i = BLAKE3(H^(i-1) || key)
//   digits(half) = the first 30 bytes as six 5-byte big-endian integers,
//                  each mod 100000, written as 5 digits → 30 digits
//   safety number = the two 30-digit halves ordered by address (byte order of
//                   the UTF-8 addresses), concatenated → 60 digits
//
// The same on both sides (symmetric), stable for the same keys and addresses,
// and different when either key changes. The iteration makes it costlier to
// search for a second key whose half collides (each half carries ~100 bits).
// The QR code carries `talkee-sn:1:` + the 60 digits: scanning compares the
// whole number, exactly like typing it.

import { blake3 } from "../crypto/blake3";
import { concatBytes, utf8 } from "../crypto/encoding";

const LABEL = "talkee-safety-number-v1";
const ITERATIONS = 1024;
export const SAFETY_QR_PREFIX = "talkee-sn:1:";

export interface Party {
  /** `localpart@domain`. */
  address: string;
  /** Raw 32-byte Ed25519 identity public key. */
  identityKey: Uint8Array;
}

async function half(party: Party): Promise<string> {
  if (party.identityKey.length !== 32) throw new RangeError("identity key must be 32 bytes");
  let h = await blake3(concatBytes(utf8(LABEL), new Uint8Array([0]), utf8(party.address), new Uint8Array([0]), party.identityKey));
  for (let i = 0; i < ITERATIONS; i += 1) h = await blake3(concatBytes(h, party.identityKey));
  let out = "";
  for (let chunk = 0; chunk < 6; chunk += 1) {
    let n = 0;
    for (let i = 0; i < 5; i += 1) n = n * 256 + (h[chunk * 5 + i] ?? 0);
    out += String(n % 100000).padStart(5, "0");
  }
  return out;
}

function compareAddresses(a: string, b: string): number {
  const x = utf8(a);
  const y = utf8(b);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** The 60-digit safety number of two users (same whichever side computes it). */
export async function safetyNumber(a: Party, b: Party): Promise<string> {
  if (a.address === b.address) throw new RangeError("a safety number is between two different users");
  const [first, second] = compareAddresses(a.address, b.address) < 0 ? [a, b] : [b, a];
  return (await half(first)) + (await half(second));
}

/** Twelve groups of five digits, as people read them. */
export function formatSafetyNumber(digits: string): string {
  return (digits.match(/.{1,5}/g) ?? []).join(" ");
}

/** The text the QR code carries. */
export function safetyQrPayload(digits: string): string {
  if (!/^\d{60}$/.test(digits)) throw new RangeError("a safety number is 60 digits");
  return SAFETY_QR_PREFIX + digits;
}

/** The 60 digits a scanned QR code carries; null for any code that is not a Talkee safety number. */
export function parseSafetyQr(text: string): string | null {
  const t = text.trim();
  if (!t.startsWith(SAFETY_QR_PREFIX)) return null;
  const digits = t.slice(SAFETY_QR_PREFIX.length);
  return /^\d{60}$/.test(digits) ? digits : null;
}

/** Whether a scanned QR payload (or typed digits, spaces allowed) matches our number. */
export function matchesSafetyNumber(ours: string, scannedOrTyped: string): boolean {
  const text = scannedOrTyped.trim();
  const digits = text.startsWith(SAFETY_QR_PREFIX) ? text.slice(SAFETY_QR_PREFIX.length) : text.replace(/\s+/g, "");
  return /^\d{60}$/.test(digits) && digits === ours;
}
