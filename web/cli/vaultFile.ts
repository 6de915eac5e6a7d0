// The CLI's vault on disk. The shared core keeps its vault in IndexedDB (web/src/vault:
// an Argon2id-wrapped master key in `meta/header`, every row sealed with
// XChaCha20-Poly1305 under it); in Node that database is fake-indexeddb, and this file
// holds exactly its records — the header and the sealed rows, byte for byte as the
// browser stores them — plus the tunnel settings the core remembers in localStorage.
// Nothing in it is readable without the passphrase. Written after every change
// (atomically: a temporary file, then rename; mode 0600).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { openDB } from "idb";
import { DEFAULT_VAULT_DB } from "../src/vault/vault";
import { localStorageSnapshot, restoreLocalStorage } from "./env";

const FORMAT = "talkee-vault-file-v1";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Uint8Array ↔ {"$b64": …}, everything else as it is. */
function encode(value: unknown): Json {
  if (value instanceof Uint8Array) return { $b64: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(encode);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  }
  return value as Json;
}

function decode(value: Json): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value !== null && typeof value === "object") {
    const b64 = value["$b64"];
    if (typeof b64 === "string" && Object.keys(value).length === 1) return new Uint8Array(Buffer.from(b64, "base64"));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

function openVault() {
  return openDB(DEFAULT_VAULT_DB, 1, {
    upgrade(db) {
      db.createObjectStore("meta");
      db.createObjectStore("rows");
    },
  });
}

/** Another talkee-cli has this vault open (two writers would fork the MLS state). */
export class VaultBusyError extends Error {
  override name = "VaultBusyError";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class VaultFile {
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly path: string) {}

  private get lockPath(): string {
    return `${this.path}.lock`;
  }

  /** One process at a time per vault: `<vault>.lock` holds its pid (a dead one's is taken over). */
  private lock(): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(this.lockPath, String(process.pid), { flag: "wx", mode: 0o600 });
        process.once("exit", () => rmSync(this.lockPath, { force: true }));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = Number(readFileSync(this.lockPath, "utf8"));
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
        throw new VaultBusyError(`${this.path} is in use by another talkee-cli (pid ${holder})`);
      }
      rmSync(this.lockPath, { force: true });
    }
    throw new VaultBusyError(`${this.path} is in use by another talkee-cli`);
  }

  /** Locks the file, loads it (if any) into IndexedDB and starts following changes. */
  async load(): Promise<void> {
    this.lock();
    if (existsSync(this.path)) {
      const file = JSON.parse(readFileSync(this.path, "utf8")) as { format?: string; meta: Record<string, Json>; rows: Record<string, Json>; local?: Record<string, string> };
      if (file.format !== FORMAT) throw new Error(`${this.path} is not a Talkee vault file`);
      const db = await openVault();
      const tx = db.transaction(["meta", "rows"], "readwrite");
      for (const [k, v] of Object.entries(file.meta)) void tx.objectStore("meta").put(decode(v), k);
      for (const [k, v] of Object.entries(file.rows)) void tx.objectStore("rows").put(decode(v), k);
      await tx.done;
      db.close();
      restoreLocalStorage(file.local ?? {}, () => this.changed());
    } else {
      restoreLocalStorage({}, () => this.changed());
    }
    this.follow();
  }

  /** Every write to an object store marks the file dirty; it is written a moment later. */
  private follow(): void {
    const proto = IDBObjectStore.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ["put", "add", "delete", "clear"]) {
      const original = proto[name];
      if (original === undefined) continue;
      const self = this;
      proto[name] = function (this: unknown, ...args: unknown[]) {
        self.changed();
        return original.apply(this, args);
      };
    }
    const factory = indexedDB as unknown as { deleteDatabase: (name: string) => IDBOpenDBRequest };
    const deleteDatabase = factory.deleteDatabase.bind(factory);
    factory.deleteDatabase = (name: string) => {
      const request = deleteDatabase(name);
      request.addEventListener("success", () => this.changed());
      return request;
    };
  }

  changed(): void {
    this.dirty = true;
    if (this.timer === null) this.timer = setTimeout(() => void this.flush(), 20);
  }

  /** Writes the vault as IndexedDB holds it now (nothing to do when nothing changed). */
  flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const db = await openVault();
      const tx = db.transaction(["meta", "rows"], "readonly");
      const [metaKeys, metaValues, rowKeys, rowValues] = await Promise.all([
        tx.objectStore("meta").getAllKeys(),
        tx.objectStore("meta").getAll(),
        tx.objectStore("rows").getAllKeys(),
        tx.objectStore("rows").getAll(),
      ]);
      db.close();
      if (metaKeys.length === 0) {
        rmSync(this.path, { force: true });
        return;
      }
      const zip = (keys: IDBValidKey[], values: unknown[]) => Object.fromEntries(keys.map((k, i) => [String(k), encode(values[i])]));
      const body = JSON.stringify({ format: FORMAT, meta: zip(metaKeys, metaValues), rows: zip(rowKeys, rowValues), local: localStorageSnapshot() });
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp`;
      writeFileSync(tmp, body, { mode: 0o600 });
      renameSync(tmp, this.path);
    });
    return this.writing;
  }
}
