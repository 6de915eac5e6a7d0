// What the honest members do after refusing a commit the server ordered (src/app/refusedCommits.ts):
// the server epoch is voided (labels move by one), the committing device is taken out with a
// commit labelled with the server's epoch, and the offender's fork reads nothing after it.
// Real MLS services over fake-indexeddb; the offender is the bare engine (shape-only validator).
import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import type { Remote } from "comlink";
import { toBase64 } from "../src/crypto/encoding";
import { generateDeviceSecrets } from "../src/crypto/identity";
import { newRecoveryMnemonic } from "../src/crypto/recovery";
import { issueCertificate } from "../src/identity/certificate";
import { identityKeyFromPhrase } from "../src/identity/userKey";
import type { MlsWorkerApi } from "../src/mls/api";
import * as engine from "../src/mls/engine";
import { MlsService } from "../src/mls/service";
import { mlsEpochOf, refusedCommitText, serverEpoch, voidRefusedCommit } from "../src/app/refusedCommits";
import type { MadeCommit } from "../src/app/membership";
import { AppStore, type ChatRecord } from "../src/app/store";
import { withCertifiedLeaves } from "../src/app/trust";

let n = 0;
const NOW = Math.floor(Date.now() / 1000);

async function honest(user: string) {
  const svc = new MlsService();
  const deviceId = crypto.randomUUID();
  await svc.setupDevice({ password: "correct horse battery", user, deviceId, dbName: `refused-${++n}` });
  return { svc, user, deviceId, ...(await svc.adoptIdentity(user, newRecoveryMnemonic())) };
}

describe("epoch labels after voided epochs", () => {
  it("a commit from MLS epoch e goes out as server epoch e + voided, and back", () => {
    expect(serverEpoch(undefined, 4)).toBe(4);
    expect(serverEpoch({ voidedEpochs: 2 }, 4)).toBe(6);
    expect(mlsEpochOf({ voidedEpochs: 2 }, 6)).toBe(4);
    expect(refusedCommitText("a.test", "carol@a.test:d1", [{ identity: "carol@a.test:ghost", reason: "uncertified" }])).toBe(
      "carol's device committed a change that brings in a device of carol that carol's identity key did not certify: refused, and that device of carol is taken out of this chat.",
    );
  });
});

