// Test harness page for tests/e2e/crypto (never shipped in static/app).
// Exposes window.talkeeHarness: thin async entry points over the real crypto
// core, with bytes crossing to Python as {b64: "..."} and errors returned as
// {error: {name, message}} so tests can assert on the error type.

import { fromBase64, toBase64 } from "../src/crypto/encoding";
import { createBlake3Hasher } from "../src/crypto/blake3";
import { decryptFileStream, encryptFileStream, encryptedSizeForBucket, FILE_CHUNK_SIZE } from "../src/crypto/files";
import { loadSodium } from "../src/crypto/sodium";
import type { MlsWorkerApi } from "../src/mls/api";
import { startMlsWorker, type MlsWorkerHandle } from "../src/mls/client";
import { Vault } from "../src/vault/vault";
import { generateDeviceSecrets } from "../src/crypto/identity";
import { recoveryHash, recoveryProof } from "../src/crypto/recovery";
import { editHash } from "../src/crypto/blake3";
import { sealForDevice } from "../src/crypto/sealedBox";
import { encodePayload } from "../src/crypto/payload";
import * as engine from "../src/mls/engine";
import { decodePayload } from "../src/crypto/payload";

const generateKeyPackage = engine.generateKeyPackage;

type Wire = null | boolean | number | string | Wire[] | { [k: string]: Wire };
type Outcome = { ok: Wire } | { error: { name: string; message: string } };

function toWire(value: unknown): Wire {
  if (value === undefined || value === null) return null;
  if (value instanceof Uint8Array) return { b64: toBase64(value) };
  if (Array.isArray(value)) return value.map(toWire);
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "object") {
    const out: { [k: string]: Wire } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = toWire(v);
    return out;
  }
  if (typeof value === "boolean" || typeof value === "number" || typeof value === "string") return value;
  throw new TypeError(`cannot send ${typeof value} to the test`);
}

function fromWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (typeof record["b64"] === "string" && Object.keys(record).length === 1) return fromBase64(record["b64"]);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) out[k] = fromWire(v);
    return out;
  }
  return value;
}

async function outcome(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: toWire(await fn()) };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return { error: { name: e.name, message: e.message } };
  }
}

const workers = new Map<number, MlsWorkerHandle>();
const vaults = new Map<number, Vault>();
let nextId = 1;

function worker(id: number): MlsWorkerHandle {
  const w = workers.get(id);
  if (w === undefined) throw new Error(`no worker ${id}`);
  return w;
}

function vault(id: number): Vault {
  const v = vaults.get(id);
  if (v === undefined) throw new Error(`no vault ${id}`);
  return v;
}

async function rawRecords(dbName: string): Promise<Array<{ store: string; key: string; bytes: Uint8Array; text: string }>> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(dbName);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const out: Array<{ store: string; key: string; bytes: Uint8Array; text: string }> = [];
  for (const store of Array.from(db.objectStoreNames)) {
    const entries = await new Promise<Array<[IDBValidKey, unknown]>>((resolve, reject) => {
      const rows: Array<[IDBValidKey, unknown]> = [];
      const req = db.transaction(store).objectStore(store).openCursor();
      req.onsuccess = () => {
        const cursor = req.result;
        if (cursor === null) resolve(rows);
        else {
          rows.push([cursor.key, cursor.value]);
          cursor.continue();
        }
      };
      req.onerror = () => reject(req.error);
    });
    for (const [key, value] of entries) {
      // Every byte array in the record, concatenated, plus a JSON view of the rest.
      const parts: Uint8Array[] = [];
      const text = JSON.stringify(value, (_k, v: unknown) => {
        if (v instanceof Uint8Array) {
          parts.push(v);
          return `<${v.length} bytes>`;
        }
        return v;
      });
      const total = parts.reduce((n, p) => n + p.length, 0);
      const bytes = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
      out.push({ store, key: String(key), bytes, text });
    }
  }
  db.close();
  return out;
}

