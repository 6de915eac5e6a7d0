// The code a person compares between two of their devices before one approves the other:
// a fingerprint of the new device's two public keys, shown by the new device (from its own
// keys) and by the approving one (from the keys the server lists). A server that swapped
// the keys would show a different code: to match a 20-digit code (≈ 66 bits) it would have
// to find key pairs by brute force while the person waits.
import { blake3 } from "../crypto/blake3";
import { concatBytes, utf8 } from "../crypto/encoding";

const APPROVAL_LABEL = "talkee-device-approval-v1";
const GROUPS = 5;

/** "12345 …": five groups of four digits from BLAKE3(label || 0 || ed25519 || x25519). */
export async function approvalCode(ed25519Pub: Uint8Array, x25519Pub: Uint8Array): Promise<string> {
  if (ed25519Pub.length !== 32 || x25519Pub.length !== 32) throw new RangeError("device keys are 32 bytes each");
  const digest = await blake3(concatBytes(utf8(APPROVAL_LABEL), new Uint8Array([0]), ed25519Pub, x25519Pub));
  const groups: string[] = [];
  for (let i = 0; i < GROUPS; i++) {
    // 24 bits per group reduced to 4 digits: the bias is below 0.1 %.
    const value = (digest[3 * i]! << 16) | (digest[3 * i + 1]! << 8) | digest[3 * i + 2]!;
    groups.push(String(value % 10000).padStart(4, "0"));
  }
  return groups.join(" ");
}

/** What a waiting device's QR code holds: its id and both public keys (base64), so the
 * approving device compares every bit, not only the code. */
export const APPROVAL_QR_PREFIX = "talkee-device:1:";

export interface ApprovalQr {
  clientDeviceId: string;
  ed25519Pub: string;
  x25519Pub: string;
}

export function approvalQrPayload(device: ApprovalQr): string {
  return `${APPROVAL_QR_PREFIX}${device.clientDeviceId}:${device.ed25519Pub}:${device.x25519Pub}`;
}

export function parseApprovalQr(text: string): ApprovalQr | null {
  if (!text.startsWith(APPROVAL_QR_PREFIX)) return null;
  const [clientDeviceId, ed25519Pub, x25519Pub, ...rest] = text.slice(APPROVAL_QR_PREFIX.length).split(":");
  if (clientDeviceId === undefined || ed25519Pub === undefined || x25519Pub === undefined || rest.length > 0) return null;
  if (!/^[0-9a-f-]{36}$/.test(clientDeviceId) || !/^[A-Za-z0-9+/]{43}=$/.test(ed25519Pub) || !/^[A-Za-z0-9+/]{43}=$/.test(x25519Pub)) return null;
  return { clientDeviceId, ed25519Pub, x25519Pub };
}
