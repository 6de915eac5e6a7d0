// The worker's service logic in Node (fake-indexeddb stands in for the
// browser's IndexedDB; Playwright runs the same code in a real worker).
import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import { utf8 } from "../src/crypto/encoding";
import { verifyChallenge } from "../src/crypto/identity";
import { sealForDevice } from "../src/crypto/sealedBox";
import { fromBase64 } from "../src/crypto/encoding";
import { DEFAULT_ROTATION_POLICY } from "../src/crypto/rotation";
import { EpochExpiredError, MlsService, PendingCommitError, SenderMismatchError } from "../src/mls/service";
import { generateDeviceSecrets } from "../src/crypto/identity";
import { encodePayload } from "../src/crypto/payload";
import * as engine from "../src/mls/engine";
import { Vault } from "../src/vault/vault";

let n = 0;
async function device(user: string, options: ConstructorParameters<typeof MlsService>[0] = {}) {
  const dbName = `svc-${++n}`;
  const svc = new MlsService(options);
  const id = await svc.setupDevice({ password: "pw-" + user, user, deviceId: `dev${n}`, dbName });
  return { svc, id, dbName, password: "pw-" + user };
}

describe("MLS worker service", () => {
  it("keeps private keys inside: identity, challenge signature, sealed bundles", async () => {
    const a = await device("alice@example.org");
    expect(Object.keys(a.id).sort()).toEqual(["credential", "deviceId", "ed25519Pub", "user", "x25519Pub"]);
    expect(fromBase64(a.id.ed25519Pub).length).toBe(32);
    const sig = await a.svc.signChallenge("nonce-123");
    expect(await verifyChallenge(a.id.ed25519Pub, "nonce-123", sig)).toBe(true);
    expect(await verifyChallenge(a.id.ed25519Pub, "nonce-124", sig)).toBe(false);
    const sealed = await sealForDevice(utf8("history"), fromBase64(a.id.x25519Pub));
    expect(new TextDecoder().decode(await a.svc.openSealedBundle(sealed))).toBe("history");
  });

  it("survives being killed: a fresh service restores from the vault, decrypts and commits", async () => {
    const a = await device("alice@example.org");
    const b = await device("bob@example.org");
    const [bobKp] = await b.svc.makeKeyPackages(2);
    await a.svc.createGroup("chat-x");
    const add = await a.svc.addMembers("chat-x", [bobKp!]);
    const joined = await b.svc.joinFromWelcome(add.welcome!);
    expect(joined.members).toEqual([a.id.credential, b.id.credential]);

    const m1 = await a.svc.encrypt("chat-x", { text: "one" });
    const r1 = await b.svc.decrypt("chat-x", m1.ciphertext, "m1");
    expect(r1.kind === "application" && r1.payload.text).toBe("one");
    expect(r1.kind === "application" && r1.payload.sender).toBe(a.id.credential);

    // "kill" bob: drop the instance, start a new one on the same vault
    const b2 = new MlsService();
    expect(await b2.isSetUp(b.dbName)).toBe(true);
    expect(await b2.isSetUp("never-created")).toBe(false);
    await expect(b2.setupDevice({ password: b.password, user: "bob@example.org", deviceId: "other", dbName: b.dbName })).rejects.toThrow(
      /already exists/,
    );
    await expect(b2.unlock("wrong", b.dbName)).rejects.toThrow("wrong password");
    await b2.unlock(b.password, b.dbName);
    expect((await b2.cachedMessage("chat-x", "m1"))?.text).toBe("one");
    const m2 = await a.svc.encrypt("chat-x", { text: "two" });
    const r2 = await b2.decrypt("chat-x", m2.ciphertext);
    expect(r2.kind === "application" && r2.payload.text).toBe("two");
    const upd = await b2.selfUpdate("chat-x");
    const seen = await a.svc.processHandshake("chat-x", upd.commit);
    expect(seen.epoch).toBe(upd.epoch);
    expect(await a.svc.exportSecret("chat-x", "talkee-reaction-v1")).toEqual(await b2.exportSecret("chat-x", "talkee-reaction-v1"));
    const keysA = await a.svc.chatKeys("chat-x");
    const keysB = await b2.chatKeys("chat-x");
    expect(keysA).toEqual(keysB);
    expect(keysA.signalingKey).not.toEqual(keysA.mediaFrameKey);
  });

  it("forgets a cached message for good (deleted or expired: its plaintext leaves the vault)", async () => {
    const a = await device("alice@example.org");
    const b = await device("bob@example.org");
    const [bobKp] = await b.svc.makeKeyPackages(1);
    await a.svc.createGroup("chat-f");
    const add = await a.svc.addMembers("chat-f", [bobKp!]);
    await b.svc.joinFromWelcome(add.welcome!);
    for (const [id, text] of [["m1", "gone soon"], ["m2", "stays"]] as const) {
      const m = await a.svc.encrypt("chat-f", { text });
      await b.svc.decrypt("chat-f", m.ciphertext, id);
    }
    await b.svc.forgetMessage("chat-f", "m1");
    await b.svc.forgetMessage("chat-f", "never-cached"); // harmless
    const b2 = new MlsService();
    await b2.unlock(b.password, b.dbName);
    expect(await b2.cachedMessage("chat-f", "m1")).toBeUndefined();
    expect((await b2.cachedMessage("chat-f", "m2"))?.text).toBe("stays");
  });

  it("reads late messages from the previous epoch only within the grace window", async () => {
    let clock = 1_000_000;
    const now = () => clock;
    const a = await device("alice@example.org", { now });
    const b = await device("bob@example.org", { now });
    const [kp] = await b.svc.makeKeyPackages(1);
    await a.svc.createGroup("g");
    await b.svc.joinFromWelcome((await a.svc.addMembers("g", [kp!])).welcome!);

    const keysEpoch1 = await a.svc.chatKeys("g");
    expect(keysEpoch1.epoch).toBe(1);
    const late1 = await a.svc.encrypt("g", { text: "late but in grace" });
    const late2 = await a.svc.encrypt("g", { text: "too late" });
    const upd = await b.svc.selfUpdate("g"); // bob moves to the next epoch
    await a.svc.processHandshake("g", upd.commit);
    clock += DEFAULT_ROTATION_POLICY.graceMs - 1000;
    const r = await b.svc.decrypt("g", late1.ciphertext);
    expect(r.kind === "application" && r.payload.text).toBe("late but in grace");
    expect(await b.svc.chatKeys("g", 1)).toEqual(keysEpoch1); // e.g. a late reaction still opens
    expect((await b.svc.chatKeys("g")).reactionKey).not.toEqual(keysEpoch1.reactionKey);
    clock += 2000;
    await expect(b.svc.decrypt("g", late2.ciphertext)).rejects.toBeInstanceOf(EpochExpiredError);
    await expect(b.svc.chatKeys("g", 1)).rejects.toBeInstanceOf(EpochExpiredError);
    await b.svc.encrypt("g", { text: "next" }); // any write deletes the expired epoch's keys
    const fresh = new MlsService({ now });
    await fresh.unlock(b.password, b.dbName);
    await expect(fresh.chatKeys("g", 1)).rejects.toBeInstanceOf(EpochExpiredError);
    const vault = await Vault.unlock(b.password, { dbName: b.dbName });
    expect(await vault.keys("epochkeys/g/")).toEqual(["epochkeys/g/2"]);
    vault.lock();
  });

  it("asks for a self-update after 1,000 messages", async () => {
    const a = await device("alice@example.org", { policy: { ...DEFAULT_ROTATION_POLICY, selfUpdateAfterMessages: 3 } });
    await a.svc.createGroup("g");
    for (let i = 0; i < 3; i++) {
      expect(await a.svc.rotationDue("g")).toBe(false);
      await a.svc.encrypt("g", { text: `m${i}` });
    }
    expect(await a.svc.rotationDue("g")).toBe(true);
    await a.svc.selfUpdate("g");
    expect(await a.svc.rotationDue("g")).toBe(false);
  });

  it("refuses a payload whose sender is not the member who sent it", async () => {
    const b = await device("bob@example.org");
    // Mallory runs her own client code (the engine directly) and lies in the payload.
    const mallory = await generateDeviceSecrets("mallory@example.org", "m1");
    const malloryKp = await engine.generateKeyPackage(mallory);
    let state = await engine.createGroupState(utf8("forged"), malloryKp);
    const [bobKp] = await b.svc.makeKeyPackages(1);
    const added = await engine.addMembers(state, [bobKp!]);
    state = added.state;
    await b.svc.joinFromWelcome(added.welcome!);

    const honest = await engine.encryptApplication(state, encodePayload({ _v: 1, sender: "mallory@example.org:m1", text: "hi" }));
    state = honest.state;
    const r = await b.svc.decrypt("forged", honest.message);
    expect(r.kind === "application" && r.payload.sender).toBe("mallory@example.org:m1");

    const forged = await engine.encryptApplication(state, encodePayload({ _v: 1, sender: b.id.credential, text: "I am bob" }));
    state = forged.state;
    await expect(b.svc.decrypt("forged", forged.message)).rejects.toBeInstanceOf(SenderMismatchError);
    // Bob's group still works after refusing it.
    const next = await engine.encryptApplication(state, encodePayload({ _v: 1, sender: "mallory@example.org:m1", text: "ok" }));
    const again = await b.svc.decrypt("forged", next.message);
    expect(again.kind === "application" && again.payload.text).toBe("ok");
  });

  it("loses a commit race cleanly: the winner's commit replaces our pending one", async () => {
    const a = await device("alice@example.org");
    const b = await device("bob@example.org");
    const [kp] = await b.svc.makeKeyPackages(1);
    await a.svc.createGroup("race");
    await b.svc.joinFromWelcome((await a.svc.addMembers("race", [kp!])).welcome!);
    await a.svc.confirmCommit("race");

    // Both commit in epoch 1; the server orders Alice's first and answers Bob 409.
    const aliceCommit = await a.svc.selfUpdate("race");
    const bobCommit = await b.svc.selfUpdate("race");
    expect(aliceCommit.epoch).toBe(2);
    expect(bobCommit.epoch).toBe(2);
    await expect(b.svc.selfUpdate("race")).rejects.toBeInstanceOf(PendingCommitError);
    await a.svc.confirmCommit("race");
    const processed = await b.svc.processHandshake("race", aliceCommit.commit);
    expect(processed.epoch).toBe(2);
    expect(await b.svc.exportSecret("race", "x")).toEqual(await a.svc.exportSecret("race", "x"));

    // Bob retries on top of the winner.
    const retry = await b.svc.selfUpdate("race");
    expect((await a.svc.processHandshake("race", retry.commit)).epoch).toBe(3);
    const m = await a.svc.encrypt("race", { text: "after the race" });
    const r = await b.svc.decrypt("race", m.ciphertext); // a message in epoch 3 also confirms Bob's commit
    expect(r.kind === "application" && r.payload.text).toBe("after the race");
    await b.svc.selfUpdate("race"); // no longer pending

    // discardCommit restores the previous epoch explicitly.
    const before = await a.svc.group("race");
    await a.svc.selfUpdate("race");
    expect((await a.svc.discardCommit("race")).epoch).toBe(before.epoch);
  });

  it("finishes a first run that was killed after the vault was created", async () => {
    const dbName = "svc-half-setup";
    (await Vault.create("pw", { dbName })).lock(); // the worker died here
    const svc = new MlsService();
    await expect(svc.setupDevice({ password: "wrong", user: "c@example.org", deviceId: "c1", dbName })).rejects.toThrow("wrong password");
    const id = await svc.setupDevice({ password: "pw", user: "c@example.org", deviceId: "c1", dbName });
    expect(id.credential).toBe("c@example.org:c1");
    const again = new MlsService();
    expect(await again.unlock("pw", dbName)).toEqual(id);
  });
});
