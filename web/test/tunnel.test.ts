// The DNS tunnel's codec and sealing against the known answers the server's tests
// check too (tunnel-vectors.json, made with apps/transport and dnslib).
import { describe, expect, it } from "vitest";
import { fromHex, toHex, utf8 } from "../src/crypto/encoding";
import {
  MAX_LABEL,
  MAX_NAME,
  RCODE,
  TunnelSession,
  b32encode,
  dnsAnswer,
  dnsQuery,
  fragmentCapacity,
  parseTxt,
  uploadNames,
} from "../src/transport/tunnel";
import vectors from "./tunnel-vectors.json";

describe("tunnel codec", () => {
  it("base32 is RFC 4648 (lowercase, no padding)", () => {
    const cases: [string, string][] = [["", ""], ["f", "my"], ["fo", "mzxq"], ["foo", "mzxw6"], ["foob", "mzxw6yq"], ["fooba", "mzxw6ytb"], ["foobar", "mzxw6ytboi"]];
    for (const [plain, encoded] of cases) expect(b32encode(utf8(plain))).toBe(encoded);
  });

  it("cuts frames into names within DNS limits that reassemble", () => {
    for (const zone of ["t.localhost", "tunnel." + "x".repeat(60) + ".example.org"]) {
      for (const size of [1, 57, 300, 5000]) {
        const frame = crypto.getRandomValues(new Uint8Array(size));
        const names = uploadNames(frame, "aaaaaaaaaaaaa", zone);
        let text = "";
        names.forEach((name, seq) => {
          expect(name.length).toBeLessThanOrEqual(MAX_NAME);
          for (const label of name.split(".")) expect(label.length).toBeLessThanOrEqual(MAX_LABEL);
          const labels = name.slice(0, -zone.length - 1).split(".");
          expect(labels.slice(-2)).toEqual([`aaaaaaaaaaaaa-${seq}-${names.length}`, "u"]);
          text += labels.slice(0, -2).join("");
        });
        expect(text).toBe(b32encode(frame));
        // Every name but the last is filled (the header's numbers may be shorter than 3 digits).
        if (names.length > 1) expect(names[0]!.length).toBeGreaterThan(MAX_NAME - 6);
        expect(fragmentCapacity(zone)).toBeGreaterThan(100);
      }
    }
  });

  it("matches the server's names and reassembles its TXT chunks", () => {
    expect(uploadNames(fromHex(vectors.request_frame), vectors.rid, vectors.zone)).toEqual(vectors.upload_names);
    const parts = vectors.reply_txt.map((strings) => parseTxt(strings));
    expect(parts.map((p) => p.seq)).toEqual(parts.map((_, i) => i));
    expect(parts.every((p) => p.total === parts.length)).toBe(true);
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.chunk.length, 0));
    let offset = 0;
    for (const p of parts) {
      joined.set(p.chunk, offset);
      offset += p.chunk.length;
    }
    const expected = new Uint8Array(512).map((_, i) => i % 256);
    expect(toHex(joined)).toBe(toHex(expected));
    expect(() => parseTxt(["ok"])).toThrow();
    expect(() => parseTxt(["3/2", ""])).toThrow();
  });

  it("writes the same DNS query as dnslib and reads its answers", () => {
    expect(toHex(dnsQuery(vectors.dns_query_id, vectors.upload_names[0]!))).toBe(vectors.dns_query);
    const answer = dnsAnswer(fromHex(vectors.dns_answer), vectors.dns_query_id);
    expect(answer).toEqual({ rcode: RCODE.NOERROR, txt: vectors.dns_answer_txt });
    expect(dnsAnswer(fromHex(vectors.dns_refused), vectors.dns_query_id)).toEqual({ rcode: RCODE.REFUSED, txt: null });
    expect(() => dnsAnswer(fromHex(vectors.dns_answer), vectors.dns_query_id + 1)).toThrow(); // not our id
    expect(() => dnsAnswer(fromHex(vectors.dns_answer).subarray(0, 60), vectors.dns_query_id)).toThrow(); // truncated
  });
});

describe("tunnel sealing", () => {
  it("seals and opens exactly like the server (crypto_kx + XChaCha20-Poly1305)", async () => {
    const session = await TunnelSession.create(fromHex(vectors.server_public), fromHex(vectors.client_seed));
    expect(toHex(session.publicKey)).toBe(vectors.client_public);
    session.counter = vectors.counter - 1;
    const { frame, counter } = await session.seal(utf8(vectors.request_plaintext));
    expect(counter).toBe(vectors.counter);
    expect(toHex(frame)).toBe(vectors.request_frame);
    const reply = await session.open(fromHex(vectors.reply_frame), counter);
    expect(new TextDecoder().decode(reply)).toBe(vectors.reply_plaintext);
  });

  it("refuses a changed reply or a reply to another request", async () => {
    const session = await TunnelSession.create(fromHex(vectors.server_public), fromHex(vectors.client_seed));
    const reply = fromHex(vectors.reply_frame);
    const changed = reply.slice();
    changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 1;
    await expect(session.open(changed, vectors.counter)).rejects.toThrow();
    await expect(session.open(reply, vectors.counter + 1)).rejects.toThrow();
  });

  it("never reuses a counter", async () => {
    const session = await TunnelSession.create(fromHex(vectors.server_public));
    const a = await session.seal(utf8("{}"));
    const b = await session.seal(utf8("{}"));
    expect(b.counter).toBe(a.counter + 1);
    expect(toHex(a.frame)).not.toBe(toHex(b.frame));
  });
});
