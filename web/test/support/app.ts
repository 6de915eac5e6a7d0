// The app layer's modules over a fake server and a fake MLS worker, for the unit tests
// in test/app-*.test.ts. The fakes stand for what is outside web/src/app: the server's
// /v1/ API (ids and seqs handed out once per client_message_id, as the server does) and
// the worker (its vault rows, groups with pending commits, and a stand-in "encryption"
// that, like MLS, refuses to decrypt this device's own messages).
import type { Remote } from "comlink";
import { ApiError, NetworkError, type Api, type ChatInfo, type ProfileAnswer, type SendBody, type SentAnswer, type WireMessage } from "../../src/api/client";
import { fromBase64, fromUtf8, toBase64, utf8 } from "../../src/crypto/encoding";
import type { MessagePayload } from "../../src/crypto/payload";
import type { CommitResult, MlsWorkerApi, OutgoingPayload, ReceiveResult } from "../../src/mls/api";
import type { AppContext, ChangeKind } from "../../src/app/context";
import { userOf } from "../../src/app/format";
import { TurnLock } from "../../src/app/lock";
import { wireModules, type AppHooks, type AppModules } from "../../src/app/modules";
import { AppStore } from "../../src/app/store";

interface FakeGroup {
  epoch: number;
  members: string[];
  /** Before our own commit the server has not ordered yet (confirm drops it, discard restores it). */
  before?: { epoch: number; members: string[] };
}

/** The MLS worker's behaviour that the app relies on, without the cryptography. */
export class FakeWorker {
  rows = new Map<string, Uint8Array>();
  groups = new Map<string, FakeGroup>();
  decrypted: string[] = [];
  encrypted = 0;
  private counter = 0;

  constructor(readonly credential: string) {}

  async appGet(key: string): Promise<Uint8Array | undefined> {
    return this.rows.get(key);
  }
  async appPut(key: string, value: Uint8Array): Promise<void> {
    this.rows.set(key, value);
  }
  async appDelete(key: string): Promise<void> {
    this.rows.delete(key);
  }
  async appKeys(prefix: string): Promise<string[]> {
    return [...this.rows.keys()].filter((k) => k.startsWith(prefix));
  }

  private get(groupId: string): FakeGroup {
    const g = this.groups.get(groupId);
    if (g === undefined) throw new Error(`no group ${groupId}`);
    return g;
  }

  /** Devices whose certificate the fake worker refuses (by client_device_id). */
  refuse = new Set<string>();
  async checkDevice(claimed: { clientDeviceId: string }): Promise<{ ok: true; certified: boolean; pinnedNow: boolean } | { ok: false; reason: "uncertified" }> {
    return this.refuse.has(claimed.clientDeviceId) ? { ok: false, reason: "uncertified" } : { ok: true, certified: true, pinnedNow: false };
  }

  async createGroup(groupId: string): Promise<{ groupId: string; epoch: number; members: string[] }> {
    this.groups.set(groupId, { epoch: 0, members: [this.credential] });
    return this.group(groupId);
  }
  async group(groupId: string): Promise<{ groupId: string; epoch: number; members: string[] }> {
    const g = this.get(groupId);
    return { groupId, epoch: g.epoch, members: [...g.members] };
  }
  async listGroups(): Promise<string[]> {
    return [...this.groups.keys()];
  }

