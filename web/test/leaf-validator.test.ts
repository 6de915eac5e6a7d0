// Every member's MLS credential validator (src/mls/trust.ts checkLeaf, wired into the
// worker's client config in src/mls/service.ts): a leaf of a user whose identity key this
// client pinned is accepted only with a valid device certificate for that exact leaf. The
// test plays the malicious client/server by crafting MLS messages with the bare engine.
import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../src/crypto/encoding";
import { generateDeviceSecrets, type DeviceSecrets } from "../src/crypto/identity";
import { newRecoveryMnemonic } from "../src/crypto/recovery";
import { issueCertificate } from "../src/identity/certificate";
import { identityKeyFromPhrase, type UserIdentityKey } from "../src/identity/userKey";
import { leafRefusals } from "../src/mls/api";
import * as engine from "../src/mls/engine";
import { MlsService } from "../src/mls/service";
import { checkLeaf, readTrust, writeTrust } from "../src/mls/trust";
import { utf8 } from "../src/crypto/encoding";
import { Vault } from "../src/vault/vault";
import type { Remote } from "comlink";
import type { MlsWorkerApi } from "../src/mls/api";
import { AppStore, type ChatRecord } from "../src/app/store";
import { withCertifiedLeaves } from "../src/app/trust";

let n = 0;
const NOW = Math.floor(Date.now() / 1000);

function certify(key: UserIdentityKey, d: DeviceSecrets, expires = 0, user = d.user): Promise<Uint8Array> {
  return issueCertificate(key, { user, deviceId: d.deviceId, signatureKey: d.ed25519Public, x25519Key: d.x25519Public }, NOW - 60, expires);
}

const identity = (d: DeviceSecrets): string => `${d.user}:${d.deviceId}`;

describe("the leaf validator's refusals (checkLeaf)", () => {
  it("accepts only a certificate by the pinned key for this user, device and signature key, not expired", async () => {
    const vault = await Vault.create("correct horse battery", { dbName: `leaf-${++n}` });
    const bobKey = await identityKeyFromPhrase("bob@a.test", newRecoveryMnemonic());
    const carolKey = await identityKeyFromPhrase("carol@a.test", newRecoveryMnemonic());
    const operatorKey = await identityKeyFromPhrase("bob@a.test", newRecoveryMnemonic());
    const bob1 = await generateDeviceSecrets("bob@a.test", "bob-1");
    const bob2 = await generateDeviceSecrets("bob@a.test", "bob-2");
    const carol1 = await generateDeviceSecrets("carol@a.test", "carol-1");

    // Nothing pinned for bob yet (remote user, account from before identity keys, first contact): let through, unpinned.
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: true, certified: false });
    await writeTrust(vault, "pin", "bob@a.test", utf8(toBase64(bobKey.publicKey)));

    // Pinned, no certificate known for the device.
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "uncertified" });

    const put = (d: DeviceSecrets, cert: Uint8Array) => writeTrust(vault, "cert", identity(d), cert);
    await put(bob1, await certify(bobKey, bob1));
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: true, certified: true });
    // The certified device, but the leaf carries another signature key (the server's).
    expect(await checkLeaf(vault, identity(bob1), bob2.ed25519Public, NOW)).toEqual({ ok: false, reason: "key-mismatch" });

    // Wrong signer: a certificate made by a key the operator holds, not bob's pinned one.
    await put(bob1, await certify(operatorKey, bob1));
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "wrong-signer" });

    // Unknown device: bob's genuine certificate for another of his devices, served for this leaf.
    await put(bob1, await certify(bobKey, bob2));
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "unknown-device" });

    // Another user's key: carol's genuine certificate (carol's identity key) served as bob's.
    await put(bob1, await certify(carolKey, carol1));
    expect(await checkLeaf(vault, identity(bob1), carol1.ed25519Public, NOW)).toEqual({ ok: false, reason: "wrong-signer" });
    // ... and a certificate by bob's key that names another user.
    await put(bob1, await certify(bobKey, bob1, 0, "carol@a.test"));
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "other-user" });

    // Expired.
    await put(bob1, await certify(bobKey, bob1, NOW - 1));
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "expired" });
    const later = await certify(bobKey, bob1, NOW + 3600);
    await put(bob1, later);
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: true, certified: true });
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW + 3600)).toEqual({ ok: false, reason: "expired" });

    // Malformed: truncated, garbage, a flipped signature.
    await put(bob1, later.slice(0, later.length - 1));
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "malformed" });
    await put(bob1, new Uint8Array(200).fill(7));
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "malformed" });
    const flipped = later.slice();
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    await put(bob1, flipped);
    expect(await checkLeaf(vault, identity(bob1), bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "bad-signature" });

    // Not a user@domain:device identity at all.
    expect(await checkLeaf(vault, "bob@a.test", bob1.ed25519Public, NOW)).toEqual({ ok: false, reason: "bad-identity" });
    vault.lock();
  });
});

