// The RPC surface of the MLS worker. Every call is high level; none returns
// private key material (device keys, leaf/path secrets, signature keys).

import type { DevicePublicIdentity } from "../crypto/identity";
import type { MessagePayload } from "../crypto/payload";
import type { ClaimedDevice, DeviceVerdict, UserDirectory } from "./trust";

/** A leaf refused by the credential validator (trust.ts checkLeaf), one per identity. */
export interface LeafRefusal {
  identity: string;
  reason: string;
  /** The member whose commit (or proposal) brought the leaf in, when the message named it. */
  by?: string;
}

export const LEAF_REFUSED_PREFIX = "leaves refused: ";

/**
 * A Welcome, Commit or Proposal that brings in or changes a leaf without a valid device
 * certificate: nothing was applied. The message carries the refusals as JSON after
 * LEAF_REFUSED_PREFIX (errors cross the worker boundary as name and message only).
 */
export class LeafRefusedError extends Error {
  override name = "LeafRefusedError";
  constructor(readonly refusals: LeafRefusal[], by?: string) {
    super(LEAF_REFUSED_PREFIX + JSON.stringify(by === undefined ? refusals : refusals.map((r) => ({ ...r, by }))));
  }
}

/** The refusals carried by a LeafRefusedError (also one that crossed the worker boundary), else null. */
export function leafRefusals(err: unknown): LeafRefusal[] | null {
  if (!(err instanceof Error) || err.name !== "LeafRefusedError" || !err.message.startsWith(LEAF_REFUSED_PREFIX)) return null;
  try {
    const parsed = JSON.parse(err.message.slice(LEAF_REFUSED_PREFIX.length)) as unknown;
    return Array.isArray(parsed) ? (parsed as LeafRefusal[]) : null;
  } catch {
    return null;
  }
}

export interface GroupSummary {
  groupId: string;
  epoch: number;
  /** `user@domain:device_id` of each member, in leaf order. */
  members: string[];
  /** Each member's MLS leaf index, in the same order. */
  leaves: number[];
}

export interface CommitResult {
  groupId: string;
  /** Epoch after the commit. */
  epoch: number;
  /** MLSMessage bytes to POST as kind=commit (for the epoch before this one). */
  commit: Uint8Array;
  /** MLSMessage(mls_welcome) bytes for the added devices, when members were added. */
  welcome?: Uint8Array;
}

export interface EncryptedMessage {
  groupId: string;
  epoch: number;
  ciphertext: Uint8Array;
}

export type ReceiveResult =
  | { kind: "application"; groupId: string; epoch: number; payload: MessagePayload }
  | { kind: "handshake"; groupId: string; epoch: number; removed: boolean };

/** Keys derived from the current epoch's exporter (they rotate with it). */
export interface ChatKeys {
  epoch: number;
  reactionKey: Uint8Array;
  groupNameKey: Uint8Array;
  signalingKey: Uint8Array;
  mediaFrameKey: Uint8Array;
}

export interface DeviceSetup {
  password: string;
  user: string;
  deviceId: string;
  dbName?: string;
}

/** The text a page asks to send; `_v` and `sender` are filled in by the worker. */
export interface OutgoingPayload {
  text: string;
  file_key?: string;
  file?: MessagePayload["file"];
  reply_to?: string;
  forward_of?: string;
  [extra: string]: unknown;
}

export interface MlsWorkerApi {
  /** Whether this install already has a vault (then call unlock, else setupDevice). */
  isSetUp(dbName?: string): Promise<boolean>;
  /** First run on this install: creates the vault and the device's key pairs. */
  setupDevice(setup: DeviceSetup): Promise<DevicePublicIdentity>;
  /** Later runs: unlocks the vault (WrongPasswordError on a bad password). */
  unlock(password: string, dbName?: string): Promise<DevicePublicIdentity>;
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /** Drops the master key and all in-memory state. */
  lock(): Promise<void>;

  deviceIdentity(): Promise<DevicePublicIdentity>;
  /** base64 Ed25519 signature over the UTF-8 bytes of a login nonce. */
  signChallenge(nonce: string): Promise<string>;
  /** Opens a device-sync bundle sealed (crypto_box_seal) to this device's X25519 key. */
  openSealedBundle(sealed: Uint8Array): Promise<Uint8Array>;
  /** Ed25519 signature of this device over a history bundle (context `talkee-sync-bundle-v1`). */
  signSyncBundle(plaintext: Uint8Array): Promise<Uint8Array>;

