import { describe, expect, it } from "vitest";
import { bytesEqual, toHex } from "../src/crypto/encoding";
import { generateDeviceSecrets } from "../src/crypto/identity";
import { newRecoveryMnemonic, recoveryProofBytes } from "../src/crypto/recovery";
import { loadSodium } from "../src/crypto/sodium";
import { decodeCertificate, issueCertificate, verifyCertificate } from "../src/identity/certificate";
import { formatSafetyNumber, matchesSafetyNumber, safetyNumber, safetyQrPayload } from "../src/identity/safetyNumber";
import { decodeIdentityKey, encodeIdentityKey, identityKeyFromPhrase, type UserIdentityKey } from "../src/identity/userKey";

const PHRASE = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

async function randomIdentity(): Promise<UserIdentityKey> {
  const sodium = await loadSodium();
  const pair = sodium.crypto_sign_keypair();
  return { publicKey: pair.publicKey, secretKey: pair.privateKey };
}

async function deviceOf(user: string, deviceId = crypto.randomUUID()) {
  const secrets = await generateDeviceSecrets(user, deviceId);
  return { user, deviceId, signatureKey: secrets.ed25519Public, x25519Key: secrets.x25519Public };
}

describe("user identity key from the recovery phrase", () => {
  it("is the same key for the same phrase and account, on any device", async () => {
    const a = await identityKeyFromPhrase("alice", PHRASE);
    const b = await identityKeyFromPhrase("Alice@example.org", ` ${PHRASE.toUpperCase()} `);
    expect(toHex(a.publicKey)).toBe(toHex(b.publicKey));
    expect(a.publicKey.length).toBe(32);
    expect(a.secretKey.length).toBe(64);
  });

  it("differs per account and per phrase, and is not what the server is given", async () => {
    const alice = await identityKeyFromPhrase("alice", PHRASE);
    expect(toHex((await identityKeyFromPhrase("bob", PHRASE)).publicKey)).not.toBe(toHex(alice.publicKey));
    expect(toHex((await identityKeyFromPhrase("alice", newRecoveryMnemonic())).publicKey)).not.toBe(toHex(alice.publicKey));
    const proof = await recoveryProofBytes("alice", PHRASE);
    expect(toHex(alice.secretKey)).not.toContain(toHex(proof));
  });

  it("round-trips through its vault encoding", async () => {
    const key = await identityKeyFromPhrase("alice", PHRASE);
    const back = decodeIdentityKey(encodeIdentityKey(key));
    expect(bytesEqual(back.publicKey, key.publicKey) && bytesEqual(back.secretKey, key.secretKey)).toBe(true);
  });
});

