// Scheduled key rotation (issue 20): Membership.rotateDue asks the real MLS worker whether a
// self-update is due (crypto/rotation.ts policy, the worker's clock injected and moved
// forward) and commits it through the app's normal commit path. The test is the server: it
// orders commits by epoch (409 stale_epoch to the loser of a race, as apps/messages does)
// and hands each commit to the other members' Membership.onCommit.
import "fake-indexeddb/auto";
import type { Remote } from "comlink";
import { describe, expect, it } from "vitest";
import { ApiError, type SendBody, type WireMessage } from "../src/api/client";
import { Membership } from "../src/app/membership";
import { TurnLock } from "../src/app/lock";
import { AppStore, type ChatRecord } from "../src/app/store";
import { fromBase64 } from "../src/crypto/encoding";
import { DEFAULT_ROTATION_POLICY } from "../src/crypto/rotation";
import type { MlsWorkerApi } from "../src/mls/api";
import { MlsService } from "../src/mls/service";

const DAY = 24 * 60 * 60 * 1000;
let n = 0;

/** The chat's ordering as the server does it: one commit per epoch, first come first served. */
class TestServer {
  epoch = 0;
  messages: WireMessage[] = [];
  onCommit: (m: WireMessage, from: string) => Promise<void> = async () => undefined;
  async send(chatId: string, body: SendBody, from: string) {
    if (body.kind === "commit" && body.epoch !== this.epoch) {
      throw new ApiError(409, "stale_epoch", `The chat is at epoch ${this.epoch}; process the newer commit and try again.`);
    }
    const seq = this.messages.length + 1;
    const m: WireMessage = {
      id: seq,
      seq,
      chat_id: chatId,
      kind: body.kind,
      epoch: body.epoch,
      ciphertext: body.ciphertext,
      edited_at: null,
      deleted: false,
      expires_at: null,
      burn_on_read: false,
      created: new Date().toISOString(),
    };
    this.messages.push(m);
    if (body.kind === "commit") {
      this.epoch += 1;
      await this.onCommit(m, from);
    }
    return { id: m.id, seq };
  }
}

interface Member {
  user: string;
  svc: MlsService;
  store: AppStore;
  membership: Membership;
  credential: string;
}

async function member(user: string, clock: { now: number }, server: TestServer, policy = DEFAULT_ROTATION_POLICY): Promise<Member> {
  const svc = new MlsService({ now: () => clock.now, policy });
  const deviceId = crypto.randomUUID();
  await svc.setupDevice({ password: "correct horse battery", user, deviceId, dbName: `rot-${++n}` });
  const mls = svc as unknown as Remote<MlsWorkerApi>;
  const store = new AppStore(mls);
  const credential = `${user}:${deviceId}`;
  const api = {
    send: (chatId: string, body: SendBody) => server.send(chatId, body, credential),
    history: async () => ({ messages: [...server.messages].reverse() }),
  };
  const ctx = { store, user, domain: "a.test", lock: new TurnLock(), ownCiphertexts: new Set<string>(), emit: () => undefined, api, mls };
  const membership = new Membership({
    ctx: ctx as unknown as ConstructorParameters<typeof Membership>[0]["ctx"],
    chats: {
      merge: async () => {
        throw new Error("not used");
      },
      refresh: async () => undefined,
      sealName: async () => undefined,
      homedElsewhere: () => false,
    },
    commitSettled: () => undefined,
    catchUpDelayMs: 0,
  });
  return { user, svc, store, membership, credential };
}

function chatRecord(id: string): ChatRecord {
  return { id, kind: "group", name: null, nameEpoch: 0, members: [], role: "member", favourite: false, unread: 0, lastText: "", lastAt: 0, ttlSeconds: null, joined: true, removed: false };
}

/** Alice, Bob and Carol in one group (made directly with the workers), each with the chat record. */
async function threeMembers(policy = DEFAULT_ROTATION_POLICY) {
  const clock = { now: Date.UTC(2026, 11, 4, 9, 0, 0) };
  const server = new TestServer();
  const alice = await member("alice@a.test", clock, server, policy);
  const bob = await member("bob@a.test", clock, server, policy);
  const carol = await member("carol@a.test", clock, server, policy);
  await alice.svc.createGroup("g");
  const kps = [...(await bob.svc.makeKeyPackages(1)), ...(await carol.svc.makeKeyPackages(1))];
  const add = await alice.svc.addMembers("g", kps);
  await alice.svc.confirmCommit("g");
  await bob.svc.joinFromWelcome(add.welcome!);
  await carol.svc.joinFromWelcome(add.welcome!);
  server.epoch = 1;
  const all = [alice, bob, carol];
  for (const m of all) m.store.chats.set("g", chatRecord("g"));
  // Delivery: every commit the server ordered reaches the other members' inbound path.
  server.onCommit = async (m, from) => {
    for (const other of all) {
      if (other.credential !== from) await other.membership.onCommit(other.store.chats.get("g")!, m);
    }
  };
  return { clock, server, alice, bob, carol, all };
}

