// Node-side vault tests. IndexedDB comes from fake-indexeddb (the browser's
// real IndexedDB is exercised by tests/e2e/crypto); the vault code is real.
import "fake-indexeddb/auto";
import { openDB } from "idb";
import { describe, expect, it } from "vitest";
import { fromUtf8, utf8 } from "../src/crypto/encoding";
import { Vault, VaultExistsError, VaultIntegrityError, WrongPasswordError } from "../src/vault/vault";

let counter = 0;
const freshDb = (): string => `vault-test-${++counter}`;

async function rawRows(dbName: string): Promise<Map<string, { nonce: Uint8Array; ciphertext: Uint8Array }>> {
  const db = await openDB(dbName, 1);
  const out = new Map<string, { nonce: Uint8Array; ciphertext: Uint8Array }>();
  let cursor = await db.transaction("rows").store.openCursor();
  while (cursor) {
    out.set(String(cursor.key), cursor.value as { nonce: Uint8Array; ciphertext: Uint8Array });
    cursor = await cursor.continue();
  }
  db.close();
  return out;
}

async function rawPut(dbName: string, key: string, value: unknown): Promise<void> {
  const db = await openDB(dbName, 1);
  await db.put("rows", value, key);
  db.close();
}

describe("vault", () => {
  it("round-trips rows across lock/unlock and stores no plaintext", async () => {
    const dbName = freshDb();
    const v = await Vault.create("correct horse", { dbName });
    await v.put("msg/1", utf8("the secret plan"));
    await v.commit([["group/a", utf8("state A")], ["group/b", utf8("state B")]]);
    v.lock();
    const again = await Vault.unlock("correct horse", { dbName });
    expect(fromUtf8((await again.get("msg/1"))!)).toBe("the secret plan");
    expect(await again.keys("group/")).toEqual(["group/a", "group/b"]);
    const rows = await rawRows(dbName);
    for (const row of rows.values()) {
      expect(row.nonce.length).toBe(24);
      expect(Buffer.from(row.ciphertext).includes("secret plan")).toBe(false);
    }
    again.lock();
  });

  it("rejects a wrong password with a typed error and changes nothing", async () => {
    const dbName = freshDb();
    const v = await Vault.create("right", { dbName });
    await v.put("k", utf8("v"));
    v.lock();
    const db = await openDB(dbName, 1);
    const before = JSON.stringify(Array.from((await db.get("meta", "header")).wrappedKey as Uint8Array));
    db.close();
    await expect(Vault.unlock("wrong", { dbName })).rejects.toBeInstanceOf(WrongPasswordError);
    await expect(Vault.unlock("wrong", { dbName })).rejects.toThrow("wrong password");
    await expect(Vault.create("other", { dbName })).rejects.toBeInstanceOf(VaultExistsError);
    const db2 = await openDB(dbName, 1);
    expect(JSON.stringify(Array.from((await db2.get("meta", "header")).wrappedKey as Uint8Array))).toBe(before);
    db2.close();
    const ok = await Vault.unlock("right", { dbName });
    expect(fromUtf8((await ok.get("k"))!)).toBe("v");
    ok.lock();
  });

  it("password change re-wraps the master key only", async () => {
    const dbName = freshDb();
    const v = await Vault.create("old", { dbName });
    await v.put("k", utf8("kept"));
    const rowBefore = (await rawRows(dbName)).get("k")!;
    await expect(v.changePassword("not-old", "new")).rejects.toBeInstanceOf(WrongPasswordError);
    await v.changePassword("old", "new");
    const rowAfter = (await rawRows(dbName)).get("k")!;
    expect(Buffer.from(rowAfter.ciphertext).equals(Buffer.from(rowBefore.ciphertext))).toBe(true);
    v.lock();
    await expect(Vault.unlock("old", { dbName })).rejects.toBeInstanceOf(WrongPasswordError);
    const n = await Vault.unlock("new", { dbName });
    expect(fromUtf8((await n.get("k"))!)).toBe("kept");
    n.lock();
  });

  it("refuses a tampered row and swapped rows", async () => {
    const dbName = freshDb();
    const v = await Vault.create("pw", { dbName });
    await v.put("a", utf8("alpha"));
    await v.put("b", utf8("bravo"));
    const rows = await rawRows(dbName);
    const a = rows.get("a")!;
    const b = rows.get("b")!;
    const flipped = a.ciphertext.slice();
    flipped[0] = (flipped[0] ?? 0) ^ 0x01;
    await rawPut(dbName, "a", { nonce: a.nonce, ciphertext: flipped });
    await expect(v.get("a")).rejects.toBeInstanceOf(VaultIntegrityError);
    // swap: b's sealed row stored under key "a" and vice versa
    await rawPut(dbName, "a", b);
    await rawPut(dbName, "b", a);
    await expect(v.get("a")).rejects.toBeInstanceOf(VaultIntegrityError);
    await expect(v.get("b")).rejects.toThrow(/tampered or swapped/);
    v.lock();
  });
});