async function rewriteRows(dbName: string, edit: (rows: IDBObjectStore) => void): Promise<void> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(dbName);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  await new Promise<void>((resolve, reject) => {
    const tx = db.transaction("rows", "readwrite");
    edit(tx.objectStore("rows"));
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}

function getRow(store: IDBObjectStore, key: string): Promise<{ nonce: Uint8Array; ciphertext: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const req = store.get(key);
    req.onsuccess = () => resolve(req.result as { nonce: Uint8Array; ciphertext: Uint8Array });
    req.onerror = () => reject(req.error);
  });
}

/** A stream of `size` random bytes in 64 KiB pieces, hashed as it is produced. */
function randomSource(size: number, hasher: { update(c: Uint8Array): void }): ReadableStream<Uint8Array> {
  let produced = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (produced >= size) {
          controller.close();
          return;
        }
        const piece = new Uint8Array(Math.min(FILE_CHUNK_SIZE, size - produced));
        crypto.getRandomValues(piece);
        hasher.update(piece);
        produced += piece.length;
        controller.enqueue(piece);
      },
    },
    { highWaterMark: 1 },
  );
}

interface FileRun {
  done: boolean;
  ok: boolean;
  error: string | null;
  plaintextBytes: number;
  encryptedBytes: number;
  decryptedBytes: number;
  expectedEncryptedSize: number;
  ms: number;
}

let fileRun: FileRun | null = null;
let held: Uint8Array | null = null;

/** Encrypts a generated stream and decrypts it again, piping chunk by chunk (nothing holds the file). */
async function fileRoundTrip(size: number, run: FileRun): Promise<void> {
  const started = performance.now();
  const inHash = await createBlake3Hasher();
  const outHash = await createBlake3Hasher();
  const enc = await encryptFileStream(randomSource(size, inHash), size);
  run.expectedEncryptedSize = enc.encryptedSize;
  const counted = enc.stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        run.encryptedBytes += chunk.length;
        controller.enqueue(chunk);
      },
    }),
  );
  const dec = await decryptFileStream(counted, enc.key, size);
  const reader = dec.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    outHash.update(value);
    run.decryptedBytes += value.length;
  }
  run.plaintextBytes = size;
  run.ok =
    run.decryptedBytes === size &&
    run.encryptedBytes === enc.encryptedSize &&
    toBase64(inHash.digest()) === toBase64(outHash.digest());
  run.ms = performance.now() - started;
}

function newRun(): FileRun {
  return { done: false, ok: false, error: null, plaintextBytes: 0, encryptedBytes: 0, decryptedBytes: 0, expectedEncryptedSize: 0, ms: 0 };
}

interface Timing {
  runs: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

async function timed(runs: number, fn: (i: number) => Promise<unknown>): Promise<Timing> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  return {
    runs,
    meanMs: samples.reduce((a, b) => a + b, 0) / runs,
    minMs: Math.min(...samples),
    maxMs: Math.max(...samples),
  };
}

