// A user's key log as this device checks it (the server side is apps/devices/keylog.py):
// an append-only, hash-chained list of the user's identity keys, device certificates and
// revocations. This device remembers the head and the state it saw (`ContactRecord.log`)
// and asks only for what came after; the log must extend what it saw (else the server
// rewrote history: "fork"), and the identity key and certificates the server lists must be
// the ones its log says ("inconsistent": keys handed out that the log does not show).
//
//   h(-1) = BLAKE3("talkee-keylog-v1" || 0x00 || user)
//   h(i)  = BLAKE3(h(i-1) || kind (1 byte) || u32 len(body) || body)
import type { ListedLog } from "../api/client";
import { blake3 } from "../crypto/blake3";
import { concatBytes, fromBase64, fromUtf8, toBase64, utf8 } from "../crypto/encoding";
import { decodeCertificate } from "../identity/certificate";

/** What this device saw of a user's log: its size and head, and the state the entries make. */
export interface LogState {
  size: number;
  head: string;
  identityKey: string | null;
  /** client_device_id → the latest certificate logged for it (base64); revoked ones are gone. */
  certificates: Record<string, string>;
}

const KINDS = { identity: 1, certified: 2, revoked: 3 } as const;

export async function emptyLog(user: string): Promise<LogState> {
  return { size: 0, head: toBase64(await blake3(concatBytes(utf8("talkee-keylog-v1"), new Uint8Array([0]), utf8(user)))), identityKey: null, certificates: {} };
}

async function chain(previous: Uint8Array, kind: number, body: Uint8Array): Promise<Uint8Array> {
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, body.length);
  return blake3(concatBytes(previous, new Uint8Array([kind]), length, body));
}

/**
 * The state after the listed entries, when they extend `seen` (what this device saw last)
 * and chain to the listed head; "fork" otherwise.
 */
export async function extendLog(user: string, seen: LogState | undefined, listed: ListedLog): Promise<LogState | "fork"> {
  const start = seen ?? (await emptyLog(user));
  if (listed.size < start.size || listed.entries.length !== listed.size - start.size) return "fork";
  const state: LogState = { ...start, certificates: { ...start.certificates } };
  let head = fromBase64(start.head);
  try {
    for (const [offset, entry] of listed.entries.entries()) {
      if (entry.index !== start.size + offset || !(entry.kind in KINDS)) return "fork";
      const body = fromBase64(entry.body);
      head = await chain(head, KINDS[entry.kind], body);
      if (entry.kind === "identity") state.identityKey = entry.body;
      else if (entry.kind === "certified") state.certificates[decodeCertificate(body).certificate.deviceId] = entry.body;
      else delete state.certificates[fromUtf8(body)];
    }
  } catch {
    return "fork"; // a malformed entry
  }
  if (toBase64(head) !== listed.head) return "fork";
  state.size = listed.size;
  state.head = listed.head;
  return state;
}

/** Whether the identity key and certificates the server lists are the ones the log shows. */
export function matchesLog(state: LogState, listed: { identity_key: string | null; devices: Array<{ client_device_id: string; certificate: string | null }> }): boolean {
  if (listed.identity_key !== state.identityKey) return false;
  return listed.devices.every((d) => d.certificate === null || state.certificates[d.client_device_id] === d.certificate);
}