interface Honest {
  svc: MlsService;
  user: string;
  deviceId: string;
  identityKey: string;
  certificate: string;
}

async function honest(user: string, phrase = newRecoveryMnemonic()): Promise<Honest> {
  const svc = new MlsService();
  const deviceId = crypto.randomUUID();
  await svc.setupDevice({ password: "correct horse battery", user, deviceId, dbName: `leafsvc-${++n}` });
  const adopted = await svc.adoptIdentity(user, phrase);
  return { svc, user, deviceId, ...adopted };
}

/** A member whose client is modified: bare engine, shape-only validator, real certified keys. */
async function rogue(user: string) {
  const key = await identityKeyFromPhrase(user, newRecoveryMnemonic());
  const secrets = await generateDeviceSecrets(user, crypto.randomUUID());
  return { secrets, key, certificate: await certify(key, secrets), kp: await engine.generateKeyPackage(secrets) };
}

function directoryOf(...devices: Array<{ deviceId: string; certificate: string }>) {
  return { devices: devices.map((d) => ({ clientDeviceId: d.deviceId, certificate: d.certificate })) };
}

async function refusalOf(p: Promise<unknown>) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).not.toBeNull();
  return leafRefusals(err);
}

describe("every member refuses commits and Welcomes that bring in an uncertified leaf", () => {
  it("a commit crafted by a member's client to add a ghost device for bob is refused by alice and bob; the group keeps working", async () => {
    const alice = await honest("alice@a.test");
    const bob = await honest("bob@a.test");
    const carol = await rogue("carol@a.test");
    await alice.svc.createGroup("g1");
    const [bobKp] = await bob.svc.makeKeyPackages(1);
    expect(await alice.svc.checkDevice({ user: bob.user, clientDeviceId: bob.deviceId, identityKey: bob.identityKey, certificate: bob.certificate, keyPackage: bobKp! })).toMatchObject({ ok: true });
    expect(
      await alice.svc.checkDevice({
        user: "carol@a.test",
        clientDeviceId: carol.secrets.deviceId,
        identityKey: toBase64(carol.key.publicKey),
        certificate: toBase64(carol.certificate),
        keyPackage: carol.kp.encoded,
      }),
    ).toMatchObject({ ok: true });
    const add = await alice.svc.addMembers("g1", [bobKp!, carol.kp.encoded]);
    await alice.svc.confirmCommit("g1");
    await bob.svc.joinFromWelcome(add.welcome!);
    let carolState = (await engine.joinFromWelcome(add.welcome!, [carol.kp])).state;
    // Bob meets alice and carol through the Welcome: their certificates are checked and pinned.
    expect(await bob.svc.checkMembers("g1", alice.user, { identityKey: alice.identityKey, ...directoryOf(alice) })).toMatchObject({ ok: true });
    expect(
      await bob.svc.checkMembers("g1", "carol@a.test", {
        identityKey: toBase64(carol.key.publicKey),
        ...directoryOf({ deviceId: carol.secrets.deviceId, certificate: toBase64(carol.certificate) }),
      }),
    ).toMatchObject({ ok: true });
    const epoch = (await alice.svc.group("g1")).epoch;

    // Carol's modified client adds a device the operator made for bob (no certificate).
    const ghost = await engine.generateKeyPackage(await generateDeviceSecrets("bob@a.test", "ghost-device"));
    const crafted = await engine.addMembers(carolState, [ghost.encoded]);
    carolState = crafted.state;
    for (const member of [alice, bob]) {
      // The refusal names the member whose device committed it.
      const by = `carol@a.test:${carol.secrets.deviceId}`;
      expect(await refusalOf(member.svc.processHandshake("g1", crafted.commit))).toEqual([{ identity: "bob@a.test:ghost-device", reason: "uncertified", by }]);
      const group = await member.svc.group("g1");
      expect(group.epoch).toBe(epoch);
      expect(group.members).not.toContain("bob@a.test:ghost-device");
    }
    // Even alice's own client cannot be made to add it.
    expect(await refusalOf(alice.svc.addMembers("g1", [ghost.encoded]))).toEqual([{ identity: "bob@a.test:ghost-device", reason: "uncertified" }]);

    // The group keeps working: messages in the same epoch, then a valid commit, then more messages.
    const m1 = await alice.svc.encrypt("g1", { text: "still here" });
    expect(await bob.svc.decrypt("g1", m1.ciphertext)).toMatchObject({ kind: "application", payload: { text: "still here" } });
    const update = await bob.svc.selfUpdate("g1");
    expect(await alice.svc.processHandshake("g1", update.commit)).toMatchObject({ kind: "handshake", epoch: epoch + 1 });
    await bob.svc.confirmCommit("g1");
    const m2 = await alice.svc.encrypt("g1", { text: "after the update" });
    expect(await bob.svc.decrypt("g1", m2.ciphertext)).toMatchObject({ kind: "application", epoch: epoch + 1, payload: { text: "after the update" } });
  });

  it("a Welcome whose tree holds an uncertified leaf, or a certified device under a swapped key, is refused", async () => {
    const bob = await honest("bob@a.test");
    const carol = await rogue("carol@a.test");
    // Bob already knows carol (pinned, her certificate learned).
    const carolCert = { deviceId: carol.secrets.deviceId, certificate: toBase64(carol.certificate) };
    await bob.svc.checkDevice({ user: "carol@a.test", clientDeviceId: carol.secrets.deviceId, identityKey: toBase64(carol.key.publicKey), certificate: carolCert.certificate, keyPackage: carol.kp.encoded });

    // A ghost for bob in the tree.
    const [bobKp1] = await bob.svc.makeKeyPackages(1);
    const ghost = await engine.generateKeyPackage(await generateDeviceSecrets("bob@a.test", "ghost-device"));
    const g2 = await engine.createGroupState(utf8("g2"), carol.kp);
    const w2 = await engine.addMembers(g2, [ghost.encoded, bobKp1!]);
    expect(await refusalOf(bob.svc.joinFromWelcome(w2.welcome!))).toEqual([{ identity: "bob@a.test:ghost-device", reason: "uncertified" }]);
    expect(await bob.svc.listGroups()).not.toContain("g2");

    // Carol's device id, but keys the server made: her certificate names another signature key.
    const swapped = await generateDeviceSecrets("carol@a.test", carol.secrets.deviceId);
    const swappedKp = await engine.generateKeyPackage(swapped);
    const [bobKp2] = await bob.svc.makeKeyPackages(1);
    const g3 = await engine.createGroupState(utf8("g3"), swappedKp);
    const w3 = await engine.addMembers(g3, [bobKp2!]);
    expect(await refusalOf(bob.svc.joinFromWelcome(w3.welcome!))).toEqual([{ identity: `carol@a.test:${carol.secrets.deviceId}`, reason: "key-mismatch" }]);

    // The genuine carol's Welcome is taken.
    const [bobKp3] = await bob.svc.makeKeyPackages(1);
    const g4 = await engine.createGroupState(utf8("g4"), carol.kp);
    const w4 = await engine.addMembers(g4, [bobKp3!]);
    expect(await bob.svc.joinFromWelcome(w4.welcome!)).toMatchObject({ groupId: "g4" });
  });
});