  /** Our own commit applies at once; the state before it is kept until confirmed. */
  private ownCommit(groupId: string, members: string[], welcome: boolean): CommitResult {
    const g = this.get(groupId);
    if (g.before !== undefined) throw new Error("PendingCommitError");
    g.before = { epoch: g.epoch, members: [...g.members] };
    g.epoch += 1;
    g.members = members;
    const commit = utf8(JSON.stringify({ commit: ++this.counter, epoch: g.epoch, members }));
    return welcome ? { groupId, epoch: g.epoch, commit, welcome: utf8("welcome") } : { groupId, epoch: g.epoch, commit };
  }
  async addMembers(groupId: string, keyPackages: Uint8Array[]): Promise<CommitResult> {
    return this.ownCommit(groupId, [...this.get(groupId).members, ...keyPackages.map(fromUtf8)], true);
  }
  async removeMembers(groupId: string, leaves: string[]): Promise<CommitResult> {
    return this.ownCommit(groupId, this.get(groupId).members.filter((m) => !leaves.includes(m)), false);
  }
  async confirmCommit(groupId: string): Promise<{ groupId: string; epoch: number; members: string[] }> {
    delete this.get(groupId).before;
    return this.group(groupId);
  }
  async discardCommit(groupId: string): Promise<{ groupId: string; epoch: number; members: string[] }> {
    const g = this.get(groupId);
    if (g.before !== undefined) {
      g.epoch = g.before.epoch;
      g.members = g.before.members;
      delete g.before;
    }
    return this.group(groupId);
  }
  /** Someone else's commit (made with `FakeWorker.commitBytes`) for the epoch we are in (or before our pending one). */
  async processHandshake(groupId: string, message: Uint8Array): Promise<ReceiveResult> {
    await new Promise((r) => setTimeout(r, 5)); // the real worker writes the new state to the vault first
    const c = JSON.parse(fromUtf8(message)) as { epoch: number; members: string[] };
    const g = this.get(groupId);
    if (g.before !== undefined && c.epoch === g.before.epoch + 1) {
      delete g.before; // the winner replaces our pending commit
    } else if (c.epoch !== g.epoch + 1) {
      throw new Error("wrong epoch");
    }
    g.epoch = c.epoch;
    g.members = c.members;
    return { kind: "handshake", groupId, epoch: g.epoch, removed: !c.members.includes(this.credential) };
  }
  static commitBytes(epoch: number, members: string[]): string {
    return toBase64(utf8(JSON.stringify({ commit: "theirs", epoch, members })));
  }

  async encrypt(groupId: string, payload: OutgoingPayload): Promise<{ groupId: string; epoch: number; ciphertext: Uint8Array }> {
    this.encrypted += 1;
    const epoch = this.get(groupId).epoch;
    const sealed = { n: ++this.counter, epoch, payload: { ...payload, _v: 1, sender: this.credential } };
    return { groupId, epoch, ciphertext: utf8(JSON.stringify(sealed)) };
  }
  /** Another member's message as the worker would give it back (`FakeWorker.messageBytes`). */
  static messageBytes(sender: string, payload: Record<string, unknown>, epoch = 0): string {
    return toBase64(utf8(JSON.stringify({ n: Math.random(), epoch, payload: { _v: 1, text: "", ...payload, sender } })));
  }
  async decrypt(groupId: string, message: Uint8Array, messageId?: string): Promise<ReceiveResult> {
    const sealed = JSON.parse(fromUtf8(message)) as { epoch: number; payload: MessagePayload };
    if (sealed.payload.sender === this.credential) throw new Error("cannot decrypt own message"); // as in MLS
    if (sealed.epoch > this.get(groupId).epoch) throw new Error("message from an epoch not reached yet");
    this.decrypted.push(messageId ?? "");
    return { kind: "application", groupId, epoch: sealed.epoch, payload: sealed.payload };
  }
  async cachedMessage(): Promise<MessagePayload | undefined> {
    return undefined;
  }
  async forgetMessage(): Promise<void> {}
  async chatKeys(groupId: string): Promise<{ epoch: number; reactionKey: Uint8Array; groupNameKey: Uint8Array; signalingKey: Uint8Array; mediaFrameKey: Uint8Array }> {
    const key = new Uint8Array(32).fill(7);
    return { epoch: this.get(groupId).epoch, reactionKey: key, groupNameKey: key, signalingKey: key, mediaFrameKey: key };
  }
  async makeKeyPackages(count: number): Promise<Uint8Array[]> {
    return Array.from({ length: count }, () => utf8(this.credential));
  }
}

