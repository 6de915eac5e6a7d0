// Device-sync history bundles: one chat's decrypted history, for a new device of
// the same user. The plaintext JSON is signed by the sending device (Ed25519,
// its own context) and sealed with crypto_box_seal to the new device's X25519
// key; the server sees only (from_device, to_device, chat, ciphertext).
import { fromUtf8, utf8 } from "../crypto/encoding";
import { SYNC_BUNDLE_CONTEXT, verifyWithContext } from "../crypto/identity";
import { SEALED_BOX_OVERHEAD, sealForDevice } from "../crypto/sealedBox";
import type { LocalMessage } from "./store";

/** The server's cap on one sealed bundle (`TALKEE_SYNC_BUNDLE_MAX_BYTES`, 4 MiB). */
export const BUNDLE_MAX_BYTES = 4 * 1024 * 1024;
const SIGNATURE_BYTES = 64;
/** Room for the bundle's own fields around the messages. */
const HEADER_ROOM = 1024;

export interface HistoryBundle {
  v: 1;
  chat_id: string;
  name: string | null;
  part: number;
  parts: number;
  messages: LocalMessage[];
}

export class BundleError extends Error {
  override name = "BundleError";
}

/** What a new device should get: messages the server ordered, readable, not burn-after-reading. */
function shareable(m: LocalMessage): boolean {
  return m.id !== null && m.seq !== null && !m.unavailable && !m.deleted && !m.burn;
}

/**
 * The chat's history as plaintext bundle parts, each small enough that signed and
 * sealed it stays within `maxBytes`. A history too large for one bundle is split
 * between messages (in seq order); every part says how many there are.
 */
export function packHistory(chatId: string, name: string | null, messages: LocalMessage[], maxBytes = BUNDLE_MAX_BYTES): Uint8Array[] {
  const budget = maxBytes - SEALED_BOX_OVERHEAD - SIGNATURE_BYTES - HEADER_ROOM - utf8(name ?? "").length * 2;
  const groups: LocalMessage[][] = [[]];
  let used = 0;
  for (const m of messages.filter(shareable)) {
    const size = utf8(JSON.stringify(m)).length + 1;
    if (size > budget) throw new BundleError(`message ${m.id} alone exceeds a bundle`);
    if (used + size > budget && groups[groups.length - 1]!.length > 0) {
      groups.push([]);
      used = 0;
    }
    groups[groups.length - 1]!.push(m);
    used += size;
  }
  return groups.map((group, part) => {
    const bundle: HistoryBundle = { v: 1, chat_id: chatId, name, part, parts: groups.length, messages: group };
    return utf8(JSON.stringify(bundle));
  });
}

/** signature (64 bytes) || plaintext, sealed to the recipient device. */
export async function sealBundle(plaintext: Uint8Array, signature: Uint8Array, recipientX25519Pub: Uint8Array): Promise<Uint8Array> {
  if (signature.length !== SIGNATURE_BYTES) throw new BundleError("bad signature length");
  const signed = new Uint8Array(SIGNATURE_BYTES + plaintext.length);
  signed.set(signature);
  signed.set(plaintext, SIGNATURE_BYTES);
  return sealForDevice(signed, recipientX25519Pub);
}

function isMessage(value: unknown): value is LocalMessage {
  if (value === null || typeof value !== "object") return false;
  const m = value as Record<string, unknown>;
  return (
    typeof m["key"] === "string" &&
    typeof m["id"] === "number" &&
    typeof m["seq"] === "number" &&
    typeof m["sender"] === "string" &&
    typeof m["text"] === "string" &&
    typeof m["at"] === "number"
  );
}

/**
 * An opened bundle (signature || plaintext), checked against the Ed25519 key of the
 * device the server says sent it (one of our own devices, from GET /v1/devices).
 */
export async function readBundle(opened: Uint8Array, senderEd25519Pub: Uint8Array, chatId: string): Promise<HistoryBundle> {
  if (opened.length <= SIGNATURE_BYTES) throw new BundleError("bundle too short");
  const signature = opened.subarray(0, SIGNATURE_BYTES);
  const plaintext = opened.subarray(SIGNATURE_BYTES);
  if (!(await verifyWithContext(senderEd25519Pub, SYNC_BUNDLE_CONTEXT, plaintext, signature))) {
    throw new BundleError("bundle signature does not verify with the sending device's key");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fromUtf8(plaintext));
  } catch {
    throw new BundleError("bundle is not JSON");
  }
  const b = raw as Partial<HistoryBundle>;
  if (b.v !== 1 || b.chat_id !== chatId || !Array.isArray(b.messages) || !b.messages.every(isMessage)) {
    throw new BundleError("bundle is not a history of this chat");
  }
  return { v: 1, chat_id: chatId, name: typeof b.name === "string" ? b.name : null, part: Number(b.part), parts: Number(b.parts), messages: b.messages };
}
