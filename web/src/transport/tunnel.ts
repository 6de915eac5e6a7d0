// The DNS tunnel: sync, ack and send carried in DNS queries when neither the
// WebSocket nor HTTPS /v1/ gets through. A browser cannot send raw DNS, so the
// queries go as DNS-over-HTTPS POSTs (RFC 8484) to a resolver URL — the
// instance's own /dns-query by default, or a public resolver that forwards the
// delegated zone to the instance's authoritative gateway.
//
// The codec mirrors apps/transport/codec.py and sealing.py (known answers shared in
// web/test/tunnel-vectors.json):
//   upload   <data…>.<rid>-<seq>-<total>.u.<zone>   base32 labels ≤ 63, names ≤ 253
//   download <rid>-<seq>.d.<zone>                   TXT ["<seq>/<total>", base64…]
//   request  0x01 | client_pk | counter (8, BE) | XChaCha20-Poly1305(tx, nonce, json)
//   reply    0x00 | XChaCha20-Poly1305(rx, nonce, json), AAD 0x00 | request header
// Keys come from crypto_kx with the instance's tunnel key; nonce = 16 zero bytes
// then the counter, which never repeats for one ephemeral key.
import { ApiError, NetworkError, type Frame, type SendBody } from "../api/client";
import { concatBytes, fromBase64, fromUtf8, utf8 } from "../crypto/encoding";
import { loadSodium } from "../crypto/sodium";

export const MAX_NAME = 253;
export const MAX_LABEL = 63;
export const RID_CHARS = 13;
export const MAX_FRAGMENTS = 256;
const VERSION = 1;
const REPLY_OK = 0;
const PARALLEL = 4;
// A query the resolver does not answer must not hold the outbox: give up and retry later.
const QUERY_TIMEOUT_MS = 10_000;
const TYPE_TXT = 16;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

// ---- names -------------------------------------------------------------------

const B32 = "abcdefghijklmnopqrstuvwxyz234567";

/** RFC 4648 base32, lowercase, no padding (resolvers may change a name's case). */
export function b32encode(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** How many base32 characters one upload name carries under `zone`. */
export function fragmentCapacity(zone: string): number {
  const suffix = 1 + RID_CHARS + 1 + 3 + 1 + 3 + ".u.".length + zone.length;
  const room = MAX_NAME - suffix;
  let chars = room;
  while (chars + Math.ceil(chars / MAX_LABEL) - 1 > room) chars -= 1;
  return chars;
}

export function uploadNames(frame: Uint8Array, rid: string, zone: string): string[] {
  const text = b32encode(frame);
  const size = fragmentCapacity(zone);
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
  if (parts.length === 0 || parts.length > MAX_FRAGMENTS) throw new TunnelError("frame too large for the tunnel");
  return parts.map((part, seq) => {
    const labels: string[] = [];
    for (let i = 0; i < part.length; i += MAX_LABEL) labels.push(part.slice(i, i + MAX_LABEL));
    return [...labels, `${rid}-${seq}-${parts.length}`, "u", zone].join(".");
  });
}

export function downloadName(rid: string, seq: number, zone: string): string {
  return `${rid}-${seq}.d.${zone}`;
}

export function parseTxt(strings: string[]): { seq: number; total: number; chunk: Uint8Array } {
  const match = /^(\d+)\/(\d+)$/.exec(strings[0] ?? "");
  if (match === null) throw new TunnelError("not a tunnel answer");
  const seq = Number(match[1]);
  const total = Number(match[2]);
  if (!(seq < total)) throw new TunnelError("bad answer numbers");
  let chunk: Uint8Array;
  try {
    chunk = fromBase64(strings.slice(1).join(""));
  } catch {
    throw new TunnelError("bad answer");
  }
  return { seq, total, chunk };
}

// ---- DNS messages (one TXT question out, its TXT answer back) --------------------
// Only this one shape is needed, so it is written out here rather than pulling a DNS
// library (and Node's Buffer) into the app.

export function dnsQuery(id: number, name: string): Uint8Array {
  const labels = name.split(".").map((label) => utf8(label));
  const size = 12 + labels.reduce((n, l) => n + 1 + l.length, 0) + 1 + 4;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(0, id);
  view.setUint16(2, 0x0100); // standard query, recursion desired
  view.setUint16(4, 1);
  let offset = 12;
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL) throw new TunnelError("bad label");
    out[offset++] = label.length;
    out.set(label, offset);
    offset += label.length;
  }
  out[offset++] = 0;
  view.setUint16(offset, TYPE_TXT);
  view.setUint16(offset + 2, 1); // IN
  return out;
}

