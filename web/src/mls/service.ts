// What runs inside the MLS worker: group states, device keys and the vault.
// Every state-mutating call writes the new state to the vault (one IndexedDB
// transaction) before it resolves, so a killed worker resumes exactly where
// the ratchet was. Calls are serialised: ts-mls states are immutable values,
// and two overlapping operations on one group would otherwise fork it.

import type { ClientConfig, ClientState, Credential } from "ts-mls";
import { bytesEqual, fromBase64, fromUtf8, toBase64, toHex, utf8 } from "../crypto/encoding";
import {
  credentialIdentity,
  decodeDeviceSecrets,
  encodeDeviceSecrets,
  generateDeviceSecrets,
  publicIdentity,
  signChallenge,
  signWithContext,
  SYNC_BUNDLE_CONTEXT,
  type DevicePublicIdentity,
  type DeviceSecrets,
} from "../crypto/identity";
import { decodePayload, encodePayload, type MessagePayload } from "../crypto/payload";
import {
  DEFAULT_ROTATION_POLICY,
  epochReadable,
  expireEpochs,
  freshRotationState,
  needsSelfUpdate,
  recordEpochChange,
  recordMessage,
  type RotationPolicy,
  type RotationState,
} from "../crypto/rotation";
import { openSealed } from "../crypto/sealedBox";
import { Vault, VaultExistsError } from "../vault/vault";
import type {
  ChatKeys,
  CommitResult,
  DeviceSetup,
  EncryptedMessage,
  GroupSummary,
  LeafRefusal,
  MlsWorkerApi,
  OutgoingPayload,
  ReceiveResult,
} from "./api";
import { LeafRefusedError } from "./api";
import * as engine from "./engine";
import { ROW, decodeChatKeys, decodeKeyPackageRow, deriveChatKeys, encodeChatKeys, encodeKeyPackageRow } from "./rows";
import type { CommitOutput, GeneratedKeyPackage } from "./engine";
import {
  adoptIdentity,
  adoptSealedIdentity,
  certifyOwnDevice,
  checkDevice,
  checkLeaf,
  checkMembers,
  learnCertificates,
  ownIdentityKey,
  pinnedKey,
  repinKey,
  type ClaimedDevice,
  type DeviceVerdict,
  type UserDirectory,
} from "./trust";


export class EpochExpiredError extends Error {
  override name = "EpochExpiredError";
}

/** A payload claiming an author other than the member whose key signed it. */
export class SenderMismatchError extends Error {
  override name = "SenderMismatchError";
}

export class PendingCommitError extends Error {
  override name = "PendingCommitError";
}

export class NotMemberError extends Error {
  override name = "NotMemberError";
}

export interface ServiceOptions {
  policy?: RotationPolicy;
  /** Milliseconds since the epoch; injectable so rotation rules can be tested. */
  now?: () => number;
}

interface GroupRecord {
  state: ClientState;
  rotation: RotationState;
}

export class MlsService implements MlsWorkerApi {
  private vault: Vault | null = null;
  private device: DeviceSecrets | null = null;
  private groups = new Map<string, GroupRecord>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly policy: RotationPolicy;
  private readonly now: () => number;
  /** What the validator refused during the current (serialised) operation. */
  private refusals: LeafRefusal[] = [];
  /** Every state this worker touches validates leaves against device certificates. */
  private readonly clientConfig: ClientConfig = {
    ...engine.talkeeClientConfig,
    authService: { validateCredential: (credential, signatureKey) => this.validateLeaf(credential, signatureKey) },
  };

  /** The page's clock minus ours (setClock): the worker keeps the app's one time. */
  private clockOffset = 0;

  constructor(options: ServiceOptions = {}) {
    this.policy = options.policy ?? DEFAULT_ROTATION_POLICY;
    const base = options.now ?? (() => Date.now());
    this.now = () => base() + this.clockOffset;
  }

  async setClock(pageNow: number): Promise<void> {
    if (!Number.isFinite(pageNow)) throw new RangeError("pageNow must be a number of milliseconds");
    this.clockOffset = 0;
    this.clockOffset = pageNow - this.now();
  }