type Answer = SentAnswer | Error;

/** The server's /v1/ as the app layer uses it. */
export class FakeServer {
  /** Every send the server received, in order (retries included). */
  received: { chatId: string; body: SendBody }[] = [];
  /** Scripted answers for the next sends (then: stored, or forwarded for chats homed elsewhere). */
  script: Answer[] = [];
  /** Per chat, what the server stored (history), by client_message_id once each. */
  stored = new Map<string, WireMessage[]>();
  snapshots = new Map<string, ChatInfo>();
  /** Per user, their devices' credentials (a KeyPackage each, on claim). */
  devices = new Map<string, { id: number; credential: string }[]>();
  private byCmid = new Map<string, SentAnswer>();
  private nextId = 100;

  constructor(readonly domain: string) {}

  chat(chatId: string, members: string[], home?: string): ChatInfo {
    const info: ChatInfo = {
      id: chatId,
      kind: members.length > 2 ? "group" : "direct",
      encrypted_name: null,
      name_epoch: -1,
      epoch: 0,
      ttl_seconds: null,
      created: new Date(0).toISOString(),
      members: members.map((user, i) => ({ user, role: i === 0 ? "owner" : "member", joined: new Date(0).toISOString() })),
      role: "owner",
      favourite: false,
    };
    if (home !== undefined) info.home = home;
    this.snapshots.set(chatId, info);
    return info;
  }

  /** Stores a message as the server would and returns its frame. */
  store(chatId: string, kind: WireMessage["kind"], epoch: number, ciphertext: string): WireMessage {
    const list = this.stored.get(chatId) ?? [];
    const m: WireMessage = {
      id: this.nextId++,
      seq: list.length + 1,
      chat_id: chatId,
      kind,
      epoch,
      ciphertext,
      edited_at: null,
      deleted: false,
      expires_at: null,
      burn_on_read: false,
      created: new Date().toISOString(),
    };
    list.push(m);
    this.stored.set(chatId, list);
    return m;
  }

  readonly api = {
    send: async (chatId: string, body: SendBody): Promise<SentAnswer> => {
      this.received.push({ chatId, body: structuredClone(body) });
      const scripted = this.script.shift();
      if (scripted instanceof Error) throw scripted;
      if (scripted !== undefined) return scripted;
      const home = this.snapshots.get(chatId)?.home;
      if (home !== undefined && home !== this.domain) return { id: null, seq: null, forwarded: true };
      const known = this.byCmid.get(body.client_message_id);
      if (known !== undefined) return known; // once per client_message_id
      const m = this.store(chatId, body.kind, body.epoch, body.ciphertext);
      const answer = { id: m.id, seq: m.seq };
      this.byCmid.set(body.client_message_id, answer);
      return answer;
    },
    history: async (chatId: string): Promise<{ messages: WireMessage[] }> => ({ messages: [...(this.stored.get(chatId) ?? [])] }),
    chats: async (): Promise<ChatInfo[]> => [...this.snapshots.values()],
    chat: async (chatId: string): Promise<ChatInfo> => {
      const info = this.snapshots.get(chatId);
      if (info === undefined) throw new ApiError(404, "not_found", "No such chat.");
      return structuredClone(info);
    },
    addMembers: async (chatId: string, users: string[]): Promise<ChatInfo> => {
      const info = this.snapshots.get(chatId)!;
      for (const u of users) {
        const user = u.includes("@") ? u : `${u}@${this.domain}`;
        info.members.push({ user, role: "member", joined: new Date().toISOString() });
      }
      return structuredClone(info);
    },
    removeMember: async (chatId: string, user: string): Promise<void> => {
      const info = this.snapshots.get(chatId)!;
      info.members = info.members.filter((m) => m.user !== user);
    },
    setName: async (chatId: string): Promise<ChatInfo> => structuredClone(this.snapshots.get(chatId)!),
    claimKeyPackages: async (users: string[], deviceIds?: number[]) => {
      const out: Record<string, { device_id: number; client_device_id: string; keypackage: string | null }[]> = {};
      for (const u of users) {
        out[u] = (this.devices.get(u) ?? [])
          .filter((d) => deviceIds === undefined || deviceIds.includes(d.id))
          .map((d) => ({ device_id: d.id, client_device_id: d.credential.split(":")[1] ?? "", keypackage: toBase64(utf8(d.credential)) }));
      }
      return out;
    },
    devices: async () => [],
    uploadKeyPackages: async (): Promise<void> => {},
    // Profiles as apps/accounts keeps them: ciphertext and a version that must rise. The
    // fake knows who calls only through `profileCaller` (one user's app at a time).
    setProfile: async (version: number, ciphertext: string): Promise<ProfileAnswer> => {
      const user = this.profileCaller;
      const before = this.profiles.get(user);
      if (before !== undefined && before.version >= version) throw new ApiError(409, "stale_profile_version", `The profile is already at version ${before.version}.`);
      const answer = { user, version, ciphertext };
      this.profiles.set(user, answer);
      return structuredClone(answer);
    },
    profile: async (user: string): Promise<ProfileAnswer> => {
      const answer = this.profiles.get(user === "me" ? this.profileCaller : user);
      if (answer === undefined) throw new ApiError(404, "not_found", "This user has no profile here.");
      return structuredClone(answer);
    },
  };
  /** Encrypted profiles by user (see `api.setProfile`), and whose app is calling. */
  profiles = new Map<string, ProfileAnswer>();
  profileCaller = "";
}