/** The rcode and the strings of the first TXT answer of a DNS reply. */
export function dnsAnswer(wire: Uint8Array, id: number): { rcode: number; txt: string[] | null } {
  const view = new DataView(wire.buffer, wire.byteOffset, wire.byteLength);
  const need = (end: number): void => {
    if (end > wire.length) throw new TunnelError("truncated DNS answer");
  };
  need(12);
  if (view.getUint16(0) !== id || (view.getUint16(2) & 0x8000) === 0) throw new TunnelError("not our answer");
  const rcode = view.getUint16(2) & 0x0f;
  const questions = view.getUint16(4);
  const answers = view.getUint16(6);
  let offset = 12;
  const skipName = (): void => {
    for (;;) {
      need(offset + 1);
      const length = wire[offset] ?? 0;
      if ((length & 0xc0) === 0xc0) {
        offset += 2;
        return;
      }
      offset += 1 + length;
      if (length === 0) return;
    }
  };
  for (let q = 0; q < questions; q++) {
    skipName();
    offset += 4;
  }
  for (let a = 0; a < answers; a++) {
    skipName();
    need(offset + 10);
    const type = view.getUint16(offset);
    const length = view.getUint16(offset + 8);
    offset += 10;
    need(offset + length);
    if (type === TYPE_TXT) {
      const strings: string[] = [];
      let at = offset;
      while (at < offset + length) {
        const size = wire[at] ?? 0;
        need(at + 1 + size);
        strings.push(fromUtf8(wire.subarray(at + 1, at + 1 + size)));
        at += 1 + size;
      }
      return { rcode, txt: strings };
    }
    offset += length;
  }
  return { rcode, txt: null };
}

// ---- sealing ---------------------------------------------------------------------

export class TunnelError extends Error {
  override name = "TunnelError";
}

/** The gateway refused the frame (tampered, replayed, stale, or sealed to another key). */
export class TunnelRefused extends TunnelError {
  override name = "TunnelRefused";
}

function nonceFor(counter: number): Uint8Array {
  const nonce = new Uint8Array(24);
  new DataView(nonce.buffer).setBigUint64(16, BigInt(counter));
  return nonce;
}

/** An ephemeral X25519 key pair and its request counter. */
export class TunnelSession {
  counter = 0;
  private constructor(
    readonly publicKey: Uint8Array,
    private readonly rx: Uint8Array,
    private readonly tx: Uint8Array,
  ) {}

  static async create(serverPublicKey: Uint8Array, seed?: Uint8Array): Promise<TunnelSession> {
    const sodium = await loadSodium();
    const pair = seed === undefined ? sodium.crypto_kx_keypair() : sodium.crypto_kx_seed_keypair(seed);
    const keys = sodium.crypto_kx_client_session_keys(pair.publicKey, pair.privateKey, serverPublicKey);
    return new TunnelSession(pair.publicKey, keys.sharedRx, keys.sharedTx);
  }

  private header(counter: number): Uint8Array {
    const header = new Uint8Array(41);
    header[0] = VERSION;
    header.set(this.publicKey, 1);
    new DataView(header.buffer).setBigUint64(33, BigInt(counter));
    return header;
  }