describe("device certificates", () => {
  it("encode canonically and verify against the pinned identity key", async () => {
    const identity = await identityKeyFromPhrase("alice", PHRASE);
    const device = await deviceOf("alice@example.org", "8a1c9e2e-0000-4000-8000-000000000001");
    const cert = await issueCertificate(identity, device, 1_700_000_000);
    const again = await issueCertificate(identity, device, 1_700_000_000);
    expect(toHex(cert)).toBe(toHex(again)); // Ed25519 is deterministic: same bytes, same certificate
    const { certificate } = decodeCertificate(cert);
    expect(certificate.user).toBe("alice@example.org");
    expect(certificate.deviceId).toBe(device.deviceId);
    expect(certificate.created).toBe(1_700_000_000);
    expect(bytesEqual(certificate.signatureKey, device.signatureKey)).toBe(true);
    expect(bytesEqual(certificate.x25519Key, device.x25519Key)).toBe(true);
    const check = await verifyCertificate(cert, {
      user: device.user,
      identityKey: identity.publicKey,
      deviceId: device.deviceId,
      signatureKey: device.signatureKey,
    });
    expect(check.ok).toBe(true);
  });

  it("are refused when signed by another key than the pinned one (wrong signer)", async () => {
    const pinned = await randomIdentity();
    const operator = await randomIdentity();
    const device = await deviceOf("bob@example.org");
    const forged = await issueCertificate(operator, device);
    expect(await verifyCertificate(forged, { user: device.user, identityKey: pinned.publicKey })).toEqual({ ok: false, reason: "wrong-signer" });
  });

  it("are refused when the signature does not verify (bytes changed after signing)", async () => {
    const identity = await randomIdentity();
    const device = await deviceOf("bob@example.org");
    const cert = await issueCertificate(identity, device);
    // Swap the certified signature key for another device's: the signature no longer covers it.
    const other = await deviceOf("bob@example.org");
    const tampered = cert.slice();
    const keyAt = 1 + 2 + device.user.length + 2 + device.deviceId.length;
    tampered.set(other.signatureKey, keyAt);
    expect(await verifyCertificate(tampered, { user: device.user, identityKey: identity.publicKey })).toEqual({ ok: false, reason: "bad-signature" });
  });

  it("are refused for another user's device, even under a key this client pinned", async () => {
    const carol = await randomIdentity();
    const device = await deviceOf("carol@example.org");
    const cert = await issueCertificate(carol, device);
    expect(await verifyCertificate(cert, { user: "bob@example.org", identityKey: carol.publicKey })).toEqual({ ok: false, reason: "other-user" });
  });

  it("are refused for another device, or for a leaf whose key is not the certified one", async () => {
    const identity = await randomIdentity();
    const device = await deviceOf("bob@example.org");
    const cert = await issueCertificate(identity, device);
    const ghost = await deviceOf("bob@example.org");
    expect(await verifyCertificate(cert, { user: device.user, identityKey: identity.publicKey, deviceId: ghost.deviceId })).toEqual({
      ok: false,
      reason: "unknown-device",
    });
    expect(
      await verifyCertificate(cert, { user: device.user, identityKey: identity.publicKey, deviceId: device.deviceId, signatureKey: ghost.signatureKey }),
    ).toEqual({ ok: false, reason: "key-mismatch" });
  });

  it("are refused after their expiry", async () => {
    const identity = await randomIdentity();
    const device = await deviceOf("bob@example.org");
    const cert = await issueCertificate(identity, device, 1000, 2000);
    expect((await verifyCertificate(cert, { user: device.user, identityKey: identity.publicKey, now: 1999 })).ok).toBe(true);
    expect(await verifyCertificate(cert, { user: device.user, identityKey: identity.publicKey, now: 2000 })).toEqual({ ok: false, reason: "expired" });
  });

  it("are refused when malformed (truncated, extended, wrong version, empty)", async () => {
    const identity = await randomIdentity();
    const device = await deviceOf("bob@example.org");
    const cert = await issueCertificate(identity, device);
    const expected = { user: device.user, identityKey: identity.publicKey };
    const badVersion = cert.slice();
    badVersion[0] = 2;
    for (const bytes of [cert.slice(0, cert.length - 1), new Uint8Array([...cert, 0]), badVersion, new Uint8Array(0), new Uint8Array(5)]) {
      expect(await verifyCertificate(bytes, expected)).toEqual({ ok: false, reason: "malformed" });
    }
  });
});

describe("safety numbers", () => {
  it("are 60 digits, stable and the same from both sides", async () => {
    const alice = { address: "alice@example.org", identityKey: (await identityKeyFromPhrase("alice", PHRASE)).publicKey };
    const bob = { address: "bob@example.org", identityKey: (await randomIdentity()).publicKey };
    const ab = await safetyNumber(alice, bob);
    expect(ab).toMatch(/^\d{60}$/);
    expect(await safetyNumber(bob, alice)).toBe(ab);
    expect(await safetyNumber(alice, bob)).toBe(ab);
    expect(formatSafetyNumber(ab).split(" ")).toHaveLength(12);
  });

  it("change when either identity key changes, and keep the unchanged side's half", async () => {
    const alice = { address: "alice@example.org", identityKey: (await randomIdentity()).publicKey };
    const bob = { address: "bob@example.org", identityKey: (await randomIdentity()).publicKey };
    const swapped = { address: "bob@example.org", identityKey: (await randomIdentity()).publicKey };
    const before = await safetyNumber(alice, bob);
    const after = await safetyNumber(alice, swapped);
    expect(after).not.toBe(before);
    expect(after.slice(0, 30)).toBe(before.slice(0, 30)); // alice sorts first: her half is the same
    expect(after.slice(30)).not.toBe(before.slice(30));
  });

  it("match through the QR payload or typed digits, and not otherwise", async () => {
    const alice = { address: "alice@example.org", identityKey: (await randomIdentity()).publicKey };
    const bob = { address: "bob@example.org", identityKey: (await randomIdentity()).publicKey };
    const mallory = { address: "bob@example.org", identityKey: (await randomIdentity()).publicKey };
    const ours = await safetyNumber(alice, bob);
    expect(matchesSafetyNumber(ours, safetyQrPayload(await safetyNumber(bob, alice)))).toBe(true);
    expect(matchesSafetyNumber(ours, formatSafetyNumber(ours))).toBe(true);
    expect(matchesSafetyNumber(ours, safetyQrPayload(await safetyNumber(alice, mallory)))).toBe(false);
    expect(matchesSafetyNumber(ours, "12345")).toBe(false);
    await expect(safetyNumber(alice, alice)).rejects.toThrow(RangeError);
  });
});
