// Approving a new device from an existing one (src/identity/approvalCode.ts, src/mls/trust.ts
// certifyOwnDevice / adoptSealedIdentity) over real vaults (fake-indexeddb) and real keys.
import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import { fromBase64 } from "../src/crypto/encoding";
import { newRecoveryMnemonic } from "../src/crypto/recovery";
import { approvalCode, approvalQrPayload, parseApprovalQr } from "../src/identity/approvalCode";
import { MlsService } from "../src/mls/service";

let n = 0;
async function device(user: string, mnemonic?: string) {
  const svc = new MlsService();
  const deviceId = crypto.randomUUID();
  await svc.setupDevice({ password: "correct horse battery", user, deviceId, dbName: `approval-${++n}` });
  const identity = mnemonic === undefined ? null : await svc.adoptIdentity(user, mnemonic);
  const keys = await svc.deviceIdentity();
  const [kp] = await svc.makeKeyPackages(1);
  return { svc, deviceId, identity, keys, kp: kp! };
}

const other = (d: Awaited<ReturnType<typeof device>>) => ({ clientDeviceId: d.deviceId, ed25519Pub: d.keys.ed25519Pub, x25519Pub: d.keys.x25519Pub });

describe("the approval code", () => {
  it("is five groups of four digits, the same for the same keys and different for other keys", async () => {
    const a = await device("bob@a.test");
    const b = await device("bob@a.test");
    const code = await approvalCode(fromBase64(a.keys.ed25519Pub), fromBase64(a.keys.x25519Pub));
    expect(code).toMatch(/^\d{4} \d{4} \d{4} \d{4} \d{4}$/);
    expect(await approvalCode(fromBase64(a.keys.ed25519Pub), fromBase64(a.keys.x25519Pub))).toBe(code);
    expect(await approvalCode(fromBase64(b.keys.ed25519Pub), fromBase64(b.keys.x25519Pub))).not.toBe(code);
    // A server keeping the signing key but swapping the X25519 key (to read what is sealed) changes it too.
    expect(await approvalCode(fromBase64(a.keys.ed25519Pub), fromBase64(b.keys.x25519Pub))).not.toBe(code);
    await expect(approvalCode(new Uint8Array(31), new Uint8Array(32))).rejects.toThrow(RangeError);
  });
});

describe("the approval QR code", () => {
  it("carries the device id and both keys, and nothing else parses as one", async () => {
    const a = await device("bob@a.test");
    const qr = { clientDeviceId: a.deviceId, ed25519Pub: a.keys.ed25519Pub, x25519Pub: a.keys.x25519Pub };
    expect(parseApprovalQr(approvalQrPayload(qr))).toEqual(qr);
    expect(parseApprovalQr("talkee-sn:1:123")).toBeNull();
    expect(parseApprovalQr(approvalQrPayload(qr) + ":extra")).toBeNull();
    expect(parseApprovalQr(approvalQrPayload({ ...qr, ed25519Pub: "short" }))).toBeNull();
    expect(parseApprovalQr(approvalQrPayload({ ...qr, clientDeviceId: "not-a-uuid" }))).toBeNull();
  });
});

describe("approving a device", () => {
  it("certifies the new device so contacts admit it, and hands it the identity key sealed to it", async () => {
    const phrase = newRecoveryMnemonic();
    const laptop = await device("bob@a.test", phrase);
    const phone = await device("bob@a.test"); // signed in without the phrase
    const alice = await device("alice@a.test", newRecoveryMnemonic());
    await alice.svc.checkDevice({ user: "bob@a.test", clientDeviceId: laptop.deviceId, identityKey: laptop.identity!.identityKey, certificate: laptop.identity!.certificate, keyPackage: laptop.kp });
    const uncertified = { user: "bob@a.test", clientDeviceId: phone.deviceId, identityKey: laptop.identity!.identityKey, certificate: null, keyPackage: phone.kp };
    expect(await alice.svc.checkDevice(uncertified)).toEqual({ ok: false, reason: "uncertified" });

    const made = await laptop.svc.certifyOwnDevice(other(phone));
    expect(made.identityKey).toBe(laptop.identity!.identityKey);
    expect(await alice.svc.checkDevice({ ...uncertified, certificate: made.certificate })).toEqual({ ok: true, certified: true, pinnedNow: false });

    expect(await phone.svc.identityKey()).toBeNull();
    await phone.svc.adoptSealedIdentity(made.sealedIdentity, made.identityKey, made.certificate);
    expect(await phone.svc.identityKey()).toBe(laptop.identity!.identityKey);
    // The phone can approve the next device in turn, with the same identity key.
    const tablet = await device("bob@a.test");
    const next = await phone.svc.certifyOwnDevice(other(tablet));
    expect(await alice.svc.checkDevice({ user: "bob@a.test", clientDeviceId: tablet.deviceId, identityKey: next.identityKey, certificate: next.certificate, keyPackage: tablet.kp })).toMatchObject({ ok: true, certified: true });
  });

  it("refuses what a lying server could hand over: a key sealed to another device, another identity key, a certificate it did not sign", async () => {
    const laptop = await device("bob@a.test", newRecoveryMnemonic());
    const phone = await device("bob@a.test");
    const someoneElse = await device("bob@a.test");
    const made = await laptop.svc.certifyOwnDevice(other(phone));
    const forOther = await laptop.svc.certifyOwnDevice(other(someoneElse));
    await expect(phone.svc.adoptSealedIdentity(forOther.sealedIdentity, made.identityKey, made.certificate)).rejects.toThrow();
    const operator = await device("bob@a.test", newRecoveryMnemonic());
    await expect(phone.svc.adoptSealedIdentity(made.sealedIdentity, operator.identity!.identityKey, made.certificate)).rejects.toThrow(/not the account's/);
    await expect(phone.svc.adoptSealedIdentity(made.sealedIdentity, made.identityKey, forOther.certificate)).rejects.toThrow(/does not verify/);
    expect(await phone.svc.identityKey()).toBeNull();
  });

  it("cannot be done by a device that never had the identity key", async () => {
    const phone = await device("bob@a.test");
    const tablet = await device("bob@a.test");
    await expect(phone.svc.certifyOwnDevice(other(tablet))).rejects.toThrow(/recovery phrase/);
  });
});