  async seal(plaintext: Uint8Array): Promise<{ frame: Uint8Array; counter: number }> {
    const sodium = await loadSodium();
    this.counter += 1;
    const counter = this.counter;
    const header = this.header(counter);
    const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, header, null, nonceFor(counter), this.tx);
    return { frame: concatBytes(header, sealed), counter };
  }

  async open(reply: Uint8Array, counter: number): Promise<Uint8Array> {
    const sodium = await loadSodium();
    if (reply.length === 0 || reply[0] !== REPLY_OK) throw new TunnelError("not a reply");
    const aad = concatBytes(new Uint8Array([REPLY_OK]), this.header(counter));
    try {
      return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, reply.subarray(1), aad, nonceFor(counter), this.rx);
    } catch {
      throw new TunnelError("reply does not authenticate");
    }
  }
}

// ---- the tunnel ------------------------------------------------------------------

export interface TunnelConfig {
  /** A DoH endpoint (RFC 8484, POST application/dns-message). */
  resolverUrl: string;
  zone: string;
  serverPublicKey: Uint8Array;
}

async function inParallel<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
}

/** A DNS message to a resolver and its answer back over another wire than DoH (the CLI's plain DNS, web/cli/dnsWire.ts). */
export type DnsWire = (query: Uint8Array, signal: AbortSignal) => Promise<Uint8Array>;
let plainDns: DnsWire | null = null;

/** Queries go over `wire` instead of being posted as DoH to the config's resolverUrl (null: DoH again). */
export function carryOverPlainDns(wire: DnsWire | null): void {
  plainDns = wire;
}

function randomRid(): string {
  return b32encode(crypto.getRandomValues(new Uint8Array(8)));
}

/** The three protocol operations over DoH; errors are ApiError (the server's answer) or NetworkError. */
export class DnsTunnel {
  private session: Promise<TunnelSession> | null = null;

  constructor(
    readonly config: TunnelConfig,
    private readonly token: () => string,
  ) {}

  private async txt(name: string, signal?: AbortSignal): Promise<string[]> {
    const id = crypto.getRandomValues(new Uint16Array(1))[0] ?? 0;
    let response: Response;
    let wire: Uint8Array;
    try {
      const init: RequestInit = {
        method: "POST",
        headers: { "Content-Type": "application/dns-message", Accept: "application/dns-message" },
        body: dnsQuery(id, name) as BodyInit,
        cache: "no-store",
      };
      const timeout = AbortSignal.timeout(QUERY_TIMEOUT_MS);
      init.signal = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
      if (plainDns !== null) {
        wire = await plainDns(init.body as Uint8Array, init.signal);
      } else {
        response = await fetch(this.config.resolverUrl, init);
        if (!response.ok) throw new NetworkError();
        wire = new Uint8Array(await response.arrayBuffer());
      }
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError" && signal?.aborted === true) throw err;
      throw new NetworkError();
    }
    const answer = dnsAnswer(wire, id);
    if (answer.rcode === RCODE.REFUSED) throw new TunnelRefused("the gateway refused the frame");
    if (answer.rcode !== RCODE.NOERROR || answer.txt === null) throw new NetworkError();
    return answer.txt;
  }

  /** Upload one sealed frame and fetch every chunk of its reply. */
  private async exchange(frame: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    const zone = this.config.zone;
    const rid = randomRid();
    const names = uploadNames(frame, rid, zone);
    for (let attempt = 0; ; attempt++) {
      await inParallel(names.slice(0, -1), async (name) => {
        await this.txt(name, signal);
      });
      const last = await this.txt(names[names.length - 1] as string, signal);
      if (last[0] === "missing" && attempt < 1) continue; // a fragment expired on the way: once more
      const first = parseTxt(last);
      const chunks: Uint8Array[] = [first.chunk];
      const rest = Array.from({ length: first.total - 1 }, (_, i) => i + 1);
      await inParallel(rest, async (seq) => {
        const got = parseTxt(await this.txt(downloadName(rid, seq, zone), signal));
        if (got.seq !== seq) throw new TunnelError("answer out of order");
        chunks[seq] = got.chunk;
      });
      return concatBytes(...chunks);
    }
  }

