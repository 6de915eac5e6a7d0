// Call signalling (offer / answer / ICE / hangup …) sealed end to end.
//
// The key is the chat's MLS-exporter signalling key (HKDF(exporter "talkee-call-v1",
// info "talkee-webrtc-signaling-v1"), 32 bytes, see crypto/derivedKeys.ts), so it
// rotates with the epoch. Wire form of the socket frame's `payload` (base64):
//
//   epoch (4 bytes, big-endian) || sealWithKey(signalingKey, JSON, context)
//
// with context "talkee-call-signal-v1:<chat id>", so a signal sealed for one chat
// never opens in another. The server relays these bytes and learns nothing else.
import { OpenFailedError, openWithKey, sealWithKey } from "../crypto/derivedKeys";
import { fromBase64, fromUtf8, toBase64, utf8 } from "../crypto/encoding";

export const SIGNAL_CONTEXT = "talkee-call-signal-v1";
/** Signals older than this (or this far in the future) are dropped: a replayed offer must not ring. */
export const SIGNAL_MAX_AGE_MS = 120_000;

export type SignalKind = "offer" | "answer" | "ice" | "hangup" | "decline" | "ringing" | "group-join" | "group-leave";

export interface CallSignal {
  v: 1;
  kind: SignalKind;
  /** Random per call. */
  callId: string;
  /** The sender's MLS credential (user@domain:client_device_id). */
  from: string;
  /** For everything after the offer: the one device this is meant for. */
  to?: string;
  /** offer / answer */
  sdp?: string;
  /** offer: does the caller send video */
  video?: boolean;
  /** ice */
  candidate?: RTCIceCandidateInit | null;
  /** hangup: the sender gave up connecting (no way through was found) */
  failed?: boolean;
  /** ms since the epoch, at the sender */
  ts: number;
}

export interface SignalKeys {
  epoch: number;
  signalingKey: Uint8Array;
}

export class SignalRejected extends Error {
  override name = "SignalRejected";
}

const KINDS = new Set<string>(["offer", "answer", "ice", "hangup", "decline", "ringing", "group-join", "group-leave"]);

function context(chatId: string): string {
  return `${SIGNAL_CONTEXT}:${chatId}`;
}

export async function sealSignal(keys: SignalKeys, chatId: string, signal: CallSignal): Promise<string> {
  const sealed = await sealWithKey(keys.signalingKey, utf8(JSON.stringify(signal)), context(chatId));
  const body = new Uint8Array(4 + sealed.length);
  new DataView(body.buffer).setUint32(0, keys.epoch);
  body.set(sealed, 4);
  return toBase64(body);
}

/** The epoch a payload says it was sealed in (which key to ask the worker for). */
export function signalEpoch(payload: string): number {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(payload);
  } catch {
    throw new SignalRejected("payload is not base64");
  }
  if (bytes.length < 4) throw new SignalRejected("payload too short");
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
}

function isSignal(value: unknown): value is CallSignal {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v["v"] === 1 &&
    typeof v["kind"] === "string" &&
    KINDS.has(v["kind"]) &&
    typeof v["callId"] === "string" &&
    v["callId"].length > 0 &&
    typeof v["from"] === "string" &&
    typeof v["ts"] === "number" &&
    (v["to"] === undefined || typeof v["to"] === "string") &&
    (v["sdp"] === undefined || typeof v["sdp"] === "string") &&
    (v["failed"] === undefined || typeof v["failed"] === "boolean")
  );
}

/**
 * Opens a payload with the keys of the epoch it names. Throws SignalRejected for a
 * payload of another epoch than `keys`, sealed for another chat, altered, stale, or
 * not a signal.
 */
export async function openSignal(keys: SignalKeys, chatId: string, payload: string, now = Date.now()): Promise<CallSignal> {
  const epoch = signalEpoch(payload);
  if (epoch !== keys.epoch) throw new SignalRejected(`signal of epoch ${epoch}, key of epoch ${keys.epoch}`);
  let plain: Uint8Array;
  try {
    plain = await openWithKey(keys.signalingKey, fromBase64(payload).subarray(4), context(chatId));
  } catch (err) {
    if (err instanceof OpenFailedError) throw new SignalRejected("signal does not open (another chat, epoch or altered)");
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(plain));
  } catch {
    throw new SignalRejected("signal is not JSON");
  }
  if (!isSignal(value)) throw new SignalRejected("not a call signal");
  if (Math.abs(now - value.ts) > SIGNAL_MAX_AGE_MS) throw new SignalRejected("stale signal");
  return value;
}
