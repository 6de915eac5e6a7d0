// Devices and history: device events (ours and our peers'), their leaves added to or
// removed from every shared group with one commit per group (who commits: committerWait),
// the KeyPackage pool, and history bundles for our own new devices (sent by the sibling
// that added them, imported only when signed by one of our own devices).
import type { Remote } from "comlink";
import { NetworkError, type Api, type ClaimedKeyPackage, type DeviceInfo, type Frame } from "../api/client";
import { fromBase64, toBase64 } from "../crypto/encoding";
import type { MlsWorkerApi } from "../mls/api";
import { sleep, type AppContext } from "./context";
import { admitDevice, clearUncertifiedWarning } from "./trust";
import { userOf } from "./format";
import { packHistory, readBundle, sealBundle, type HistoryBundle } from "./history";
import type { MadeCommit } from "./membership";
import type { ChatRecord, DeviceChange, LocalMessage } from "./store";

/** Wait per place in line: the first committer acts at once, the next only if it did not. */
const RANK_STEP_MS = 5000;
/** Other users' devices step in only after the changed device's siblings all had their turn. */
const PEER_GRACE_MS = 20000;
/** KeyPackages this device keeps on the server (claims by others use them up). */
export const KEYPACKAGE_POOL = 5;
/** Tries at a new device's KeyPackage (it uploads them right after signing in). */
const KEYPACKAGE_ROUNDS = 8;

class NoKeyPackageError extends Error {
  override name = "NoKeyPackageError";
}

export type DeviceEventFrame = Extract<Frame, { type: "device_event" }>;

/**
 * Who commits a device change in a group, and when: the changed device's siblings (same
 * user) in credential order, then, after a grace period, every other member in that
 * order (a user whose other devices are gone or silent). Each waits for its turn (the
 * answer, in ms) and acts only if the change is still missing; -1: not in the group.
 */
export function committerWait(members: string[], leaf: string, me: string): number {
  const others = members.filter((m) => m !== leaf);
  const siblings = others.filter((m) => userOf(m) === userOf(leaf)).sort();
  const peers = others.filter((m) => userOf(m) !== userOf(leaf)).sort();
  if (siblings.includes(me)) return siblings.indexOf(me) * RANK_STEP_MS;
  if (!peers.includes(me)) return -1;
  const grace = siblings.length > 0 ? siblings.length * RANK_STEP_MS + PEER_GRACE_MS : 0;
  return grace + peers.indexOf(me) * RANK_STEP_MS;
}

export function parseDeviceChange(data: Record<string, unknown> | null): DeviceChange | null {
  const change = data?.["change"];
  const user = data?.["user"];
  const deviceId = data?.["device_id"];
  const clientDeviceId = data?.["client_device_id"];
  if ((change !== "added" && change !== "certified" && change !== "revoked") || typeof user !== "string" || typeof deviceId !== "number" || typeof clientDeviceId !== "string") {
    return null;
  }
  return { change, user, deviceId, clientDeviceId };
}

type DevicesApi = Pick<Api, "devices" | "revokeDevice" | "claimKeyPackages" | "uploadSyncBundle" | "uploadKeyPackages" | "certificatesOf" | "setCertificate">;
type DevicesMls = Pick<
  Remote<MlsWorkerApi>,
  | "group"
  | "addMembers"
  | "removeMembers"
  | "signSyncBundle"
  | "openSealedBundle"
  | "makeKeyPackages"
  | "checkDevice"
  | "identityKey"
  | "adoptSealedIdentity"
  | "certifyOwnDevice"
>;

export interface DevicesDeps {
  readonly ctx: Pick<AppContext, "store" | "credential" | "user" | "domain" | "lock" | "emit"> & {
    readonly api: DevicesApi;
    readonly mls: DevicesMls;
  };
  /** Membership's commit (under the lock): true when ours went in. */
  commit(chatId: string, make: () => Promise<MadeCommit>, welcomeDevices: number[] | undefined): Promise<boolean>;
  /** Another user's device list changed (./contacts says so in the chats with them). */
  contactChanged?(user: string): void;
  readonly chats: { refresh(chatId: string): Promise<void>; sealName(chatId: string, name: string): Promise<void> };
}