export const networkDown = (): NetworkError => new NetworkError();

export interface TestApp extends AppModules {
  ctx: AppContext;
  store: AppStore;
  events: { kind: ChangeKind; chatId: string | undefined; text: string | undefined }[];
  hooks: AppHooks;
}

/** One device's app layer over `server` and `worker` (a new one over the same worker is a reload). */
export async function testApp(server: FakeServer, worker: FakeWorker, hooks: Partial<AppHooks> = {}): Promise<TestApp> {
  const mls = worker as unknown as Remote<MlsWorkerApi>;
  const store = new AppStore(mls);
  await store.load();
  const events: TestApp["events"] = [];
  const user = userOf(worker.credential);
  const ctx: AppContext = {
    api: server.api as unknown as Api,
    mls,
    store,
    credential: worker.credential,
    user,
    domain: user.split("@")[1] ?? "",
    lock: new TurnLock(),
    ownCiphertexts: new Set<string>(),
    emit: (kind, chatId, text) => events.push({ kind, chatId, text }),
  };
  const all: AppHooks = {
    online: () => true,
    recoverAuth: () => undefined,
    activeChat: () => null,
    visible: () => true,
    newChat: () => undefined,
    onCall: () => undefined,
    catchUpDelayMs: 0,
    homeWaitMs: 2000,
    ...hooks,
  };
  return { ...wireModules(ctx, all), ctx, store, events, hooks: all };
}

/** A joined chat this device holds (group created in the worker, snapshot on the server). */
export async function joinedChat(app: TestApp, server: FakeServer, worker: FakeWorker, chatId: string, members: string[], home?: string): Promise<void> {
  const info = server.chat(chatId, members, home);
  await worker.createGroup(chatId);
  const chat = await app.chats.merge(info);
  chat.joined = true;
  await app.store.saveChats();
}

export function payloadOf(ciphertext: string): { n: number; epoch: number; payload: MessagePayload } {
  return JSON.parse(fromUtf8(fromBase64(ciphertext))) as { n: number; epoch: number; payload: MessagePayload };
}

/** Lets timers and promise chains run (the outbox flushes in the background). */
export async function settleDown(ms = 20): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}