describe("the app's commit path (withCertifiedLeaves) over the real worker", () => {
  it("fetches the certificates of a pinned user's new device and applies the commit; refuses a ghost with a forged certificate, says so in the chat, and the group keeps working", async () => {
    const alicePhrase = newRecoveryMnemonic();
    const alice1 = await honest("alice@a.test", alicePhrase);
    const alice2 = await honest("alice@a.test", alicePhrase);
    const bob = await honest("bob@a.test");
    const carol = await rogue("carol@a.test");
    await alice1.svc.createGroup("g");
    const [bobKp] = await bob.svc.makeKeyPackages(1);
    await alice1.svc.checkDevice({ user: bob.user, clientDeviceId: bob.deviceId, identityKey: bob.identityKey, certificate: bob.certificate, keyPackage: bobKp! });
    await alice1.svc.checkDevice({ user: "carol@a.test", clientDeviceId: carol.secrets.deviceId, identityKey: toBase64(carol.key.publicKey), certificate: toBase64(carol.certificate), keyPackage: carol.kp.encoded });
    const add = await alice1.svc.addMembers("g", [bobKp!, carol.kp.encoded]);
    await alice1.svc.confirmCommit("g");
    await bob.svc.joinFromWelcome(add.welcome!);
    let carolState = (await engine.joinFromWelcome(add.welcome!, [carol.kp])).state;
    // Bob pinned alice when only her first device was in the chat.
    await bob.svc.checkMembers("g", alice1.user, { identityKey: alice1.identityKey, ...directoryOf(alice1) });
    await bob.svc.checkMembers("g", "carol@a.test", { identityKey: toBase64(carol.key.publicKey), ...directoryOf({ deviceId: carol.secrets.deviceId, certificate: toBase64(carol.certificate) }) });

    // The server: alice's device list, plus whatever the operator adds to it.
    const aliceDevices = [alice1, alice2].map((d) => ({ client_device_id: d.deviceId, certificate: d.certificate as string | null }));
    const asked: string[] = [];
    const api = {
      certificatesOf: async (user: string) => {
        asked.push(user);
        return { user, identity_key: alice1.identityKey, devices: aliceDevices };
      },
    };
    const store = new AppStore(bob.svc as unknown as Remote<MlsWorkerApi>);
    store.chats.set("g", { id: "g", kind: "group", name: null, members: [], warnings: [] } as unknown as ChatRecord);
    const emitted: Array<[string, string | undefined, string | undefined]> = [];
    const ctx = { api, mls: bob.svc as unknown as Remote<MlsWorkerApi>, store, domain: "a.test", emit: (kind: string, chatId?: string, text?: string) => void emitted.push([kind, chatId, text]) };

    // Alice's second device (certified by her identity key) is added by her first one.
    const [alice2Kp] = await alice2.svc.makeKeyPackages(1);
    await alice1.svc.checkDevice({ user: alice2.user, clientDeviceId: alice2.deviceId, identityKey: alice2.identityKey, certificate: alice2.certificate, keyPackage: alice2Kp! });
    const addSibling = await alice1.svc.addMembers("g", [alice2Kp!]);
    await alice1.svc.confirmCommit("g");
    carolState = (await engine.receive(carolState, addSibling.commit)).state;
    const applied = await withCertifiedLeaves(ctx, "g", () => bob.svc.processHandshake("g", addSibling.commit));
    expect(applied).toMatchObject({ kind: "handshake", epoch: 2 });
    expect(asked).toEqual(["alice@a.test"]); // unknown certificate: fetched once, then applied
    expect((await bob.svc.group("g")).members).toContain(`alice@a.test:${alice2.deviceId}`);
    expect(store.chats.get("g")!.warnings).toEqual([]);

    // The operator lists a ghost for alice with a certificate made by its own key; carol's
    // modified client commits it.
    const ghostSecrets = await generateDeviceSecrets("alice@a.test", "ghost-device");
    const operatorKey = await identityKeyFromPhrase("alice@a.test", newRecoveryMnemonic());
    aliceDevices.push({ client_device_id: "ghost-device", certificate: toBase64(await certify(operatorKey, ghostSecrets)) });
    const crafted = await engine.addMembers(carolState, [(await engine.generateKeyPackage(ghostSecrets)).encoded]);
    expect(await withCertifiedLeaves(ctx, "g", () => bob.svc.processHandshake("g", crafted.commit))).toBeNull();
    expect(asked).toEqual(["alice@a.test", "alice@a.test"]);
    const text = "A change to this chat was refused: it brought in a device of alice that alice's identity key did not certify.";
    expect(store.chats.get("g")!.warnings).toEqual([text]);
    expect(emitted).toContainEqual(["refused", "g", text]);
    expect(await bob.svc.group("g")).toMatchObject({ epoch: 2 });
    expect((await bob.svc.group("g")).members).not.toContain("alice@a.test:ghost-device");

    // Still working: alice's next message and commit are processed by bob.
    const m = await alice1.svc.encrypt("g", { text: "hello after the refusal" });
    expect(await bob.svc.decrypt("g", m.ciphertext)).toMatchObject({ payload: { text: "hello after the refusal" } });
    const upd = await alice1.svc.selfUpdate("g");
    await alice1.svc.confirmCommit("g");
    expect(await withCertifiedLeaves(ctx, "g", () => bob.svc.processHandshake("g", upd.commit))).toMatchObject({ epoch: 3 });
  });
});

describe("trust rows on disk", () => {
  it("do not name the contact, and rows kept under the plain name by an older version move on first use", async () => {
    const vault = await Vault.create("correct horse battery", { dbName: `blind-${Math.random()}` });
    const key = utf8(toBase64(new Uint8Array(32).fill(7)));
    await writeTrust(vault, "pin", "carol@a.test", key);
    expect((await vault.keys("trust/")).join(" ")).not.toContain("carol");
    // an older vault: the pin under the address itself
    await vault.put("trust/pin/dave@a.test", key);
    expect(await readTrust(vault, "pin", "dave@a.test")).toEqual(key);
    expect((await vault.keys("trust/")).join(" ")).not.toContain("dave");
    expect(await readTrust(vault, "pin", "dave@a.test")).toEqual(key);
    expect(await readTrust(vault, "pin", "erin@a.test")).toBeUndefined();
  });
});