  /**
   * Derives the account's identity key from the recovery phrase, keeps it in the vault,
   * pins it for our own user and returns it with this device's certificate (base64).
   */
  adoptIdentity(username: string, mnemonic: string): Promise<{ identityKey: string; certificate: string }>;
  /**
   * Approves another device of our account (its keys as checked by the approval code): its
   * certificate by our identity key and the identity key sealed to it (base64 each).
   */
  certifyOwnDevice(other: { clientDeviceId: string; ed25519Pub: string; x25519Pub: string }): Promise<{ identityKey: string; certificate: string; sealedIdentity: string }>;
  /** Keeps the identity key another of our devices sealed to this one (checked: the listed key, and it signed our certificate). */
  adoptSealedIdentity(sealed: string, listedKey: string, ownCertificate: string): Promise<string>;
  /** Our identity public key (base64), null when this device never had the phrase. */
  identityKey(): Promise<string | null>;
  /** The identity key pinned for a contact (base64), null before first contact. */
  pinnedIdentity(user: string): Promise<string | null>;
  /** Replaces the identity key pinned for a contact (the user accepted their new key). */
  repinIdentity(user: string, identityKey: string): Promise<void>;
  /** Whether a claimed device may be added to groups (certificate under the pinned key); pins on first contact. */
  checkDevice(claimed: ClaimedDevice): Promise<DeviceVerdict>;
  /** Checks `user`'s leaves in a group against their certificates; pins their identity key on first contact. */
  checkMembers(groupId: string, user: string, directory: UserDirectory): Promise<DeviceVerdict>;
  /**
   * Keeps the certificates the server lists for `user` for the MLS credential validator
   * (each is verified against the pinned identity key when a leaf is checked). Every
   * Welcome, Commit and Proposal that brings in or changes a leaf of a pinned user without
   * a valid certificate fails with LeafRefusedError (`leafRefusals()` reads it).
   */
  learnCertificates(user: string, directory: UserDirectory): Promise<number>;

  /** Encoded KeyPackages to upload (base64 them for POST /v1/keypackages). */
  makeKeyPackages(count: number): Promise<Uint8Array[]>;
  createGroup(groupId: string): Promise<GroupSummary>;
  addMembers(groupId: string, keyPackages: Uint8Array[]): Promise<CommitResult>;
  removeMembers(groupId: string, memberIdentities: string[]): Promise<CommitResult>;
  /**
   * Our commits apply at once but keep the previous state until the server
   * orders them: confirmCommit after the server accepted it; on 409 either
   * discardCommit, or simply processHandshake the winning commit (which
   * discards ours automatically). A message in the new epoch also confirms.
   */
  confirmCommit(groupId: string): Promise<GroupSummary>;
  discardCommit(groupId: string): Promise<GroupSummary>;
  /** Self-update commit (post-compromise security); see rotationDue. */
  selfUpdate(groupId: string): Promise<CommitResult>;
  joinFromWelcome(welcome: Uint8Array): Promise<GroupSummary>;
  processHandshake(groupId: string, message: Uint8Array): Promise<ReceiveResult>;

  encrypt(groupId: string, payload: OutgoingPayload): Promise<EncryptedMessage>;
  /**
   * Decrypts an application message. With `messageId`, the payload is written
   * to the durable message cache in the same vault transaction as the new state.
   */
  decrypt(groupId: string, message: Uint8Array, messageId?: string): Promise<ReceiveResult>;
  /** Either kind of incoming group message. */
  receive(groupId: string, message: Uint8Array, messageId?: string): Promise<ReceiveResult>;
  /** A cached decrypted message (from the vault). */
  cachedMessage(groupId: string, messageId: string): Promise<MessagePayload | undefined>;
  /** Drops a cached decrypted message (deleted, expired or burnt: its plaintext must not outlive it). */
  forgetMessage(groupId: string, messageId: string): Promise<void>;

  exportSecret(groupId: string, label: string, length?: number): Promise<Uint8Array>;
  /**
   * Derived keys of the current epoch, or of an earlier epoch still within
   * its grace window (EpochExpiredError after it).
   */
  chatKeys(groupId: string, epoch?: number): Promise<ChatKeys>;
  group(groupId: string): Promise<GroupSummary>;
  listGroups(): Promise<string[]>;
  /** Each member's leaf HPKE public key (base64) by identity; a member's own commit (a self-update) replaces theirs. */
  leafKeys(groupId: string): Promise<Record<string, string>>;
  /**
   * The page's time (Date.now()): the worker's rotation and grace-window bookkeeping follow
   * the page's clock from then on (one clock for the app; in a browser they differ by
   * milliseconds, under a test's moved clock by what the test moved).
   */
  setClock(pageNow: number): Promise<void>;
  /** True once this device owes the group a self-update (7 days or 1,000 messages). */
  rotationDue(groupId: string, now?: number): Promise<boolean>;

  /**
   * Rows the app owns (chats, sent payloads, outbox, cursor), sealed in the
   * same vault under `app/<key>`; calls are serialised with the MLS ones.
   */
  appGet(key: string): Promise<Uint8Array | undefined>;
  appPut(key: string, value: Uint8Array): Promise<void>;
  appDelete(key: string): Promise<void>;
  /** Keys (without the `app/` prefix) that start with `prefix`. */
  appKeys(prefix: string): Promise<string[]>;
}