  private async validateLeaf(credential: Credential, signatureKey: Uint8Array): Promise<boolean> {
    if (!engine.credentialShapeValid(credential) || credential.credentialType !== "basic") return false;
    const identity = fromUtf8(credential.identity);
    const verdict = await checkLeaf(this.unlocked().vault, identity, signatureKey, Math.floor(this.now() / 1000));
    if (verdict.ok) return true;
    if (!this.refusals.some((r) => r.identity === identity)) this.refusals.push({ identity, reason: verdict.reason });
    return false;
  }

  /** Runs an MLS step that validates leaves; a validator refusal comes out as LeafRefusedError. */
  private async validating<T>(fn: () => Promise<T>): Promise<T> {
    this.refusals = [];
    try {
      return await fn();
    } catch (err) {
      if (this.refusals.length > 0) throw new LeafRefusedError(this.refusals, (err as { mlsSender?: string } | null)?.mlsSender);
      throw err;
    } finally {
      this.refusals = [];
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs a state-changing step; on failure forgets the cached state so the
   * next call reloads it from the vault (ts-mls zeroes consumed secrets in
   * place, so a failed step can leave the in-memory state unusable).
   */
  private async guarded<T>(groupId: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.groups.delete(groupId);
      throw err;
    }
  }

  private unlocked(): { vault: Vault; device: DeviceSecrets } {
    if (this.vault === null || this.device === null) throw new Error("the MLS worker is locked: call unlock first");
    return { vault: this.vault, device: this.device };
  }

  // ---- lifecycle -----------------------------------------------------------

  isSetUp(dbName?: string): Promise<boolean> {
    return Vault.exists(dbName === undefined ? {} : { dbName });
  }

  setupDevice(setup: DeviceSetup): Promise<DevicePublicIdentity> {
    return this.serial(async () => {
      credentialIdentity(setup.user, setup.deviceId);
      const options = setup.dbName === undefined ? {} : { dbName: setup.dbName };
      let vault: Vault;
      try {
        vault = await Vault.create(setup.password, options);
      } catch (err) {
        // A first run killed between creating the vault and storing the keys
        // may finish now; a vault that already holds a device is never touched.
        if (!(err instanceof VaultExistsError)) throw err;
        vault = await Vault.unlock(setup.password, options);
        if ((await vault.get(ROW.device)) !== undefined) {
          vault.lock();
          throw err;
        }
      }
      const device = await generateDeviceSecrets(setup.user, setup.deviceId);
      await vault.put(ROW.device, encodeDeviceSecrets(device));
      this.replaceSession(vault, device);
      return publicIdentity(device);
    });
  }

  unlock(password: string, dbName?: string): Promise<DevicePublicIdentity> {
    return this.serial(async () => {
      const vault = await Vault.unlock(password, dbName === undefined ? {} : { dbName });
      const bytes = await vault.get(ROW.device);
      if (bytes === undefined) {
        vault.lock();
        throw new Error("vault holds no device identity");
      }
      const device = decodeDeviceSecrets(bytes);
      this.replaceSession(vault, device);
      return publicIdentity(device);
    });
  }

  private replaceSession(vault: Vault, device: DeviceSecrets): void {
    this.vault?.lock();
    this.vault = vault;
    this.device = device;
    this.groups.clear();
  }

  changePassword(currentPassword: string, newPassword: string): Promise<void> {
    return this.serial(() => this.unlocked().vault.changePassword(currentPassword, newPassword));
  }

  lock(): Promise<void> {
    return this.serial(async () => {
      this.vault?.lock();
      this.vault = null;
      this.device = null;
      this.groups.clear();
    });
  }

  async deviceIdentity(): Promise<DevicePublicIdentity> {
    return publicIdentity(this.unlocked().device);
  }

  async signChallenge(nonce: string): Promise<string> {
    return signChallenge(this.unlocked().device, nonce);
  }

  async openSealedBundle(sealed: Uint8Array): Promise<Uint8Array> {
    const { device } = this.unlocked();
    return openSealed(sealed, device.x25519Public, device.x25519Secret);
  }

  async signSyncBundle(plaintext: Uint8Array): Promise<Uint8Array> {
    return signWithContext(this.unlocked().device, SYNC_BUNDLE_CONTEXT, plaintext);
  }

  // ---- identity (./trust.ts) ----------------------------------------------------
  adoptIdentity(username: string, mnemonic: string): Promise<{ identityKey: string; certificate: string }> {
    return this.serial(async () => {
      const { vault, device } = this.unlocked();
      if (username.split("@")[0] !== device.user.split("@")[0]) throw new Error("the phrase is for another account");
      return adoptIdentity(vault, device, mnemonic);
    });
  }
  certifyOwnDevice(other: { clientDeviceId: string; ed25519Pub: string; x25519Pub: string }): Promise<{ identityKey: string; certificate: string; sealedIdentity: string }> {
    return this.serial(() => {
      const { vault, device } = this.unlocked();
      return certifyOwnDevice(vault, device, {
        clientDeviceId: other.clientDeviceId,
        ed25519Pub: fromBase64(other.ed25519Pub),
        x25519Pub: fromBase64(other.x25519Pub),
      });
    });
  }
  adoptSealedIdentity(sealed: string, listedKey: string, ownCertificate: string): Promise<string> {
    return this.serial(() => {
      const { vault, device } = this.unlocked();
      return adoptSealedIdentity(vault, device, fromBase64(sealed), listedKey, fromBase64(ownCertificate));
    });
  }
  identityKey(): Promise<string | null> {
    return this.serial(() => ownIdentityKey(this.unlocked().vault));
  }
  pinnedIdentity(user: string): Promise<string | null> {
    return this.serial(() => pinnedKey(this.unlocked().vault, user));
  }
  repinIdentity(user: string, identityKey: string): Promise<void> {
    return this.serial(() => repinKey(this.unlocked().vault, user, identityKey));
  }
  checkDevice(claimed: ClaimedDevice): Promise<DeviceVerdict> {
    return this.serial(() => checkDevice(this.unlocked().vault, claimed));
  }
  learnCertificates(user: string, directory: UserDirectory): Promise<number> {
    return this.serial(() => learnCertificates(this.unlocked().vault, user, directory));
  }
  checkMembers(groupId: string, user: string, directory: UserDirectory): Promise<DeviceVerdict> {
    return this.serial(async () => {
      const leaves = engine.memberKeys((await this.load(groupId)).state).filter((l) => l.identity.startsWith(`${user}:`));
      return checkMembers(this.unlocked().vault, user, leaves, directory);
    });
  }

  // ---- groups --------------------------------------------------------------

  private async load(groupId: string): Promise<GroupRecord> {
    const cached = this.groups.get(groupId);
    if (cached !== undefined) return cached;
    const { vault } = this.unlocked();
    const stateBytes = await vault.get(ROW.group(groupId));
    if (stateBytes === undefined) throw new NotMemberError(`no state for group ${groupId} on this device`);
    const rotationBytes = await vault.get(ROW.rotation(groupId));
    const record: GroupRecord = {
      state: engine.decodeState(stateBytes, this.clientConfig),
      rotation: rotationBytes === undefined ? freshRotationState(this.now()) : (JSON.parse(fromUtf8(rotationBytes)) as RotationState),
    };
    this.groups.set(groupId, record);
    return record;
  }

  /** Persists then publishes a group's new state (the order is what makes it swipe-safe). */
  private async store(
    groupId: string,
    record: GroupRecord,
    extraWrites: Array<readonly [string, Uint8Array]> = [],
    deletes: string[] = [],
  ): Promise<void> {
    const { vault } = this.unlocked();
    const expired = expireEpochs(record.rotation, this.now(), this.policy);
    const next: GroupRecord = {
      state: engine.forgetEpochs(record.state, expired.expired.map((e) => BigInt(e))),
      rotation: expired.state,
    };
    const previous = this.groups.get(groupId);
    const keyWrites: Array<readonly [string, Uint8Array]> = [];
    // A new epoch (or a different one with the same number, after a lost
    // commit race): keep its derived keys for late reactions/signalling.
    if (previous === undefined || !bytesEqual(previous.state.keySchedule.exporterSecret, next.state.keySchedule.exporterSecret)) {
      const keys = await deriveChatKeys(next.state);
      keyWrites.push([ROW.epochKeys(groupId, keys.epoch), encodeChatKeys(keys)]);
    }
    await vault.commit(
      [
        [ROW.group(groupId), engine.encodeState(next.state)],
        [ROW.rotation(groupId), utf8(JSON.stringify(next.rotation))],
        ...keyWrites,
        ...extraWrites,
      ],
      [...deletes, ...expired.expired.map((e) => ROW.epochKeys(groupId, e))],
    );
    this.groups.set(groupId, next);
  }

  private summary(groupId: string, state: ClientState): GroupSummary {
    const members = engine.members(state);
    return { groupId, epoch: Number(engine.groupEpoch(state)), members: members.map((m) => m.identity), leaves: members.map((m) => m.leafIndex) };
  }

  makeKeyPackages(count: number): Promise<Uint8Array[]> {
    return this.serial(async () => {
      const { vault, device } = this.unlocked();
      if (!Number.isInteger(count) || count < 1 || count > 100) throw new RangeError("count must be 1..100");
      const made: GeneratedKeyPackage[] = [];
      for (let i = 0; i < count; i++) made.push(await engine.generateKeyPackage(device));
      await vault.commit(made.map((kp) => [ROW.keyPackage(toHex(kp.ref)), encodeKeyPackageRow(kp)] as const));
      return made.map((kp) => kp.encoded);
    });
  }

  createGroup(groupId: string): Promise<GroupSummary> {
    return this.serial(async () => {
      const { vault, device } = this.unlocked();
      if ((await vault.get(ROW.group(groupId))) !== undefined) throw new Error(`group ${groupId} already exists`);
      const own = await engine.generateKeyPackage(device);
      const state = await engine.createGroupState(utf8(groupId), own, this.clientConfig);
      await this.store(groupId, { state, rotation: freshRotationState(this.now()) });
      return this.summary(groupId, state);
    });
  }

  private async pendingRecord(groupId: string): Promise<GroupRecord | undefined> {
    const bytes = await this.unlocked().vault.get(ROW.pending(groupId));
    if (bytes === undefined) return undefined;
    const raw = JSON.parse(fromUtf8(bytes)) as { state: string; rotation: RotationState };
    return { state: engine.decodeState(fromBase64(raw.state), this.clientConfig), rotation: raw.rotation };
  }

  /**
   * Applies our own commit at once, keeping the previous state in the vault
   * until the server has ordered the commit: confirmCommit() when it was
   * accepted, discardCommit() (or just processing the winning commit) on 409.
   */
  private async ownCommit(groupId: string, make: (state: ClientState) => Promise<CommitOutput>): Promise<CommitResult> {
    if ((await this.unlocked().vault.get(ROW.pending(groupId))) !== undefined) {
      throw new PendingCommitError(`group ${groupId} has a commit awaiting the server; confirm or discard it first`);
    }
    const record = await this.load(groupId);
    // Encoded before committing: ts-mls zeroes consumed secrets in place, and
    // states share byte arrays.
    const previous = utf8(JSON.stringify({ state: toBase64(engine.encodeState(record.state)), rotation: record.rotation }));
    const out = await this.validating(() => make(record.state));
    const rotation = recordEpochChange(record.rotation, Number(engine.groupEpoch(record.state)), this.now(), true);
    await this.store(groupId, { state: out.state, rotation }, [[ROW.pending(groupId), previous]]);
    const result: CommitResult = { groupId, epoch: Number(engine.groupEpoch(out.state)), commit: out.commit };
    if (out.welcome !== undefined) result.welcome = out.welcome;
    return result;
  }

  confirmCommit(groupId: string): Promise<GroupSummary> {
    return this.serial(async () => {
      await this.unlocked().vault.delete(ROW.pending(groupId));
      return this.summary(groupId, (await this.load(groupId)).state);
    });
  }

  discardCommit(groupId: string): Promise<GroupSummary> {
    return this.serial(async () => {
      const previous = await this.pendingRecord(groupId);
      if (previous === undefined) throw new PendingCommitError(`group ${groupId} has no pending commit`);
      await this.store(groupId, previous, [], [ROW.pending(groupId)]);
      return this.summary(groupId, previous.state);
    });
  }

  addMembers(groupId: string, keyPackages: Uint8Array[]): Promise<CommitResult> {
    return this.serial(() => this.guarded(groupId, () => this.ownCommit(groupId, (s) => engine.addMembers(s, keyPackages))));
  }

  removeMembers(groupId: string, memberIdentities: string[]): Promise<CommitResult> {
    return this.serial(() =>
      this.guarded(groupId, () => this.ownCommit(groupId, (s) => engine.removeMembers(s, memberIdentities))),
    );
  }

  selfUpdate(groupId: string): Promise<CommitResult> {
    return this.serial(() => this.guarded(groupId, () => this.ownCommit(groupId, (s) => engine.selfUpdate(s))));
  }

  joinFromWelcome(welcome: Uint8Array): Promise<GroupSummary> {
    return this.serial(async () => {
      const { vault } = this.unlocked();
      const candidates: GeneratedKeyPackage[] = [];
      for (const key of await vault.keys("kp/")) {
        const row = await vault.get(key);
        if (row !== undefined) candidates.push(decodeKeyPackageRow(row));
      }
      const { state, usedRef } = await this.validating(() => engine.joinFromWelcome(welcome, candidates, this.clientConfig));
      const groupId = fromUtf8(state.groupContext.groupId);
      // The KeyPackage is single-use: its private keys go in the same transaction.
      await this.store(groupId, { state, rotation: freshRotationState(this.now()) }, [], [ROW.keyPackage(toHex(usedRef))]);
      return this.summary(groupId, state);
    });
  }

  private async receiveLocked(groupId: string, message: Uint8Array, messageId: string | undefined): Promise<ReceiveResult> {
    let record = await this.load(groupId);
    let current = engine.groupEpoch(record.state);
    const sentIn = engine.messageEpoch(message);
    const pending = await this.pendingRecord(groupId);
    const settled: string[] = [];
    if (pending !== undefined) {
      if (sentIn < current && engine.isCommitMessage(message)) {
        // Somebody else's commit won the epoch our pending commit also claimed:
        // drop ours and process theirs from the previous state.
        record = pending;
        current = engine.groupEpoch(record.state);
        settled.push(ROW.pending(groupId));
      } else if (sentIn === current) {
        settled.push(ROW.pending(groupId)); // others are in our new epoch: the server took our commit
      }
    }
    if (sentIn < current && !epochReadable(record.rotation, Number(sentIn), Number(current), this.now(), this.policy)) {
      throw new EpochExpiredError(`message from epoch ${sentIn} arrived after its grace window (group is at ${current})`);
    }
    const r = await this.validating(() => engine.receive(record.state, message));
    if (r.kind === "application") {
      const payload = decodePayload(r.plaintext);
      if (payload.sender !== r.senderIdentity) {
        throw new SenderMismatchError(`payload claims ${payload.sender} but was sent by ${r.senderIdentity}`);
      }
      const writes: Array<readonly [string, Uint8Array]> =
        messageId === undefined ? [] : [[ROW.message(groupId, messageId), r.plaintext]];
      await this.store(groupId, { state: r.state, rotation: recordMessage(record.rotation) }, writes, settled);
      return { kind: "application", groupId, epoch: Number(sentIn), payload };
    }
    const advanced = r.epoch !== current;
    const rotation = advanced ? recordEpochChange(record.rotation, Number(current), this.now(), false) : record.rotation;
    await this.store(groupId, { state: r.state, rotation }, [], settled);
    return { kind: "handshake", groupId, epoch: Number(r.epoch), removed: r.removed };
  }

  processHandshake(groupId: string, message: Uint8Array): Promise<ReceiveResult> {
    return this.serial(async () => {
      const result = await this.guarded(groupId, () => this.receiveLocked(groupId, message, undefined));
      if (result.kind !== "handshake") throw new Error("expected a handshake message, got application data");
      return result;
    });
  }

  decrypt(groupId: string, message: Uint8Array, messageId?: string): Promise<ReceiveResult> {
    return this.serial(async () => {
      const result = await this.guarded(groupId, () => this.receiveLocked(groupId, message, messageId));
      if (result.kind !== "application") throw new Error("expected an application message, got a handshake");
      return result;
    });
  }

  receive(groupId: string, message: Uint8Array, messageId?: string): Promise<ReceiveResult> {
    return this.serial(() => this.guarded(groupId, () => this.receiveLocked(groupId, message, messageId)));
  }

  async cachedMessage(groupId: string, messageId: string): Promise<MessagePayload | undefined> {
    const bytes = await this.unlocked().vault.get(ROW.message(groupId, messageId));
    return bytes === undefined ? undefined : decodePayload(bytes);
  }

  forgetMessage(groupId: string, messageId: string): Promise<void> {
    return this.serial(() => this.unlocked().vault.delete(ROW.message(groupId, messageId)));
  }

  encrypt(groupId: string, payload: OutgoingPayload): Promise<EncryptedMessage> {
    return this.serial(() =>
      this.guarded(groupId, async () => {
        const { device } = this.unlocked();
        const record = await this.load(groupId);
        const full: MessagePayload = { ...payload, _v: 1, sender: credentialIdentity(device.user, device.deviceId) };
        const padded = encodePayload(full);
        const out = await engine.encryptApplication(record.state, padded);
        await this.store(groupId, { state: out.state, rotation: recordMessage(record.rotation) });
        return { groupId, epoch: Number(engine.groupEpoch(out.state)), ciphertext: out.message };
      }),
    );
  }

  async exportSecret(groupId: string, label: string, length = 32): Promise<Uint8Array> {
    const record = await this.serial(() => this.load(groupId));
    return engine.exportSecret(record.state, label, length);
  }

  async chatKeys(groupId: string, epoch?: number): Promise<ChatKeys> {
    const record = await this.serial(() => this.load(groupId));
    const current = Number(engine.groupEpoch(record.state));
    if (epoch === undefined || epoch === current) return deriveChatKeys(record.state);
    const bytes = await this.unlocked().vault.get(ROW.epochKeys(groupId, epoch));
    if (bytes === undefined || !epochReadable(record.rotation, epoch, current, this.now(), this.policy)) {
      throw new EpochExpiredError(`keys of epoch ${epoch} are no longer kept (group is at ${current})`);
    }
    return decodeChatKeys(bytes);
  }

  async group(groupId: string): Promise<GroupSummary> {
    const record = await this.serial(() => this.load(groupId));
    return this.summary(groupId, record.state);
  }

  async leafKeys(groupId: string): Promise<Record<string, string>> {
    return engine.leafEncryptionKeys((await this.serial(() => this.load(groupId))).state);
  }

  async listGroups(): Promise<string[]> {
    const keys = await this.unlocked().vault.keys("group/");
    return keys.map((k) => k.slice("group/".length));
  }

  async rotationDue(groupId: string, now?: number): Promise<boolean> {
    const record = await this.serial(() => this.load(groupId));
    return needsSelfUpdate(record.rotation, now ?? this.now(), this.policy);
  }

  // ---- app rows ------------------------------------------------------------

  appGet(key: string): Promise<Uint8Array | undefined> {
    return this.serial(() => this.unlocked().vault.get(ROW.app(key)));
  }

  appPut(key: string, value: Uint8Array): Promise<void> {
    return this.serial(() => this.unlocked().vault.put(ROW.app(key), value));
  }

  appDelete(key: string): Promise<void> {
    return this.serial(() => this.unlocked().vault.delete(ROW.app(key)));
  }

  async appKeys(prefix: string): Promise<string[]> {
    const keys = await this.serial(() => this.unlocked().vault.keys(ROW.app(prefix)));
    return keys.map((k) => k.slice(ROW.app("").length));
  }
}
