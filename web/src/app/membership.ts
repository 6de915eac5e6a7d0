// Membership and commits: who is in each chat's MLS group. Our commits (adds, removals,
// device changes) go out one at a time under the turn lock; a lost race (409) is caught
// up on and asked again. In a chat homed on another instance our commit stays pending
// (`ChatRecord.pendingCommit`) until the home orders or refuses it, and member changes we
// asked the home for are remembered (`pendingAdds` / `pendingRemoves`, sealed with the
// chat) until our commit for them is in — across reloads.
import type { Remote } from "comlink";
import { ApiError, type Api, type SentAnswer, type WireMessage } from "../api/client";
import { fromBase64, toBase64 } from "../crypto/encoding";
import type { LeafRefusal, MlsWorkerApi, ReceiveResult } from "../mls/api";
import { newId, sleep, type AppContext } from "./context";
import { admitDevice, withCertifiedLeaves } from "./trust";
import { mlsEpochOf, serverEpoch, voidRefusedCommit } from "./refusedCommits";
import { displayName, userOf } from "./format";
import type { ChatRecord } from "./store";

/** How long a commit waits for the home's answer before its caller goes on (the answer still settles it). */
export const HOME_COMMIT_WAIT_MS = 60_000;

/** What the chat's home did with one of our forwarded commits. */
export type HomeOutcome = { kind: "ordered" } | { kind: "rejected"; code: string; message: string } | { kind: "waiting" };

/** One of our commits as the worker made it (null: nothing left to do). */
export type MadeCommit = { epoch: number; commit: Uint8Array; welcome?: Uint8Array } | null;

type MembershipApi = Pick<Api, "send" | "history" | "claimKeyPackages" | "createChat" | "addMembers" | "removeMember" | "certificatesOf">;
type MembershipMls = Pick<
  Remote<MlsWorkerApi>,
  | "group"
  | "createGroup"
  | "addMembers"
  | "removeMembers"
  | "confirmCommit"
  | "discardCommit"
  | "processHandshake"
  | "checkDevice"
  | "learnCertificates"
  | "listGroups"
  | "rotationDue"
  | "selfUpdate"
>;

export interface MembershipDeps {
  readonly ctx: Pick<AppContext, "store" | "user" | "domain" | "lock" | "ownCiphertexts" | "emit"> & {
    readonly api: MembershipApi;
    readonly mls: MembershipMls;
  };
  readonly chats: {
    merge(info: Awaited<ReturnType<Api["chat"]>>): Promise<ChatRecord>;
    refresh(chatId: string): Promise<void>;
    sealName(chatId: string, name: string): Promise<void>;
    homedElsewhere(chat: ChatRecord): boolean;
  };
  /** Our pending commit is settled: messages held back in its chat may go. */
  commitSettled(): void;
  /** Milliseconds to wait before looking for a commit that beat ours (its frame may be on its way). */
  catchUpDelayMs?: number;
  homeWaitMs?: number;
}

export class Membership {
  /** Commits of ours waiting for the chat's home to order or refuse them, by client_message_id. */
  private commitWaiters = new Map<string, (outcome: HomeOutcome) => void>();
  /** Per chat: who waits for its pending commit to be settled (before committing again). */
  private settleWaiters = new Map<string, (() => void)[]>();

  /** A scheduled-rotation pass is running (rotateDue). */
  private rotating = false;

  constructor(private readonly deps: MembershipDeps) {}

  private get ctx(): MembershipDeps["ctx"] {
    return this.deps.ctx;
  }

  private get homeWaitMs(): number {
    return this.deps.homeWaitMs ?? HOME_COMMIT_WAIT_MS;
  }

  // ---- creating chats and changing members -------------------------------------------

  /** Opens (or creates) the direct chat with `username`. */
  async startDirect(username: string): Promise<string> {
    const id = newId();
    const info = await this.ctx.api.createChat({ id, kind: "direct", members: [username.trim()] });
    if (info.id !== id) {
      await this.deps.chats.merge(info);
      await this.ctx.store.saveChats();
      this.ctx.emit("chats");
      return info.id;
    }
    await this.ctx.lock.run(async () => {
      await this.ctx.mls.createGroup(id);
      const chat = await this.deps.chats.merge(info);
      chat.joined = true;
      await this.ctx.store.saveChats();
      await this.addDevices(id, info.members.map((m) => m.user));
    });
    this.ctx.emit("chats");
    return id;
  }

