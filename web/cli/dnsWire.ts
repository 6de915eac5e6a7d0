// Plain DNS to a recursive resolver, the wire under the tunnel codec when the CLI runs with
// --dns (web/src/transport/tunnel.ts builds the query and reads the answer, as for DoH):
// UDP from a fresh random port, sent again once if no answer came, and over TCP when the
// answer comes back truncated (TC). The answer must come from the resolver asked and carry
// the query's id (a stray or spoofed datagram is ignored).
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { connect } from "node:net";

const RESEND_MS = 2500;

export interface Resolver {
  host: string;
  port: number;
}

/** "HOST", "HOST:PORT", "[v6]:PORT" → the resolver (port 53 by default). */
export function parseResolver(text: string): Resolver {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const v4 = /^([^:]+)(?::(\d+))?$/.exec(text);
  const match = v6 ?? v4;
  const port = Number(match?.[2] ?? 53);
  if (match === null || match[1] === undefined || !(port > 0 && port < 65536)) throw new Error(`not a resolver address: ${text}`);
  return { host: match[1], port };
}

/** The first nameserver of /etc/resolv.conf (null: none). */
export function systemResolver(path = "/etc/resolv.conf"): Resolver | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  const line = /^\s*nameserver\s+(\S+)/m.exec(text);
  const address = line?.[1]?.split("%")[0];
  if (address === undefined) return null;
  return { host: address, port: 53 };
}

function aborted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

function sameId(query: Uint8Array, answer: Uint8Array): boolean {
  return answer.length >= 12 && answer[0] === query[0] && answer[1] === query[1] && ((answer[2] ?? 0) & 0x80) !== 0;
}

function overUdp(resolver: Resolver, query: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(resolver.host.includes(":") ? "udp6" : "udp4");
    let resend: ReturnType<typeof setTimeout> | null = null;
    const done = (fn: () => void): void => {
      if (resend !== null) clearTimeout(resend);
      signal.removeEventListener("abort", onAbort);
      socket.close();
      fn();
    };
    const onAbort = (): void => done(() => reject(aborted(signal)));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort);
    socket.on("error", (err) => done(() => reject(err)));
    socket.on("message", (msg, from) => {
      if (from.port !== resolver.port || !sameId(query, msg)) return;
      done(() => resolve(new Uint8Array(msg)));
    });
    socket.connect(resolver.port, resolver.host, () => {
      socket.send(query);
      resend = setTimeout(() => socket.send(query), RESEND_MS);
    });
  });
}

function overTcp(resolver: Resolver, query: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: resolver.host, port: resolver.port });
    let got = Buffer.alloc(0);
    const done = (fn: () => void): void => {
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      fn();
    };
    const onAbort = (): void => done(() => reject(aborted(signal)));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort);
    socket.on("error", (err) => done(() => reject(err)));
    socket.on("close", () => done(() => reject(new Error("the resolver closed the connection"))));
    socket.on("connect", () => {
      const framed = Buffer.alloc(2 + query.length);
      framed.writeUInt16BE(query.length, 0);
      framed.set(query, 2);
      socket.write(framed);
    });
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 2 || got.length < 2 + got.readUInt16BE(0)) return;
      const answer = new Uint8Array(got.subarray(2, 2 + got.readUInt16BE(0)));
      done(() => (sameId(query, answer) ? resolve(answer) : reject(new Error("not our answer"))));
    });
  });
}

/** The tunnel's wire to `resolver`: UDP, then TCP for a truncated answer. */
export function plainDnsWire(resolver: Resolver): (query: Uint8Array, signal: AbortSignal) => Promise<Uint8Array> {
  return async (query, signal) => {
    const answer = await overUdp(resolver, query, signal);
    const truncated = ((answer[2] ?? 0) & 0x02) !== 0;
    return truncated ? overTcp(resolver, query, signal) : answer;
  };
}
