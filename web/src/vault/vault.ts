// The sealed IndexedDB vault.
//
//   KEK = Argon2id(password, per-install 16-byte salt; t=3, m=64 MiB, p=1)   (libsodium crypto_pwhash)
//   header = { salt, params, nonce, XChaCha20-Poly1305(KEK, MK, ad = params || salt) }
//   row    = { nonce, XChaCha20-Poly1305(MK, value, ad = "talkee-vault-row-v1" 0x00 row key) }
//
// MK (32 random bytes) exists only in memory while unlocked. Binding the row key
// as associated data means a row copied under another key does not open.

import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import { concatBytes, utf8 } from "../crypto/encoding";
import { loadSodium, type Sodium } from "../crypto/sodium";

export const DEFAULT_VAULT_DB = "talkee-vault";
const HEADER_KEY = "header";
const ROW_AD_PREFIX = "talkee-vault-row-v1\u0000";

export const VAULT_KDF = {
  opslimit: 3,
  memlimit: 64 * 1024 * 1024,
  saltBytes: 16,
} as const;

export interface VaultHeader {
  v: 1;
  kdf: "argon2id13";
  opslimit: number;
  memlimit: number;
  salt: Uint8Array;
  nonce: Uint8Array;
  wrappedKey: Uint8Array;
}

export interface SealedRow {
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

interface VaultSchema extends DBSchema {
  meta: { key: string; value: VaultHeader };
  rows: { key: string; value: SealedRow };
}

export class WrongPasswordError extends Error {
  override name = "WrongPasswordError";
  constructor() {
    super("wrong password");
  }
}

export class VaultMissingError extends Error {
  override name = "VaultMissingError";
  constructor(db: string) {
    super(`no vault has been set up on this install (${db})`);
  }
}

export class VaultExistsError extends Error {
  override name = "VaultExistsError";
  constructor(db: string) {
    super(`a vault already exists on this install (${db})`);
  }
}

/** A row failed authentication: altered on disk, or moved under another key. */
export class VaultIntegrityError extends Error {
  override name = "VaultIntegrityError";
  constructor(readonly rowKey: string) {
    super(`vault row "${rowKey}" failed authentication (tampered or swapped)`);
  }
}

export class VaultLockedError extends Error {
  override name = "VaultLockedError";
  constructor() {
    super("the vault is locked");
  }
}

function openVaultDb(name: string): Promise<IDBPDatabase<VaultSchema>> {
  return openDB<VaultSchema>(name, 1, {
    upgrade(db) {
      db.createObjectStore("meta");
      db.createObjectStore("rows");
    },
  });
}

function headerAd(h: Pick<VaultHeader, "v" | "kdf" | "opslimit" | "memlimit" | "salt">): Uint8Array {
  return concatBytes(utf8(`talkee-vault-mk-v${h.v}|${h.kdf}|${h.opslimit}|${h.memlimit}|`), h.salt);
}

function rowAd(key: string): Uint8Array {
  return utf8(ROW_AD_PREFIX + key);
}

function deriveKek(sodium: Sodium, password: string, salt: Uint8Array, opslimit: number, memlimit: number): Uint8Array {
  return sodium.crypto_pwhash(32, utf8(password), salt, opslimit, memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13);
}

function sealHeader(sodium: Sodium, password: string, masterKey: Uint8Array): VaultHeader {
  const salt = sodium.randombytes_buf(VAULT_KDF.saltBytes);
  const base = { v: 1 as const, kdf: "argon2id13" as const, opslimit: VAULT_KDF.opslimit, memlimit: VAULT_KDF.memlimit, salt };
  const kek = deriveKek(sodium, password, salt, base.opslimit, base.memlimit);
  const nonce = sodium.randombytes_buf(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const wrappedKey = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(masterKey, headerAd(base), null, nonce, kek);
  sodium.memzero(kek);
  return { ...base, nonce, wrappedKey };
}

function unwrapHeader(sodium: Sodium, password: string, header: VaultHeader): Uint8Array {
  const kek = deriveKek(sodium, password, header.salt, header.opslimit, header.memlimit);
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, header.wrappedKey, headerAd(header), header.nonce, kek);
  } catch {
    throw new WrongPasswordError();
  } finally {
    sodium.memzero(kek);
  }
}

export interface VaultOptions {
  /** IndexedDB database name; tests and multiple installs on one origin use different names. */
  dbName?: string;
}

export class Vault {
  private masterKey: Uint8Array | null;

  private constructor(
    private readonly sodium: Sodium,
    private readonly db: IDBPDatabase<VaultSchema>,
    readonly dbName: string,
    masterKey: Uint8Array,
  ) {
    this.masterKey = masterKey;
  }

  static async exists(options: VaultOptions = {}): Promise<boolean> {
    const db = await openVaultDb(options.dbName ?? DEFAULT_VAULT_DB);
    try {
      return (await db.get("meta", HEADER_KEY)) !== undefined;
    } finally {
      db.close();
    }
  }