/** Benchmarks for bench/crypto: everything through the real worker RPC and vault. */
async function runBench(options: { keyPackages: number; messages: number; members: number; unlocks: number }): Promise<Record<string, unknown>> {
  const alice = startMlsWorker();
  const bob = startMlsWorker();
  try {
    await alice.api.setupDevice({ password: "bench-a", user: "alice@bench.example", deviceId: "a", dbName: "bench-a" });
    await bob.api.setupDevice({ password: "bench-b", user: "bob@bench.example", deviceId: "b", dbName: "bench-b" });
    const keyPackage = await timed(options.keyPackages, () => bob.api.makeKeyPackages(1));
    const [kp] = await bob.api.makeKeyPackages(1);
    await alice.api.createGroup("bench-2");
    const add1 = await timed(1, async () => {
      const r = await alice.api.addMembers("bench-2", [kp!]);
      await bob.api.joinFromWelcome(r.welcome!);
    });
    const text = "x".repeat(100);
    const ciphertexts: Uint8Array[] = [];
    const encrypt = await timed(options.messages, async () => {
      ciphertexts.push((await alice.api.encrypt("bench-2", { text })).ciphertext);
    });
    const decrypt = await timed(options.messages, (i) => bob.api.decrypt("bench-2", ciphertexts[i]!));

    // 100 other devices' KeyPackages, made in the page (they are not ours to keep).
    const others: Uint8Array[] = [];
    const foreignKp = await timed(options.members, async (i) => {
      const device = await generateDeviceSecrets(`member${i}@bench.example`, `d${i}`);
      others.push((await generateKeyPackage(device)).encoded);
    });
    await alice.api.createGroup("bench-100");
    let commitBytes = 0;
    let welcomeBytes = 0;
    const addMany = await timed(1, async () => {
      const r = await alice.api.addMembers("bench-100", others);
      commitBytes = r.commit.length;
      welcomeBytes = r.welcome?.length ?? 0;
    });
    const sendIn100 = await timed(options.messages, () => alice.api.encrypt("bench-100", { text }));

    const unlock = await timed(options.unlocks, async () => {
      const v = await Vault.unlock("bench-b", { dbName: "bench-b" });
      v.lock();
    });
    return {
      userAgent: navigator.userAgent,
      hardwareConcurrency: navigator.hardwareConcurrency,
      keyPackageInWorker: keyPackage,
      keyPackageBytes: kp!.length,
      addOneMemberAndJoin: add1,
      encrypt100B: encrypt,
      decrypt100B: decrypt,
      keyPackageInPage: foreignKp,
      add100MembersCommit: addMany,
      add100CommitBytes: commitBytes,
      add100WelcomeBytes: welcomeBytes,
      encrypt100BIn101MemberGroup: sendIn100,
      vaultUnlock: unlock,
    };
  } finally {
    alice.terminate();
    bob.terminate();
  }
}

// ---- a malicious member's client (tests/e2e/app/test_app_refused_commit.py) ----------
// Plain MLS states kept in this page, under the engine's shape-only validator: what a
// modified client would do, which the app's worker (certificate validator) never does.
const rawStates = new Map<string, ReturnType<typeof engine.decodeState>>();
const ghostPackages = new Map<string, engine.GeneratedKeyPackage>();

const offender = {
  /** A device of `user` with no certificate: its keys and one KeyPackage, kept in this page. */
  async ghost(user: string, deviceId: string): Promise<{ ed25519Pub: Uint8Array; x25519Pub: Uint8Array; keyPackage: Uint8Array }> {
    const device = await generateDeviceSecrets(user, deviceId);
    const kp = await generateKeyPackage(device);
    ghostPackages.set(deviceId, kp);
    return { ed25519Pub: device.ed25519Public, x25519Pub: device.x25519Public, keyPackage: kp.encoded };
  },
  /** From the group state in an (unlocked, copied) app vault: a commit adding `keyPackage`, unchecked. */
  async craftAdd(vaultId: number, groupId: string, keyPackage: Uint8Array): Promise<{ commit: Uint8Array; welcome: Uint8Array | null; epoch: number }> {
    const bytes = await vault(vaultId).get(`group/${groupId}`);
    if (bytes === undefined) throw new Error(`no state for ${groupId} in the copied vault`);
    const state = engine.decodeState(bytes);
    const epoch = Number(engine.groupEpoch(state));
    const out = await engine.addMembers(state, [keyPackage]);
    rawStates.set(`offender/${groupId}`, out.state);
    // A modified client may keep the state from before its commit too.
    rawStates.set(`before/${groupId}`, engine.decodeState(bytes));
    return { commit: out.commit, welcome: out.welcome ?? null, epoch };
  },
  /** The ghost joins from the Welcome the offender made for it. */
  async join(deviceId: string, welcome: Uint8Array): Promise<{ groupId: string; epoch: number; members: string[] }> {
    const kp = ghostPackages.get(deviceId);
    if (kp === undefined) throw new Error(`no ghost ${deviceId}`);
    const { state } = await engine.joinFromWelcome(welcome, [kp]);
    const groupId = new TextDecoder().decode(state.groupContext.groupId);
    rawStates.set(`ghost/${groupId}`, state);
    return { groupId, epoch: Number(engine.groupEpoch(state)), members: engine.members(state).map((m) => m.identity) };
  },
  /** `who` ("ghost" / "offender") tries to read one ciphertext of the chat; its text, or an error. */
  async read(who: string, groupId: string, message: Uint8Array): Promise<string> {
    const state = rawStates.get(`${who}/${groupId}`);
    if (state === undefined) throw new Error(`${who} holds no state for ${groupId}`);
    const r = await engine.receive(state, message);
    rawStates.set(`${who}/${groupId}`, r.state);
    return r.kind === "application" ? String(decodePayload(r.plaintext).text) : `handshake to epoch ${Number(r.epoch)}`;
  },
};