  /** One operation: sealed, sent, answered like the HTTP API (status + body). */
  async call(op: Record<string, unknown>, signal?: AbortSignal): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      this.session ??= TunnelSession.create(this.config.serverPublicKey);
      const session = await this.session;
      const plaintext = utf8(JSON.stringify({ ...op, token: this.token(), ts: Math.floor(Date.now() / 1000) }));
      const { frame, counter } = await session.seal(plaintext);
      let reply: Uint8Array;
      try {
        reply = await this.exchange(frame, signal);
      } catch (err) {
        // A refused frame may be a stale key on a restarted gateway: a fresh key, once.
        if (err instanceof TunnelRefused && attempt === 0) {
          this.session = null;
          continue;
        }
        if (err instanceof TunnelError) throw new NetworkError();
        throw err;
      }
      let answer: { status: number; body: unknown };
      try {
        answer = JSON.parse(fromUtf8(await session.open(reply, counter))) as { status: number; body: unknown };
      } catch {
        throw new NetworkError();
      }
      if (answer.status >= 400) {
        const error = (answer.body as { error?: { code?: string; message?: string } } | null)?.error;
        throw new ApiError(answer.status, error?.code ?? `http_${answer.status}`, error?.message ?? `The server answered ${answer.status}.`);
      }
      return answer.body;
    }
  }

  sync(cursor: number, timeout: number, signal?: AbortSignal): Promise<{ events: Frame[]; cursor: number; more: boolean }> {
    return this.call({ op: "sync", cursor, timeout }, signal) as Promise<{ events: Frame[]; cursor: number; more: boolean }>;
  }

  ack(cursor: number): Promise<{ cursor: number }> {
    return this.call({ op: "ack", cursor }) as Promise<{ cursor: number }>;
  }

  send(chatId: string, body: SendBody): Promise<{ id: number; seq: number }> {
    return this.call({ ...body, op: "send", chat_id: chatId }) as Promise<{ id: number; seq: number }>;
  }
}

const CONFIG_KEY = "talkee.tunnel";
/** Set this localStorage key to use another DoH resolver than the one the instance names. */
export const RESOLVER_KEY = "talkee.dohResolver";

interface TunnelInfo {
  tunnel_x25519_pub?: string;
  tunnel_zone?: string;
  tunnel_doh_url?: string | null;
}

/** The tunnel's zone, key and resolver from /.well-known/talkee/server, remembered for the
 * day the well-known URL is blocked too; null when the instance has no tunnel. The
 * resolver is, in order: this browser's `talkee.dohResolver`, the public resolver the
 * instance names (TALKEE_TUNNEL_DOH_URL), the instance's own /dns-query. */
export async function loadTunnelConfig(serverInfo: () => Promise<TunnelInfo>): Promise<TunnelConfig | null> {
  let stored: { zone?: string; key?: string; resolver?: string | null } | null = null;
  try {
    const info = await serverInfo();
    if (info.tunnel_zone !== undefined && info.tunnel_x25519_pub !== undefined) {
      stored = { zone: info.tunnel_zone, key: info.tunnel_x25519_pub, resolver: info.tunnel_doh_url ?? null };
      localStorage.setItem(CONFIG_KEY, JSON.stringify(stored));
    }
  } catch {
    try {
      stored = JSON.parse(localStorage.getItem(CONFIG_KEY) ?? "null") as typeof stored;
    } catch {
      stored = null;
    }
  }
  if (stored?.zone === undefined || stored.key === undefined) return null;
  return {
    zone: stored.zone,
    serverPublicKey: fromBase64(stored.key),
    resolverUrl: localStorage.getItem(RESOLVER_KEY) ?? stored.resolver ?? `${location.origin}/dns-query`,
  };
}
