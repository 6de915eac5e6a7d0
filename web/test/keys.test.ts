import { describe, expect, it } from "vitest";
import { hkdfSha256, mediaFrameKey, openWithKey, sealWithKey, signalingKey } from "../src/crypto/derivedKeys";
import { fromHex, toHex, utf8 } from "../src/crypto/encoding";
import { generateDeviceSecrets, publicIdentity, signChallenge, verifyChallenge, credentialIdentity } from "../src/crypto/identity";
import { openSealed, sealForDevice, SealedBoxOpenError, SEALED_BOX_OVERHEAD } from "../src/crypto/sealedBox";

describe("HKDF-SHA256", () => {
  it("matches RFC 5869 test case 1", async () => {
    const okm = await hkdfSha256(
      fromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
      fromHex("000102030405060708090a0b0c"),
      fromHex("f0f1f2f3f4f5f6f7f8f9"),
      42,
    );
    expect(toHex(okm)).toBe("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  });

  it("derives distinct signalling and media keys from one exporter secret", async () => {
    const ikm = new Uint8Array(32).fill(9);
    const s = await signalingKey(ikm);
    const m = await mediaFrameKey(ikm);
    expect(s).toHaveLength(32);
    expect(toHex(s)).not.toBe(toHex(m));
    expect(toHex(await signalingKey(ikm))).toBe(toHex(s));
  });

  it("seals values under a derived key, bound to their context", async () => {
    const key = new Uint8Array(32).fill(1);
    const sealed = await sealWithKey(key, utf8("👍"), "reaction:42");
    expect(new TextDecoder().decode(await openWithKey(key, sealed, "reaction:42"))).toBe("👍");
    await expect(openWithKey(key, sealed, "reaction:43")).rejects.toThrow(/does not open/);
    await expect(openWithKey(new Uint8Array(32), sealed, "reaction:42")).rejects.toThrow(/does not open/);
  });
});

describe("device identity", () => {
  it("signs login challenges verifiably and exposes only public keys", async () => {
    const d = await generateDeviceSecrets("alice@example.org", "0b6f3c1e-7d7a-4e8e-9f3a-2b1c0d9e8f7a");
    const pub = publicIdentity(d);
    expect(pub.credential).toBe("alice@example.org:0b6f3c1e-7d7a-4e8e-9f3a-2b1c0d9e8f7a");
    expect(JSON.stringify(pub)).not.toContain(Buffer.from(d.ed25519Secret).toString("base64"));
    const sig = await signChallenge(d, "server-nonce");
    expect(Buffer.from(sig, "base64")).toHaveLength(64);
    expect(await verifyChallenge(pub.ed25519Pub, "server-nonce", sig)).toBe(true);
    expect(await verifyChallenge(pub.ed25519Pub, "other-nonce", sig)).toBe(false);
  });

  it("refuses malformed identities", () => {
    expect(() => credentialIdentity("alice", "d1")).toThrow();
    expect(() => credentialIdentity("alice@example.org", "a:b")).toThrow();
  });
});

describe("sealed boxes", () => {
  it("only the addressed device opens a history bundle", async () => {
    const bob = await generateDeviceSecrets("bob@example.org", "d2");
    const eve = await generateDeviceSecrets("eve@example.org", "d3");
    const sealed = await sealForDevice(utf8("history bundle"), bob.x25519Public);
    expect(sealed.length).toBe(14 + SEALED_BOX_OVERHEAD);
    expect(new TextDecoder().decode(await openSealed(sealed, bob.x25519Public, bob.x25519Secret))).toBe("history bundle");
    await expect(openSealed(sealed, eve.x25519Public, eve.x25519Secret)).rejects.toBeInstanceOf(SealedBoxOpenError);
  });
});