  async createGroup(kind: "group" | "channel", name: string, members: string[]): Promise<string> {
    const id = newId();
    const info = await this.ctx.api.createChat({ id, kind, members: members.map((m) => m.trim()).filter((m) => m !== "") });
    await this.ctx.lock.run(async () => {
      await this.ctx.mls.createGroup(id);
      const chat = await this.deps.chats.merge(info);
      chat.joined = true;
      chat.name = name;
      await this.ctx.store.saveChats();
      await this.addDevices(id, info.members.map((m) => m.user));
      await this.deps.chats.sealName(id, name);
      await this.ctx.store.saveChats();
    });
    this.ctx.emit("chats");
    return id;
  }

  async addMember(chatId: string, username: string, role: string): Promise<void> {
    const { store, api, mls } = this.ctx;
    const address = username.trim();
    const known = store.chats.get(chatId);
    const user = address.includes("@") ? address : `${address}@${this.ctx.domain}`;
    const info = await api.addMembers(chatId, [address], role);
    if (known !== undefined) {
      // Their devices join the group with our commit; until it is in, this is remembered
      // (a tab closed or a link lost in between does it on its next start).
      known.pendingAdds = [...new Set([...(known.pendingAdds ?? []), user])];
      await store.saveChats();
    }
    if (known !== undefined && this.deps.chats.homedElsewhere(known)) {
      // 202: the home applies it and sends the new member list (a `chat` event, which may
      // already have come: the answer's list is older); their devices join the group once
      // the list names them (applyPending).
      await this.deps.chats.refresh(chatId);
      await this.applyPending(chatId);
      return;
    }
    await this.deps.chats.merge(info);
    const before = new Set((await mls.group(chatId)).members.map(userOf));
    const added = info.members.map((m) => m.user).filter((u) => !before.has(u));
    await this.ctx.lock.run(async () => {
      if (added.length > 0) await this.addDevices(chatId, added, false);
      const chat = store.chats.get(chatId);
      if (chat?.name) await this.deps.chats.sealName(chatId, chat.name);
    });
    const chat = store.chats.get(chatId);
    if (chat !== undefined) chat.pendingAdds = (chat.pendingAdds ?? []).filter((u) => u !== user && !added.includes(u));
    await store.saveChats();
    this.ctx.emit("chats");
  }

  async removeMember(chatId: string, user: string): Promise<void> {
    const { store, api, mls } = this.ctx;
    await api.removeMember(chatId, user);
    const known = store.chats.get(chatId);
    if (known !== undefined && this.deps.chats.homedElsewhere(known) && user !== this.ctx.user) {
      // 202: the home removes them and sends the new list (a `chat` event); their leaves
      // leave the group when that list no longer names them (applyPending).
      known.pendingRemoves = [...new Set([...(known.pendingRemoves ?? []), user])];
      await store.saveChats();
      await this.deps.chats.refresh(chatId);
      await this.applyPending(chatId);
      return;
    }
    if (user === this.ctx.user) {
      // Leaving: an owner's or admin's device takes our leaves out of the group with a
      // commit (applyPending → departed); our group state is of no more use here.
      const chat = store.chats.get(chatId);
      if (chat !== undefined) {
        chat.removed = true;
        chat.joined = false;
      }
      await store.saveChats();
      this.ctx.emit("chats");
      return;
    }
    await this.ctx.lock.run(async () => {
      const group = await mls.group(chatId);
      const leaves = group.members.filter((m) => userOf(m) === user);
      if (leaves.length > 0) {
        await this.commit(chatId, () => mls.removeMembers(chatId, leaves), undefined);
      }
      const chat = store.chats.get(chatId);
      if (chat?.name) await this.deps.chats.sealName(chatId, chat.name);
    });
    await this.deps.chats.refresh(chatId);
  }

  /**
   * People who left (or were removed by someone else) but whose leaves are still in our
   * group: the server's member list no longer names them. Owners and admins take them out
   * with a commit, so the leaver's devices cannot read what is sent afterwards. Nobody is
   * counted as gone while our own list does not name us (a stale or empty snapshot).
   */
  private departed(chat: ChatRecord, groupMembers: string[]): string[] {
    const me = this.ctx.user;
    const manager = chat.role === "owner" || chat.role === "admin";
    if (chat.kind === "direct" || !manager || chat.removed === true || !chat.members.some((m) => m.user === me)) return [];
    return groupMembers.filter((m) => !chat.members.some((c) => c.user === userOf(m)));
  }

