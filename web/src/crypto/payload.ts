// The application payload that travels inside MLS. Serialised as UTF-8 JSON
// (compact, keys in insertion order), then padded with ISO/IEC 7816-4 to a
// message bucket. Binary values (file keys) are standard base64 strings.

import { fromUtf8, utf8 } from "./encoding";
import { padMessage, unpadMessage } from "./padding";

export const PAYLOAD_VERSION = 1;

/** A file attachment: everything needed to fetch, decrypt and show it. */
export interface FileReference {
  /** Server blob id. */
  blob_id: string;
  /** base64 of the 32-byte secretstream key. */
  key: string;
  name: string;
  mime: string;
  /** True plaintext size in bytes (the blob itself is padded to a bucket). */
  size: number;
  /** Pictures and videos (app/images.ts): pixel size and a small thumbnail (base64, JPEG or WebP). */
  width?: number;
  height?: number;
  thumb?: string;
  thumb_mime?: string;
  /** A voice message: its duration and waveform (app/voice.ts), sealed with the rest. */
  voice?: { duration_ms: number; waveform: number[] };
}

export interface MessagePayload {
  _v: 1;
  /** `user@domain:device_id` of the author (sealed sender: only members see it). */
  sender: string;
  text: string;
  /** base64 key of an attached file, when the message is a file. */
  file_key?: string;
  file?: FileReference;
  reply_to?: string;
  forward_of?: string;
  /** base64 edit secret hash is sent to the server; the secret itself stays local. */
  [extra: string]: unknown;
}

export class InvalidPayloadError extends Error {
  override name = "InvalidPayloadError";
}

/** Serialises and pads a payload; throws PayloadTooLargeError above 64 KiB. */
export function encodePayload(payload: MessagePayload): Uint8Array {
  if (payload._v !== PAYLOAD_VERSION) throw new InvalidPayloadError("payload _v must be 1");
  return padMessage(utf8(JSON.stringify(payload)));
}

/** Unpads and parses a payload, checking the fields every version-1 payload has. */
export function decodePayload(padded: Uint8Array): MessagePayload {
  const json = fromUtf8(unpadMessage(padded));
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new InvalidPayloadError("payload is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidPayloadError("payload is not an object");
  }
  const record = value as Record<string, unknown>;
  if (record["_v"] !== PAYLOAD_VERSION) throw new InvalidPayloadError("unsupported payload version");
  if (typeof record["sender"] !== "string") throw new InvalidPayloadError("payload sender missing");
  if (typeof record["text"] !== "string") throw new InvalidPayloadError("payload text missing");
  for (const optional of ["file_key", "reply_to", "forward_of"] as const) {
    if (optional in record && typeof record[optional] !== "string") {
      throw new InvalidPayloadError(`payload ${optional} must be a string`);
    }
  }
  return record as MessagePayload;
}