describe("after a refused commit", () => {
  it("the honest members void its epoch, take the committer out, and the offender's fork reads nothing after", async () => {
    const alice = await honest("alice@a.test");
    const bob = await honest("bob@a.test");
    const carolKey = await identityKeyFromPhrase("carol@a.test", newRecoveryMnemonic());
    const carol = await generateDeviceSecrets("carol@a.test", crypto.randomUUID());
    const carolCert = await issueCertificate(carolKey, { user: carol.user, deviceId: carol.deviceId, signatureKey: carol.ed25519Public, x25519Key: carol.x25519Public }, NOW - 60, 0);
    const carolKp = await engine.generateKeyPackage(carol);
    const carolLeaf = `carol@a.test:${carol.deviceId}`;

    await alice.svc.createGroup("g");
    const [bobKp] = await bob.svc.makeKeyPackages(1);
    await alice.svc.checkDevice({ user: bob.user, clientDeviceId: bob.deviceId, identityKey: bob.identityKey, certificate: bob.certificate, keyPackage: bobKp! });
    const carolClaim = { user: "carol@a.test", clientDeviceId: carol.deviceId, identityKey: toBase64(carolKey.publicKey), certificate: toBase64(carolCert), keyPackage: carolKp.encoded };
    await alice.svc.checkDevice(carolClaim);
    const add = await alice.svc.addMembers("g", [bobKp!, carolKp.encoded]);
    await alice.svc.confirmCommit("g");
    await bob.svc.joinFromWelcome(add.welcome!);
    const directory = { identityKey: toBase64(carolKey.publicKey), devices: [{ clientDeviceId: carol.deviceId, certificate: toBase64(carolCert) }] };
    await bob.svc.checkMembers("g", "carol@a.test", directory); // pinned on joining (app/trust pinWelcomeMembers)
    const carolBefore = (await engine.joinFromWelcome(add.welcome!, [carolKp])).state;
    const epoch = (await alice.svc.group("g")).epoch;

    // Carol's modified client: a device of hers with no certificate.
    const ghost = await engine.generateKeyPackage(await generateDeviceSecrets("carol@a.test", "ghost-device"));
    const crafted = await engine.addMembers(engine.decodeState(engine.encodeState(carolBefore)), [ghost.encoded]);

    const members = [alice, bob].map((m) => {
      const mls = m.svc as unknown as Remote<MlsWorkerApi>;
      const store = new AppStore(mls);
      store.chats.set("g", { id: "g", kind: "group", name: null, members: [], warnings: [] } as unknown as ChatRecord);
      const api = { certificatesOf: async (user: string) => ({ user, identity_key: directory.identityKey, devices: [] }) };
      const ctx = { api, mls, store, domain: "a.test", emit: () => undefined };
      return { ...m, ctx, chat: store.chats.get("g")! };
    });
    // The server ordered it at `epoch`; its epoch is now epoch + 1.
    const made: Array<{ label: number; commit: Uint8Array }> = [];
    for (const m of members) {
      let refusals = null as Parameters<typeof voidRefusedCommit>[3] | null;
      expect(await withCertifiedLeaves(m.ctx, "g", () => m.svc.processHandshake("g", crafted.commit), (r) => (refusals = r))).toBeNull();
      expect(refusals).toEqual([{ identity: "carol@a.test:ghost-device", reason: "uncertified", by: carolLeaf }]);
      // Alice commits first; Bob's commit would lose the race (409) and is not made here.
      const commit = async (make: () => Promise<MadeCommit>) => {
        if (m === members[1]) return false;
        const out = await make();
        if (out === null) return false;
        await m.svc.confirmCommit("g");
        made.push({ label: serverEpoch(m.chat, out.epoch - 1), commit: out.commit });
        return true;
      };
      await voidRefusedCommit(m.ctx, m.chat, epoch, refusals!, commit);
      expect(m.chat.voidedEpochs).toBe(1);
      expect(m.chat.warnings).toEqual([refusedCommitText("a.test", carolLeaf, refusals!)]);
      // A replay of the same refusal (catch-up, reload) voids nothing more.
      await voidRefusedCommit(m.ctx, m.chat, epoch, refusals!, commit);
      expect(m.chat.voidedEpochs).toBe(1);
    }
    // Alice's removal is labelled with the server's epoch (no 409) and Bob applies it.
    expect(made).toHaveLength(1);
    expect(made[0]!.label).toBe(epoch + 1);
    expect(mlsEpochOf(members[1]!.chat, made[0]!.label)).toBe((await bob.svc.group("g")).epoch);
    await bob.svc.processHandshake("g", made[0]!.commit);
    expect((await bob.svc.group("g")).members).not.toContain(carolLeaf);
    expect((await alice.svc.group("g")).members).not.toContain(carolLeaf);

    const after = await alice.svc.encrypt("g", { text: "after the removal" });
    expect(await bob.svc.decrypt("g", after.ciphertext)).toMatchObject({ payload: { text: "after the removal" } });
    // The offender's fork (after its own commit) and the ghost's state read nothing.
    const ghostState = (await engine.joinFromWelcome(crafted.welcome!, [ghost])).state;
    await expect(engine.receive(crafted.state, after.ciphertext)).rejects.toThrow();
    await expect(engine.receive(ghostState, after.ciphertext)).rejects.toThrow();
    // Nor does a copy of carol's state from before her commit: the removal takes her out.
    const removed = await engine.receive(carolBefore, made[0]!.commit);
    expect(removed).toMatchObject({ kind: "handshake", removed: true });
    await expect(engine.receive(removed.state, after.ciphertext)).rejects.toThrow();
  });
});