  /**
   * Member changes the home applied at our request (its snapshot arrived, or this is a
   * new start): the added people's devices join the MLS group, the removed people's
   * leaves leave it. The request is forgotten only once that commit is in. Leaves of
   * people who left on their own go too (`departed`).
   */
  async applyPending(chatId: string): Promise<void> {
    const { store, mls } = this.ctx;
    const chat = store.chats.get(chatId);
    if (chat === undefined || !chat.joined) return;
    const isMember = (u: string): boolean => chat.members.some((m) => m.user === u);
    const added = (chat.pendingAdds ?? []).filter(isMember);
    const removed = (chat.pendingRemoves ?? []).filter((u) => !isMember(u));
    const gone = this.departed(chat, (await mls.group(chatId)).members);
    if (added.length === 0 && removed.length === 0 && gone.length === 0) return;
    await this.ctx.lock.run(async () => {
      const group = await mls.group(chatId);
      const inGroup = new Set(group.members.map(userOf));
      const toAdd = added.filter((u) => !inGroup.has(u));
      if (toAdd.length > 0) await this.addDevices(chatId, toAdd, false);
      const stillThere = async (): Promise<string[]> => {
        const now = (await mls.group(chatId)).members;
        const departed = new Set(this.departed(chat, now));
        return now.filter((m) => removed.includes(userOf(m)) || departed.has(m));
      };
      const leaves = await stillThere();
      // Asked again on each try: another manager's commit may have taken them out first.
      if (leaves.length > 0)
        await this.commit(
          chatId,
          async () => {
            const left = await stillThere();
            return left.length > 0 ? mls.removeMembers(chatId, left) : null;
          },
          undefined,
        );
      // The name is re-sealed for the new epoch, as after any of our commits.
      if (chat.name && (toAdd.length > 0 || leaves.length > 0)) await this.deps.chats.sealName(chatId, chat.name);
    });
    // Only now: a tab closed (or a link lost) before the commit went in does it again on
    // its next start (resumePending).
    chat.pendingAdds = (chat.pendingAdds ?? []).filter((u) => !added.includes(u));
    chat.pendingRemoves = (chat.pendingRemoves ?? []).filter((u) => !removed.includes(u));
    await store.saveChats();
  }

  /** Member changes of ours whose commit never went in (the tab closed, the link dropped). */
  resumePending(): void {
    for (const chat of this.ctx.store.chats.values()) {
      const manager = chat.kind !== "direct" && (chat.role === "owner" || chat.role === "admin");
      if (!manager && (chat.pendingAdds ?? []).length === 0 && (chat.pendingRemoves ?? []).length === 0) continue;
      void this.applyPending(chat.id).catch((err: unknown) => console.warn("talkee: member change not applied to the group", err));
    }
  }

  /** Claims one KeyPackage per device of these users and adds them with a commit + Welcome. Under the lock. */
  async addDevices(chatId: string, users: string[], withOwnDevices = true): Promise<void> {
    const { store, api, mls } = this.ctx;
    const me = this.ctx.user;
    const wanted = [...new Set(withOwnDevices ? [...users, me] : users.filter((u) => u !== me))];
    const claimed = await api.claimKeyPackages(wanted);
    const deviceIds: number[] = [];
    const packages: Uint8Array[] = [];
    const missing: string[] = [];
    for (const [user, devices] of Object.entries(claimed)) {
      let any = false;
      for (const d of devices) {
        if (d.device_id === store.session?.deviceId) continue;
        if ((await admitDevice(this.ctx, chatId, user, d)) !== true) continue; // no valid certificate: never added
        if (d.keypackage === null) continue;
        deviceIds.push(d.device_id);
        packages.push(fromBase64(d.keypackage));
        any = true;
      }
      if (!any && user !== me) missing.push(displayName(user, this.ctx.domain));
    }
    if (packages.length > 0) {
      await this.commit(chatId, () => mls.addMembers(chatId, packages), deviceIds);
    }
    if (missing.length > 0) {
      throw new Error(`${missing.join(", ")} has no device ready to receive messages yet.`);
    }
  }

  // ---- our commits -------------------------------------------------------------------

  /** Edits and reactions are sealed in the current epoch: not while the home may still refuse our commit. */
  checkEpochSettled(chatId: string): void {
    if (this.ctx.store.chats.get(chatId)?.pendingCommit !== undefined) {
      throw new ApiError(409, "commit_pending", "This chat's encryption keys are being renewed. Try again in a moment.");
    }
  }