async function readsEverywhere(sender: Member, others: Member[], text: string): Promise<void> {
  const out = await sender.svc.encrypt("g", { text });
  for (const o of others) expect(await o.svc.decrypt("g", out.ciphertext)).toMatchObject({ payload: { text } });
}

describe("scheduled self-updates (Membership.rotateDue)", () => {
  it("nothing is due before the policy's time; after it, each member's leaf changes and messages still decrypt", async () => {
    const { clock, server, alice, bob, carol, all } = await threeMembers();
    const before = await alice.svc.leafKeys("g");
    clock.now += DEFAULT_ROTATION_POLICY.selfUpdateAfterMs - 60_000;
    for (const m of all) expect(await m.membership.rotateDue()).toBe(0);
    expect(server.epoch).toBe(1);

    clock.now += 60_000;
    for (const m of all) expect(await m.svc.rotationDue("g")).toBe(true);
    let epoch = 1;
    for (const m of all) {
      expect(await m.membership.rotateDue()).toBe(1);
      epoch += 1;
      for (const o of all) expect((await o.svc.group("g")).epoch).toBe(epoch);
      // Done for this device: its clock restarted; the others' own self-updates are still owed.
      expect(await m.svc.rotationDue("g")).toBe(false);
      expect(await m.membership.rotateDue()).toBe(0);
      await readsEverywhere(m, all.filter((o) => o !== m), `after ${m.user}'s self-update`);
    }
    const after = await carol.svc.leafKeys("g");
    for (const m of all) {
      expect(after[m.credential]).toBeDefined();
      expect(after[m.credential]).not.toBe(before[m.credential]);
      expect(await m.svc.leafKeys("g")).toEqual(after); // every member sees the same tree
    }
    expect(server.messages.filter((m) => m.kind === "commit")).toHaveLength(3);
    await readsEverywhere(bob, [alice, carol], "all rotated");
  });

  it("two members due at once: the server orders one, the other catches up on it and commits its own after", async () => {
    const { clock, server, alice, bob, carol, all } = await threeMembers();
    clock.now += DEFAULT_ROTATION_POLICY.selfUpdateAfterMs;
    // No delivery during the race: each member learns of the winner only by catching up.
    const deliver = server.onCommit;
    server.onCommit = async () => undefined;
    const results = await Promise.all([bob.membership.rotateDue(), carol.membership.rotateDue()]);
    server.onCommit = deliver;
    expect(results).toEqual([1, 1]);
    expect(server.epoch).toBe(3);
    // Then the stream brings every member the ordered commits (its own and those it already caught up on are skipped).
    for (const m of server.messages) {
      for (const o of all) await o.membership.onCommit(o.store.chats.get("g")!, m);
    }
    for (const m of all) expect((await m.svc.group("g")).epoch).toBe(3);
    expect(await bob.svc.rotationDue("g")).toBe(false);
    expect(await carol.svc.rotationDue("g")).toBe(false);
    await readsEverywhere(alice, [bob, carol], "after the race");
    await readsEverywhere(carol, [alice, bob], "and back");
  });

  it("the message count also makes a self-update due (a policy of 3 messages here)", async () => {
    const { server, alice, bob, carol, all } = await threeMembers({ ...DEFAULT_ROTATION_POLICY, selfUpdateAfterMessages: 3 });
    for (const text of ["one", "two"]) await readsEverywhere(alice, [bob, carol], text);
    for (const m of all) expect(await m.membership.rotateDue()).toBe(0);
    await readsEverywhere(alice, [bob, carol], "three");
    expect(await alice.membership.rotateDue(["g"])).toBe(1);
    expect(server.epoch).toBe(2);
    await readsEverywhere(bob, [alice, carol], "after alice's self-update");
    // Bob and carol had counted the same messages (and bob one more since): theirs follow.
    expect(await bob.membership.rotateDue()).toBe(1);
    expect(await carol.membership.rotateDue()).toBe(1);
    expect(server.epoch).toBe(4);
    for (const m of all) expect((await m.svc.group("g")).epoch).toBe(4);
    await readsEverywhere(carol, [alice, bob], "still readable");
  });

  it("the worker keeps the page's clock (setClock): moved forward, its self-update falls due and resets by that clock", async () => {
    const real = { now: Date.UTC(2026, 11, 4, 9, 0, 0) };
    const server = new TestServer();
    const alice = await member("alice@a.test", real, server);
    await alice.svc.createGroup("g");
    expect(await alice.svc.rotationDue("g")).toBe(false);
    await alice.svc.setClock(real.now + 8 * DAY); // the page's clock (a test moved it)
    expect(await alice.svc.rotationDue("g")).toBe(true);
    await alice.svc.selfUpdate("g");
    await alice.svc.confirmCommit("g");
    expect(await alice.svc.rotationDue("g")).toBe(false); // reset at the page's time, not the worker's own
    await alice.svc.setClock(real.now + 8 * DAY + DEFAULT_ROTATION_POLICY.selfUpdateAfterMs);
    expect(await alice.svc.rotationDue("g")).toBe(true);
  });
});