export class Devices {
  /** Our own devices as the server lists them (keys for history bundles); null = ask again. */
  private ownDeviceList: DeviceInfo[] | null = null;
  /** The last claim answer per leaf being added (its certificate is judged again when no KeyPackage came). */
  private readonly lastClaims = new Map<string, ClaimedKeyPackage>();
  /** Device changes and history bundles being worked on (never twice at once). */
  private applying = new Set<string>();

  constructor(private readonly deps: DevicesDeps) {}

  private get ctx(): DevicesDeps["ctx"] {
    return this.deps.ctx;
  }

  async own(fresh = false): Promise<DeviceInfo[]> {
    if (fresh || this.ownDeviceList === null) this.ownDeviceList = await this.ctx.api.devices();
    return this.ownDeviceList;
  }

  /** Revokes another of our devices; the server's `device revoked` event then takes its leaf out. */
  async revoke(deviceId: number): Promise<void> {
    if (deviceId === this.ctx.store.session?.deviceId) throw new Error("Use Sign out to remove this device.");
    await this.ctx.api.revokeDevice(deviceId);
    this.ownDeviceList = null;
    this.ctx.emit("devices");
  }

  /**
   * Approves another of our devices after the person compared its approval code: its
   * certificate and the identity key sealed to it go up; the server then tells our devices
   * and our contacts' that it is certified, and they add it to every chat (we first).
   */
  async approve(deviceId: number): Promise<void> {
    const target = (await this.own(true)).find((d) => d.id === deviceId && !d.current);
    if (target === undefined) throw new Error("That device is no longer signed in to your account.");
    const made = await this.ctx.mls.certifyOwnDevice({
      clientDeviceId: target.client_device_id,
      ed25519Pub: target.ed25519_pub,
      x25519Pub: target.x25519_pub,
    });
    await this.ctx.api.setCertificate(deviceId, made.identityKey, made.certificate, made.sealedIdentity);
    this.ownDeviceList = null;
    this.ctx.emit("devices");
  }

  /** A `device` event: kept in the vault until applied, then applied (in the background). */
  async onDeviceEvent(data: Record<string, unknown> | null): Promise<void> {
    const change = parseDeviceChange(data);
    if (change === null) return;
    if (change.deviceId === this.ctx.store.session?.deviceId) {
      // Another of our devices approved this one: take the identity key it sealed to us.
      if (change.change === "certified") {
        await this.adoptApproval();
        this.ownDeviceList = null;
        this.ctx.emit("devices"); // "waiting for approval" goes
      }
      return;
    }
    if (change.user === this.ctx.user) this.ownDeviceList = null;
    else this.deps.contactChanged?.(change.user);
    this.ctx.store.deviceChanges.push(change);
    await this.ctx.store.saveDeviceChanges();
    this.ctx.emit("devices");
    void this.apply(change);
  }

  /**
   * This device, approved by another of ours, keeps the identity key sealed to it (checked:
   * the key the server lists for us, and it signed our certificate). Nothing to do when this
   * device has the key already or is not approved yet; true when it was adopted now.
   */
  async adoptApproval(): Promise<boolean> {
    try {
      if ((await this.ctx.mls.identityKey()) !== null) return false;
      const current = (await this.own(true)).find((d) => d.current);
      if (current?.certificate == null || current.sealed_identity == null) return false;
      const listed = await this.ctx.api.certificatesOf(this.ctx.user);
      if (listed.identity_key === null) return false;
      await this.ctx.mls.adoptSealedIdentity(current.sealed_identity, listed.identity_key, current.certificate);
      this.ctx.emit("devices");
      return true;
    } catch (err) {
      console.warn("talkee: approval not taken", err);
      return false;
    }
  }

  /** After each sync: changes not applied yet (a killed tab, a dropped link), owed history, the KeyPackage pool. */
  resume(): void {
    void this.adoptApproval();
    for (const change of [...this.ctx.store.deviceChanges]) void this.apply(change);
    void this.sendOwedHistory();
    void this.refillKeyPackages();
  }