  /**
   * Posts one of our commits (under the lock); on 409 (another commit won the epoch) drops
   * ours, catches up and asks `make` again, which answers null when the winner already
   * did the job. True when our commit went in.
   */
  async commit(chatId: string, make: () => Promise<MadeCommit>, welcomeDevices: number[] | undefined): Promise<boolean> {
    const { store, api, mls } = this.ctx;
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.settledCommit(chatId); // one of ours still awaits the home: it goes first
      const result = await make();
      if (result === null) return false;
      const ciphertext = toBase64(result.commit);
      this.ctx.ownCiphertexts.add(ciphertext);
      const cmid = newId();
      const epoch = serverEpoch(store.chats.get(chatId), result.epoch - 1);
      const body: Parameters<Api["send"]>[1] = { client_message_id: cmid, kind: "commit", epoch, ciphertext };
      if (welcomeDevices !== undefined && result.welcome !== undefined) {
        body.welcome = { device_ids: welcomeDevices, payload: toBase64(result.welcome) };
      }
      const chat = store.chats.get(chatId);
      // Recorded before it goes out: after a reload the home's echo is still recognised.
      if (chat !== undefined) {
        chat.pendingCommit = { cmid, ciphertext };
        await store.saveChats();
      }
      let sent: SentAnswer;
      try {
        sent = await api.send(chatId, body);
      } catch (err) {
        await this.clearPendingCommit(chatId);
        await mls.discardCommit(chatId);
        if (!(err instanceof ApiError && err.code === "stale_epoch")) throw err;
        console.info("talkee: another commit won the epoch; catching up", chatId);
        await this.catchUp(chatId);
        continue;
      }
      if (sent.forwarded !== true && sent.id !== null) {
        await this.clearPendingCommit(chatId);
        await mls.confirmCommit(chatId);
        return true;
      }
      // Homed elsewhere (202): our instance only queued it. The new epoch stays pending
      // until the home's ordered echo comes back (onCommit confirms it) or the home refuses
      // it (settle discards it) — both frames, so the lock is let go meanwhile.
      const outcome = await this.homeAnswer(chatId, cmid);
      if (outcome.kind !== "rejected") return true;
      if (outcome.code !== "stale_epoch") throw new ApiError(409, outcome.code || "rejected", outcome.message || "The chat's home server refused this change.");
      console.info("talkee: the home ordered another commit first; catching up", chatId);
      await this.catchUp(chatId);
    }
    throw new Error("The group changed too often; try again.");
  }

  /** Waits (without the lock) for the home's answer to our forwarded commit `cmid`. */
  private async homeAnswer(chatId: string, cmid: string): Promise<HomeOutcome> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answer = new Promise<HomeOutcome>((resolve) => {
      this.commitWaiters.set(cmid, resolve);
      timer = globalThis.setTimeout(() => resolve({ kind: "waiting" }), this.homeWaitMs);
    });
    try {
      const outcome = await this.ctx.lock.releasedUntil(answer);
      if (outcome.kind === "waiting") console.warn("talkee: no answer from the chat's home yet; the commit stays pending", chatId);
      return outcome;
    } finally {
      globalThis.clearTimeout(timer);
      this.commitWaiters.delete(cmid);
    }
  }

  /** Until our pending commit in the chat (if any) is settled by the home; without the lock meanwhile. */
  private async settledCommit(chatId: string): Promise<void> {
    for (let round = 0; round < 3 && this.ctx.store.chats.get(chatId)?.pendingCommit !== undefined; round++) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await this.ctx.lock.releasedUntil(
        new Promise<void>((resolve) => {
          this.settleWaiters.set(chatId, [...(this.settleWaiters.get(chatId) ?? []), resolve]);
          timer = globalThis.setTimeout(resolve, this.homeWaitMs);
        }),
      );
      globalThis.clearTimeout(timer);
    }
  }

  private async clearPendingCommit(chatId: string): Promise<void> {
    const chat = this.ctx.store.chats.get(chatId);
    if (chat?.pendingCommit === undefined) return;
    delete chat.pendingCommit;
    await this.ctx.store.saveChats();
    for (const resolve of this.settleWaiters.get(chatId) ?? []) resolve();
    this.settleWaiters.delete(chatId);
    this.deps.commitSettled(); // messages held back while the epoch was open
  }

  /**
   * The home answered our forwarded commit (under the lock, from a frame): ordered — the
   * new epoch is ours for good; refused — back to the epoch before it (unless the winning
   * commit, processed just before, already did that). Whoever waits is told; with nobody
   * waiting (a reload, or it waited too long) a refused commit is only caught up on: what
   * it was for (a device, a member) is tried again by its own bookkeeping.
   */
  async settle(chat: ChatRecord, outcome: HomeOutcome): Promise<void> {
    const pending = chat.pendingCommit;
    if (pending === undefined) return;
    await this.clearPendingCommit(chat.id);
    if (outcome.kind === "ordered") {
      await this.ctx.mls.confirmCommit(chat.id);
    } else {
      await this.ctx.mls.discardCommit(chat.id).catch(() => undefined); // already dropped for the winner
    }
    const waiter = this.commitWaiters.get(pending.cmid);
    if (waiter !== undefined) waiter(outcome);
    else if (outcome.kind === "rejected") await this.catchUp(chat.id);
  }

  /** `send_rejected` naming our pending commit in the chat: settled as refused; false if it is not one. */
  async rejected(chatId: string, cmid: unknown, code: string, message: string): Promise<boolean> {
    const chat = this.ctx.store.chats.get(chatId);
    if (chat?.pendingCommit === undefined || chat.pendingCommit.cmid !== cmid) return false;
    await this.settle(chat, { kind: "rejected", code, message });
    return true;
  }

  /**
   * Scheduled key rotation: in each chat whose group this device holds (or only `chatIds`),
   * a self-update commit (fresh leaf and path secrets) once the worker says it is due
   * (`rotationDue`: 7 days or 1,000 messages since this device's last commit there,
   * `crypto/rotation.ts`). Made through `commit` under the lock, so it is ordered and
   * delivered like any commit; a race lost to another member's commit is caught up and the
   * check made again (`make` asks the worker once more: a self-update is still owed, since
   * only our own commit resets our clock). One pass at a time on this device; a pass that
   * fails (offline, refused) leaves the group as it was and the next pass tries again.
   * Returns how many self-updates were committed.
   */
  async rotateDue(chatIds?: string[]): Promise<number> {
    if (this.rotating) return 0;
    this.rotating = true;
    let done = 0;
    try {
      const { store, mls } = this.ctx;
      const held = new Set(await mls.listGroups());
      const chats = [...store.chats.values()].filter(
        (c) => held.has(c.id) && c.joined && c.removed !== true && (chatIds === undefined || chatIds.includes(c.id)),
      );
      for (const chat of chats) {
        try {
          if (!(await mls.rotationDue(chat.id))) continue;
          const made = await this.ctx.lock.run(() =>
            this.commit(chat.id, async () => ((await mls.rotationDue(chat.id)) ? mls.selfUpdate(chat.id) : null), undefined),
          );
          if (made) {
            done++;
            console.info("talkee: scheduled self-update committed", chat.id);
          }
        } catch (err) {
          console.warn("talkee: scheduled self-update not made", chat.id, err);
        }
      }
    } finally {
      this.rotating = false;
    }
    return done;
  }

  /** Processes commits we have not seen yet (after losing a commit race). */
  async catchUp(chatId: string): Promise<void> {
    await sleep(this.deps.catchUpDelayMs ?? 200);
    const page = await this.ctx.api.history(chatId, null, 200);
    for (const m of page.messages) {
      const chat = this.ctx.store.chats.get(chatId); // (onCommit skips what is not for our epoch)
      if (m.kind === "commit" && chat !== undefined && !this.ctx.ownCiphertexts.has(m.ciphertext ?? "")) await this.onCommit(chat, m);
    }
  }

  /** A commit frame (under the lock): our pending one ordered, our own echo, or someone's to apply. */
  async onCommit(chat: ChatRecord, m: WireMessage): Promise<void> {
    if (m.ciphertext === null) return;
    if (chat.pendingCommit?.ciphertext === m.ciphertext) return this.settle(chat, { kind: "ordered" });
    if (this.ctx.ownCiphertexts.has(m.ciphertext)) return;
    const group = await this.ctx.mls.group(chat.id);
    // With a commit of ours pending, the group is one epoch ahead: a commit of the epoch
    // before won it at the home (the worker drops ours and applies that one).
    const floor = chat.pendingCommit !== undefined ? group.epoch - 1 : group.epoch;
    if (mlsEpochOf(chat, m.epoch) < floor) return; // before we joined, or already applied
    let refused: LeafRefusal[] | null = null;
    try {
      // A commit bringing in (or changing) a leaf without a valid device certificate is
      // refused here as on every member: nothing applied, the chat says so, the group
      // stays in its epoch and later commits and messages are processed as usual.
      const bytes = fromBase64(m.ciphertext);
      const step = () => this.ctx.mls.processHandshake(chat.id, bytes);
      const result = await withCertifiedLeaves<ReceiveResult>(this.ctx, chat.id, step, (r) => (refused = r));
      if (result !== null && result.kind === "handshake" && result.removed) {
        chat.removed = true;
        chat.joined = false;
      }
    } catch (err) {
      console.warn("talkee: commit not applied", err);
    }
    if (refused !== null) await voidRefusedCommit(this.ctx, chat, m.epoch, refused, (make) => this.commit(chat.id, make, undefined));
    await this.deps.chats.refresh(chat.id).catch(() => undefined);
  }
}