const harness = {
  /** What an (unlocked, copied) app vault still holds of a group's epochs: MLS state and derived-key rows. */
  epochsHeld(vaultId: number, groupId: string): Promise<Outcome> {
    return outcome(async () => {
      const bytes = await vault(vaultId).get(`group/${groupId}`);
      if (bytes === undefined) throw new Error(`no state for ${groupId} in the copied vault`);
      const state = engine.decodeState(bytes);
      const rows = await vault(vaultId).keys(`epochkeys/${groupId}/`);
      return {
        current: Number(engine.groupEpoch(state)),
        historical: [...state.historicalReceiverData.keys()].map(Number).sort((a, b) => a - b),
        keyRows: rows.map((k) => Number(k.slice(k.lastIndexOf("/") + 1))).sort((a, b) => a - b),
      };
    });
  },
  offender(method: keyof typeof offender, args: unknown[]): Promise<Outcome> {
    return outcome(async () => {
      const fn = offender[method] as (...a: unknown[]) => Promise<unknown>;
      return fn(...(fromWire(args) as unknown[]));
    });
  },

  bench(options: { keyPackages: number; messages: number; members: number; unlocks: number }): Promise<Outcome> {
    return outcome(() => runBench(options));
  },

  async ready(): Promise<Outcome> {
    return outcome(async () => {
      await loadSodium();
      return true;
    });
  },

  // ---- MLS worker -----------------------------------------------------------
  spawnWorker(): number {
    const id = nextId++;
    workers.set(id, startMlsWorker());
    return id;
  },
  killWorker(id: number): void {
    worker(id).terminate();
    workers.delete(id);
  },
  rpc(id: number, method: keyof MlsWorkerApi, args: unknown[]): Promise<Outcome> {
    return outcome(async () => {
      const api = worker(id).api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const fn = api[method];
      if (fn === undefined) throw new Error(`no RPC ${method}`);
      return fn(...(fromWire(args) as unknown[]));
    });
  },

  // ---- server contract values computed by the client ------------------------
  recovery(username: string, mnemonic: string): Promise<Outcome> {
    return outcome(async () => ({
      proof: await recoveryProof(username, mnemonic),
      hash: await recoveryHash(username, mnemonic),
    }));
  },
  editHash(secret: { b64: string }): Promise<Outcome> {
    return outcome(() => editHash(fromBase64(secret.b64)));
  },
  sealForDevice(x25519Pub: string, text: string): Promise<Outcome> {
    return outcome(() => sealForDevice(new TextEncoder().encode(text), fromBase64(x25519Pub)));
  },
  paddedPayloadLength(text: string): Promise<Outcome> {
    return outcome(async () => encodePayload({ _v: 1, sender: "a@b.example:d", text }).length);
  },

  // ---- vault (directly in the page) ------------------------------------------
  vaultCreate(dbName: string, password: string): Promise<Outcome> {
    return outcome(async () => {
      const id = nextId++;
      vaults.set(id, await Vault.create(password, { dbName }));
      return id;
    });
  },
  vaultUnlock(dbName: string, password: string): Promise<Outcome> {
    return outcome(async () => {
      const started = performance.now();
      const id = nextId++;
      vaults.set(id, await Vault.unlock(password, { dbName }));
      return { id, ms: performance.now() - started };
    });
  },
  vaultPut(id: number, key: string, text: string): Promise<Outcome> {
    return outcome(() => vault(id).put(key, new TextEncoder().encode(text)));
  },
  vaultGet(id: number, key: string): Promise<Outcome> {
    return outcome(async () => {
      const v = await vault(id).get(key);
      return v === undefined ? null : new TextDecoder().decode(v);
    });
  },
  vaultChangePassword(id: number, current: string, next: string): Promise<Outcome> {
    return outcome(() => vault(id).changePassword(current, next));
  },
  vaultLock(id: number): void {
    vault(id).lock();
    vaults.delete(id);
  },

  // ---- raw IndexedDB (what an attacker with the profile sees) ----------------
  dumpIdb(dbName: string): Promise<Outcome> {
    return outcome(() => rawRecords(dbName));
  },
  /** Writes raw vault records (a copy of another browser's IndexedDB, as an attacker would keep it) here. */
  importIdb(dbName: string, records: Array<{ store: "meta" | "rows"; key: string; value: unknown }>): Promise<Outcome> {
    return outcome(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open(dbName, 1);
        req.onupgradeneeded = () => {
          for (const store of ["meta", "rows"]) req.result.createObjectStore(store);
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction(["meta", "rows"], "readwrite");
        for (const r of records) tx.objectStore(r.store).put(fromWire(r.value), r.key);
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
      db.close();
      return records.length;
    });
  },
  listIdbDatabases(): Promise<Outcome> {
    return outcome(async () => (await indexedDB.databases()).map((d) => d.name ?? ""));
  },
  tamperRow(dbName: string, key: string, byteIndex: number): Promise<Outcome> {
    return outcome(() =>
      rewriteRows(dbName, (rows) => {
        void getRow(rows, key).then((row) => {
          const ct = row.ciphertext.slice();
          ct[byteIndex % ct.length]! ^= 0x01;
          rows.put({ nonce: row.nonce, ciphertext: ct }, key);
        });
      }),
    );
  },
  swapRows(dbName: string, a: string, b: string): Promise<Outcome> {
    return outcome(() =>
      rewriteRows(dbName, (rows) => {
        void Promise.all([getRow(rows, a), getRow(rows, b)]).then(([ra, rb]) => {
          rows.put(rb, a);
          rows.put(ra, b);
        });
      }),
    );
  },

  // ---- files -----------------------------------------------------------------
  fileRoundTrip(size: number): Promise<Outcome> {
    return outcome(async () => {
      const run = newRun();
      await fileRoundTrip(size, run);
      run.done = true;
      return run;
    });
  },
  /** Starts a round trip in the background; poll fileStatus() (lets the test sample memory meanwhile). */
  startFileRoundTrip(size: number): void {
    const run = newRun();
    fileRun = run;
    fileRoundTrip(size, run)
      .catch((err: unknown) => {
        run.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      })
      .finally(() => {
        run.done = true;
      });
  },
  fileStatus(): FileRun | null {
    return fileRun;
  },
  encryptedSizeForBucket(bucket: number): number {
    return encryptedSizeForBucket(bucket);
  },
  /** Control for the memory test: really holds `size` bytes, so the metric must notice. */
  holdBytes(size: number): number {
    held = new Uint8Array(size);
    for (let i = 0; i < size; i += FILE_CHUNK_SIZE) crypto.getRandomValues(held.subarray(i, Math.min(size, i + FILE_CHUNK_SIZE)));
    return held.length;
  },
  releaseBytes(): void {
    held = null;
  },
};

declare global {
  interface Window {
    talkeeHarness: typeof harness;
  }
}

window.talkeeHarness = harness;
const status = document.getElementById("status");
if (status !== null) status.textContent = "ready";
