// The worker's gate before a device is added from a server-handed KeyPackage (src/mls/trust.ts),
// over real vaults (fake-indexeddb), real KeyPackages and real certificates.
import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import { newRecoveryMnemonic } from "../src/crypto/recovery";
import { MlsService } from "../src/mls/service";
import type { ClaimedDevice } from "../src/mls/trust";

let n = 0;
async function device(user: string, mnemonic?: string) {
  const svc = new MlsService();
  const deviceId = crypto.randomUUID();
  await svc.setupDevice({ password: "correct horse battery", user, deviceId, dbName: `trust-${++n}` });
  const identity = mnemonic === undefined ? null : await svc.adoptIdentity(user, mnemonic);
  const [kp] = await svc.makeKeyPackages(1);
  return { svc, deviceId, identity, kp: kp! };
}

function claimed(user: string, d: Awaited<ReturnType<typeof device>>, over: Partial<ClaimedDevice> = {}): ClaimedDevice {
  return {
    user,
    clientDeviceId: d.deviceId,
    identityKey: d.identity?.identityKey ?? null,
    certificate: d.identity?.certificate ?? null,
    keyPackage: d.kp,
    ...over,
  };
}

describe("the device gate", () => {
  it("pins a contact's identity key on first contact and admits devices it certified", async () => {
    const alice = await device("alice@a.test", newRecoveryMnemonic());
    const bobPhrase = newRecoveryMnemonic();
    const bob = await device("bob@a.test", bobPhrase);
    expect(await alice.svc.pinnedIdentity("bob@a.test")).toBeNull();
    expect(await alice.svc.checkDevice(claimed("bob@a.test", bob))).toEqual({ ok: true, certified: true, pinnedNow: true });
    expect(await alice.svc.pinnedIdentity("bob@a.test")).toBe(bob.identity!.identityKey);
    // Bob's second device, certified with the same phrase, is admitted under the pin.
    const bob2 = await device("bob@a.test", bobPhrase);
    expect(await alice.svc.checkDevice(claimed("bob@a.test", bob2))).toEqual({ ok: true, certified: true, pinnedNow: false });
  });

  it("refuses a ghost device the operator announces: no certificate, a forged one, or a real one with its own KeyPackage", async () => {
    const alice = await device("alice@a.test", newRecoveryMnemonic());
    const bob = await device("bob@a.test", newRecoveryMnemonic());
    await alice.svc.checkDevice(claimed("bob@a.test", bob)); // first contact: pinned
    const ghost = await device("bob@a.test"); // the operator's own keys, no identity key
    const operatorKey = await device("bob@a.test", newRecoveryMnemonic()); // certified by a key the operator made
    const uncertified = claimed("bob@a.test", ghost, { identityKey: bob.identity!.identityKey, certificate: null });
    expect(await alice.svc.checkDevice(uncertified)).toEqual({ ok: false, reason: "uncertified" });
    // Its pool used up by another claimer: still refused (and said), not just skipped.
    expect(await alice.svc.checkDevice({ ...uncertified, keyPackage: null })).toEqual({ ok: false, reason: "uncertified" });
    expect(await alice.svc.checkDevice(claimed("bob@a.test", bob, { keyPackage: null }))).toMatchObject({ ok: true });
    expect(await alice.svc.checkDevice(claimed("bob@a.test", operatorKey))).toEqual({ ok: false, reason: "identity-changed" });
    // Bob's real certificate, served with the ghost's KeyPackage under Bob's device id.
    const replayed = claimed("bob@a.test", bob, { keyPackage: ghost.kp });
    expect(await alice.svc.checkDevice(replayed)).toEqual({ ok: false, reason: "leaf-mismatch" });
    // The identity key removed from the answer after it was pinned.
    expect(await alice.svc.checkDevice(claimed("bob@a.test", ghost))).toEqual({ ok: false, reason: "identity-removed" });
    // Another user's certificate served as Bob's.
    const carol = await device("carol@a.test", newRecoveryMnemonic());
    expect(await alice.svc.checkDevice(claimed("bob@a.test", bob, { certificate: carol.identity!.certificate }))).toEqual({
      ok: false,
      reason: "wrong-signer",
    });
    expect(await alice.svc.checkDevice(claimed("bob@a.test", bob, { keyPackage: new Uint8Array([1, 2, 3]) }))).toEqual({
      ok: false,
      reason: "bad-keypackage",
    });
  });

  it("lets an account without any identity key through as uncertified (before identity keys; remote users)", async () => {
    const alice = await device("alice@a.test", newRecoveryMnemonic());
    const legacy = await device("dave@a.test");
    expect(await alice.svc.checkDevice(claimed("dave@a.test", legacy))).toEqual({ ok: true, certified: false, pinnedNow: false });
    expect(await alice.svc.pinnedIdentity("dave@a.test")).toBeNull();
  });

  it("checks the leaves of a group joined by a Welcome against the listed certificates, then pins", async () => {
    const alice = await device("alice@a.test", newRecoveryMnemonic());
    const bob = await device("bob@a.test", newRecoveryMnemonic());
    const groupId = crypto.randomUUID();
    await alice.svc.createGroup(groupId);
    const { welcome } = await alice.svc.addMembers(groupId, [bob.kp]);
    await alice.svc.confirmCommit(groupId);
    await bob.svc.joinFromWelcome(welcome!);
    const listed = { identityKey: alice.identity!.identityKey, devices: [{ clientDeviceId: alice.deviceId, certificate: alice.identity!.certificate }] };
    // Uncertified (the server lists no certificate for the leaf in the group): refused, nothing pinned.
    expect(await bob.svc.checkMembers(groupId, "alice@a.test", { ...listed, devices: [] })).toEqual({ ok: false, reason: "uncertified" });
    expect(await bob.svc.pinnedIdentity("alice@a.test")).toBeNull();
    expect(await bob.svc.checkMembers(groupId, "alice@a.test", listed)).toEqual({ ok: true, certified: true, pinnedNow: true });
    // Later the server swaps the key: refused as a changed identity.
    const operator = await device("alice@a.test", newRecoveryMnemonic());
    const swapped = { identityKey: operator.identity!.identityKey, devices: [{ clientDeviceId: alice.deviceId, certificate: operator.identity!.certificate }] };
    expect(await bob.svc.checkMembers(groupId, "alice@a.test", swapped)).toEqual({ ok: false, reason: "identity-changed" });
  });
});