  /**
   * A device was added to (revoked from) an account we share chats with: its leaf goes
   * into (out of) every such group with a commit. One device does it per group
   * (committerWait); the next in line waits and checks, and a lost race (409) is caught
   * up and checked again before any retry. Forgotten once done (kept on a network error).
   */
  async apply(change: DeviceChange): Promise<void> {
    const { store } = this.ctx;
    const key = `${change.change}/${change.deviceId}`;
    if (this.applying.has(key)) return;
    this.applying.add(key);
    const leaf = `${change.user}:${change.clientDeviceId}`;
    let complete = true;
    try {
      const chats = [...store.chats.values()].filter(
        (c: ChatRecord) => c.joined && !c.removed && (change.user === this.ctx.user || c.members.some((m) => m.user === change.user)),
      );
      const results = await Promise.allSettled(chats.map((c) => this.applyTo(c.id, change, leaf)));
      for (const r of results) {
        if (r.status === "rejected") {
          console.warn("talkee: device change not applied", key, r.reason);
          if (r.reason instanceof NetworkError) complete = false; // again on the next start
        }
      }
    } finally {
      this.applying.delete(key);
    }
    if (!complete) return;
    store.deviceChanges = store.deviceChanges.filter((c) => `${c.change}/${c.deviceId}` !== key);
    await store.saveDeviceChanges();
  }

  private async applyTo(chatId: string, change: DeviceChange, leaf: string): Promise<void> {
    const adding = change.change !== "revoked";
    for (let round = 0; round < KEYPACKAGE_ROUNDS; round++) {
      const group = await this.ctx.mls.group(chatId);
      if (group.members.includes(leaf) === adding) {
        // done (by us or another device); an approved device's earlier refusal is moot
        if (change.change === "certified") await clearUncertifiedWarning(this.ctx, chatId, change.user);
        return;
      }
      const wait = committerWait(group.members, leaf, this.ctx.credential);
      if (wait < 0) return;
      await sleep(round === 0 ? wait : Math.min(1500 * round, 8000));
      const outcome = await this.ctx.lock.run(() => this.commitChange(chatId, change, leaf));
      if (outcome === "no_keypackage") continue;
      if (outcome === "committed" && change.change === "certified") await clearUncertifiedWarning(this.ctx, chatId, change.user);
      if (outcome === "committed" && adding && change.user === this.ctx.user) await this.sendOwedHistory();
      return;
    }
    // Never a KeyPackage: if it never had a certificate either, say so in the chat.
    const last = this.lastClaims.get(leaf);
    if (adding && last !== undefined) await admitDevice(this.ctx, chatId, change.user, last);
    throw new Error(`${leaf} has no KeyPackage yet; not added to ${chatId}`);
  }

  private async commitChange(chatId: string, change: DeviceChange, leaf: string): Promise<"done" | "committed" | "no_keypackage"> {
    const { store, api, mls } = this.ctx;
    const adding = change.change !== "revoked";
    let keyPackage: Uint8Array | null = null;
    let committed: boolean;
    try {
      committed = await this.deps.commit(
        chatId,
        async () => {
          const group = await mls.group(chatId);
          if (group.members.includes(leaf) === adding) return null;
          if (!adding) return mls.removeMembers(chatId, [leaf]);
          if (keyPackage === null) {
            const claimed = await api.claimKeyPackages([change.user], [change.deviceId]);
            const entry = claimed[change.user]?.find((d) => d.device_id === change.deviceId);
            if (entry === undefined) return null; // revoked meanwhile: nothing to add
            this.lastClaims.set(leaf, entry);
            const admitted = await admitDevice(this.ctx, chatId, change.user, entry, { holdUncertified: entry.keypackage === null });
            if (admitted === false) return null; // no valid certificate: never added
            if (entry.keypackage === null) throw new NoKeyPackageError();
            keyPackage = fromBase64(entry.keypackage);
          }
          return mls.addMembers(chatId, [keyPackage]);
        },
        adding ? [change.deviceId] : undefined,
      );
    } catch (err) {
      if (err instanceof NoKeyPackageError) return "no_keypackage";
      throw err;
    }
    if (!committed) return "done";
    if (adding && change.user === this.ctx.user) {
      // Ours to send now that our commit put the device in; kept until every part is up.
      store.historyOwed.push({ chatId, deviceId: change.deviceId });
      await store.saveHistoryOwed();
    }
    // The name is sealed under the epoch's exporter: seal it again for the new epoch
    // (owners and admins may; our own new device also gets it in the history bundle).
    const chat = store.chats.get(chatId);
    if (chat?.name && (chat.role === "owner" || chat.role === "admin")) {
      await this.deps.chats.sealName(chatId, chat.name).catch((err: unknown) => console.warn("talkee: name not sealed again", err));
    }
    await store.saveChats();
    return "committed";
  }

