// talkee-cli's own parts (web/cli): the vault file (the browser's sealed rows on disk,
// opened again by the core's Vault), the one-process lock, and the plain-DNS wire
// (resolver addresses, UDP with the TCP fallback on a truncated answer) against real
// sockets on loopback.
import "../cli/env";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseResolver, plainDnsWire, systemResolver } from "../cli/dnsWire";
import { VaultBusyError, VaultFile } from "../cli/vaultFile";
import { fromUtf8, utf8 } from "../src/crypto/encoding";
import { dnsQuery } from "../src/transport/tunnel";
import { DEFAULT_VAULT_DB, Vault, WrongPasswordError } from "../src/vault/vault";

function dropDatabase(): Promise<void> {
  return new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(DEFAULT_VAULT_DB);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
}

describe("cli vault file", () => {
  it("holds the browser's sealed rows, opens again only with the passphrase, and one process at a time", async () => {
    const dir = mkdtempSync(join(tmpdir(), "talkee-cli-"));
    const path = join(dir, "vault.json");
    const file = new VaultFile(path);
    await file.load();
    const vault = await Vault.create("correct horse battery staple");
    await vault.put("app/secret", utf8("the plaintext that must not be on disk"));
    localStorage.setItem("talkee.tunnel", '{"zone":"t.example.org"}');
    vault.lock();
    await file.flush();
    const raw = readFileSync(path, "utf8");
    expect(raw).not.toContain("the plaintext");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const parsed = JSON.parse(raw) as { format: string; rows: Record<string, unknown>; local: Record<string, string> };
    expect(parsed.format).toBe("talkee-vault-file-v1");
    expect(Object.keys(parsed.rows)).toEqual(["app/secret"]);
    expect(parsed.local["talkee.tunnel"]).toBe('{"zone":"t.example.org"}');
    // Held by this (live) process: a second opener is refused.
    await expect(new VaultFile(path).load()).rejects.toBeInstanceOf(VaultBusyError);

    // A fresh IndexedDB filled from the file (the lock of a dead process is taken over).
    await dropDatabase();
    writeFileSync(`${path}.lock`, "2147483646");
    await new VaultFile(path).load();
    await expect(Vault.unlock("wrong passphrase")).rejects.toBeInstanceOf(WrongPasswordError);
    const again = await Vault.unlock("correct horse battery staple");
    expect(fromUtf8((await again.get("app/secret")) as Uint8Array)).toBe("the plaintext that must not be on disk");
    again.lock();
  });
});

describe("cli dns wire", () => {
  it("reads resolver addresses", () => {
    expect(parseResolver("9.9.9.9")).toEqual({ host: "9.9.9.9", port: 53 });
    expect(parseResolver("127.0.0.1:5353")).toEqual({ host: "127.0.0.1", port: 5353 });
    expect(parseResolver("[::1]:53")).toEqual({ host: "::1", port: 53 });
    expect(() => parseResolver("127.0.0.1:99999")).toThrow();
    const dir = mkdtempSync(join(tmpdir(), "talkee-cli-"));
    writeFileSync(join(dir, "resolv.conf"), "# comment\nsearch example\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n");
    expect(systemResolver(join(dir, "resolv.conf"))).toEqual({ host: "10.0.0.53", port: 53 });
    expect(systemResolver(join(dir, "missing"))).toBeNull();
  });

  it("asks over UDP, ignores a stranger's id, and asks again over TCP when the answer is truncated", async () => {
    const query = dnsQuery(0x1234, "abc.t.example.org");
    const full = new Uint8Array([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 7, 7, 7]);
    const udp = createSocket("udp4");
    const asked: string[] = [];
    udp.on("message", (msg, from) => {
      asked.push("udp");
      const stranger = Buffer.from(msg);
      stranger[0] = 0x99; // not our id: ignored
      udp.send(stranger, from.port, from.address);
      const truncated = Buffer.from(msg);
      truncated[2] = 0x83; // QR + TC
      udp.send(truncated, from.port, from.address);
    });
    const tcp = createServer((conn) => {
      asked.push("tcp");
      conn.on("data", (data) => {
        expect(new Uint8Array(data.subarray(2))).toEqual(query);
        const framed = Buffer.alloc(2 + full.length);
        framed.writeUInt16BE(full.length, 0);
        framed.set(full, 2);
        conn.end(framed);
      });
    });
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r));
    const port = udp.address().port;
    await new Promise<void>((r) => tcp.listen(port, "127.0.0.1", r));
    try {
      const answer = await plainDnsWire({ host: "127.0.0.1", port })(query, AbortSignal.timeout(5000));
      expect(answer).toEqual(full);
      expect(asked).toEqual(["udp", "tcp"]);
    } finally {
      udp.close();
      tcp.close();
    }
  });

  it("gives up when the signal ends (a resolver that never answers)", async () => {
    const silent = createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", r));
    try {
      const wire = plainDnsWire({ host: "127.0.0.1", port: silent.address().port });
      await expect(wire(dnsQuery(1, "a.t.example.org"), AbortSignal.timeout(300))).rejects.toThrow();
    } finally {
      silent.close();
    }
  });
});