  /** Sets up a new vault with a fresh master key. Refuses to overwrite an existing one. */
  static async create(password: string, options: VaultOptions = {}): Promise<Vault> {
    const name = options.dbName ?? DEFAULT_VAULT_DB;
    const sodium = await loadSodium();
    const db = await openVaultDb(name);
    if ((await db.get("meta", HEADER_KEY)) !== undefined) {
      db.close();
      throw new VaultExistsError(name);
    }
    const masterKey = sodium.crypto_aead_xchacha20poly1305_ietf_keygen();
    const header = sealHeader(sodium, password, masterKey);
    try {
      // add(), not put(): a header written meanwhile (another tab) is never overwritten.
      await db.add("meta", header, HEADER_KEY);
    } catch (err) {
      db.close();
      if (err instanceof DOMException && err.name === "ConstraintError") throw new VaultExistsError(name);
      throw err;
    }
    return new Vault(sodium, db, name, masterKey);
  }

  /** Derives the KEK and unwraps the master key. Wrong password → WrongPasswordError; nothing is written. */
  static async unlock(password: string, options: VaultOptions = {}): Promise<Vault> {
    const name = options.dbName ?? DEFAULT_VAULT_DB;
    const sodium = await loadSodium();
    const db = await openVaultDb(name);
    const header = await db.get("meta", HEADER_KEY);
    if (header === undefined) {
      db.close();
      throw new VaultMissingError(name);
    }
    try {
      return new Vault(sodium, db, name, unwrapHeader(sodium, password, header));
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private key(): Uint8Array {
    if (this.masterKey === null) throw new VaultLockedError();
    return this.masterKey;
  }

  private seal(rowKey: string, value: Uint8Array): SealedRow {
    const nonce = this.sodium.randombytes_buf(this.sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    const ciphertext = this.sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(value, rowAd(rowKey), null, nonce, this.key());
    return { nonce, ciphertext };
  }

  private open(rowKey: string, row: SealedRow): Uint8Array {
    const key = this.key();
    try {
      return this.sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, row.ciphertext, rowAd(rowKey), row.nonce, key);
    } catch {
      throw new VaultIntegrityError(rowKey);
    }
  }

  /** Re-wraps the master key under a new password; rows are untouched. */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    const tx = this.db.transaction("meta", "readwrite");
    const header = await tx.store.get(HEADER_KEY);
    if (header === undefined) throw new VaultMissingError(this.dbName);
    // Argon2id is synchronous, so the transaction would auto-commit while it
    // runs; derive first, then write in a fresh transaction.
    await tx.done;
    const mk = unwrapHeader(this.sodium, currentPassword, header);
    const next = sealHeader(this.sodium, newPassword, mk);
    this.sodium.memzero(mk);
    await this.db.put("meta", next, HEADER_KEY);
  }

  async put(rowKey: string, value: Uint8Array): Promise<void> {
    await this.db.put("rows", this.seal(rowKey, value), rowKey);
  }

  /** Writes and deletes rows in one IndexedDB transaction: all or nothing. */
  async commit(writes: ReadonlyArray<readonly [string, Uint8Array]>, deletes: readonly string[] = []): Promise<void> {
    const sealed = writes.map(([k, v]) => [k, this.seal(k, v)] as const);
    const tx = this.db.transaction("rows", "readwrite");
    await Promise.all([
      ...sealed.map(([k, row]) => tx.store.put(row, k)),
      ...deletes.map((k) => tx.store.delete(k)),
      tx.done,
    ]);
  }

  async get(rowKey: string): Promise<Uint8Array | undefined> {
    const row = await this.db.get("rows", rowKey);
    return row === undefined ? undefined : this.open(rowKey, row);
  }

  async delete(rowKey: string): Promise<void> {
    await this.db.delete("rows", rowKey);
  }

  /**
   * A row key for something whose name must not show (a contact's address): `prefix` and a
   * keyed hash of `name` under a key derived from the vault's own, so the same name gives
   * the same row in this vault and nothing that can be guessed from outside it.
   */
  blindKey(prefix: string, name: string): string {
    const s = this.sodium;
    const nameKey = s.crypto_generichash(32, utf8("talkee-vault-row-names-v1"), this.key());
    const digest = s.crypto_generichash(16, utf8(name), nameKey);
    return prefix + s.to_base64(digest, s.base64_variants.URLSAFE_NO_PADDING);
  }

  /** Row keys starting with `prefix` (keys are not secret — rows naming people use `blindKey` —; values are). */
  async keys(prefix: string): Promise<string[]> {
    const range = IDBKeyRange.bound(prefix, prefix + "\uffff");
    return this.db.getAllKeys("rows", range);
  }

  get locked(): boolean {
    return this.masterKey === null;
  }

  /** Forgets the master key and closes the database. */
  lock(): void {
    if (this.masterKey !== null) this.sodium.memzero(this.masterKey);
    this.masterKey = null;
    this.db.close();
  }
}