  /** Sends the history bundles this device owes (again after a failed upload: the import skips what it has). */
  async sendOwedHistory(): Promise<void> {
    const { store } = this.ctx;
    for (const owed of [...store.historyOwed]) {
      const key = `history/${owed.chatId}/${owed.deviceId}`;
      if (this.applying.has(key)) continue;
      this.applying.add(key);
      try {
        await this.sendHistory(owed.chatId, owed.deviceId);
        store.historyOwed = store.historyOwed.filter((o) => o !== owed);
        await store.saveHistoryOwed();
      } catch (err) {
        console.warn("talkee: history bundle not sent yet", owed.chatId, err);
        if (!(err instanceof NetworkError)) {
          store.historyOwed = store.historyOwed.filter((o) => o !== owed);
          await store.saveHistoryOwed();
        }
      } finally {
        this.applying.delete(key);
      }
    }
  }

  /** The chat's history from this device, signed and sealed to our new device, in ≤ 4 MiB bundles. */
  private async sendHistory(chatId: string, toDeviceId: number): Promise<void> {
    const target = (await this.own(true)).find((d) => d.id === toDeviceId);
    if (target === undefined) return; // revoked meanwhile
    const chat = this.ctx.store.chats.get(chatId);
    for (const part of packHistory(chatId, chat?.name ?? null, this.ctx.store.messagesOf(chatId))) {
      const signature = await this.ctx.mls.signSyncBundle(part);
      const sealed = await sealBundle(part, signature, fromBase64(target.x25519_pub));
      await this.ctx.api.uploadSyncBundle(toDeviceId, chatId, toBase64(sealed));
    }
  }

  /** A history bundle from another of our devices: its messages join what this device shows. */
  async importBundle(frame: DeviceEventFrame): Promise<void> {
    const { store } = this.ctx;
    const chatId = frame.chat_id;
    const fromId = frame.from_device_id ?? null;
    if (frame.payload === null || chatId === null || fromId === null) return;
    const mine = (list: DeviceInfo[]): DeviceInfo | undefined => list.find((d) => d.id === fromId && !d.current);
    const sender = mine(await this.own()) ?? mine(await this.own(true));
    if (sender === undefined) {
      console.warn("talkee: history bundle not from one of our devices; ignored", fromId);
      return;
    }
    let bundle: HistoryBundle;
    try {
      const opened = await this.ctx.mls.openSealedBundle(fromBase64(frame.payload));
      bundle = await readBundle(opened, fromBase64(sender.ed25519_pub), chatId);
    } catch (err) {
      console.warn("talkee: history bundle rejected", err);
      return;
    }
    if (!store.chats.has(chatId)) await this.deps.chats.refresh(chatId);
    const chat = store.chats.get(chatId);
    if (chat === undefined) return;
    if (chat.name === null && bundle.name !== null) chat.name = bundle.name;
    for (const m of bundle.messages) {
      const existing = m.id === null ? undefined : store.findById(chatId, m.id);
      if (existing !== undefined && !existing.unavailable) continue;
      const local: LocalMessage = { ...m, mine: userOf(m.sender) === this.ctx.user, unavailable: false };
      if (existing !== undefined) Object.assign(existing, local);
      else store.insert(chatId, local);
    }
    const list = store.messagesOf(chatId);
    const last = list[list.length - 1];
    if (last !== undefined && last.at >= chat.lastAt) {
      chat.lastText = last.text || (last.file ? `File: ${last.file.name}` : "");
      chat.lastAt = last.at;
    }
    await store.saveMessages(chatId);
    await store.saveChats();
    this.ctx.emit("messages", chatId);
    this.ctx.emit("chats");
  }

  /** Tops the server's pool of our KeyPackages up (claims that lost a race never send a Welcome). */
  private async refillKeyPackages(): Promise<void> {
    try {
      const current = (await this.own(true)).find((d) => d.current);
      if (current !== undefined && current.keypackage_count < KEYPACKAGE_POOL) {
        await this.topUpKeyPackages(KEYPACKAGE_POOL - current.keypackage_count);
      }
    } catch (err) {
      console.warn("talkee: KeyPackage pool not checked", err);
    }
  }

  async topUpKeyPackages(count: number): Promise<void> {
    try {
      const kps = await this.ctx.mls.makeKeyPackages(count);
      await this.ctx.api.uploadKeyPackages(kps.map((k) => toBase64(k)));
    } catch (err) {
      console.warn("talkee: KeyPackage upload failed", err);
    }
  }
}
