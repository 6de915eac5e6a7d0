import { describe, expect, it } from "vitest";
import { fromBase64, toBase64, utf8 } from "../src/crypto/encoding";
import { MESSAGE_BUCKETS } from "../src/crypto/padding";
import {
  InvalidProfileError,
  MAX_AVATAR_CHARS,
  MAX_DISPLAY_NAME,
  checkedAvatar,
  cleanDisplayName,
  newProfileKey,
  openProfile,
  profileKeyShare,
  sealProfile,
  shareOf,
} from "../src/crypto/profile";

const ALICE = "alice@a.test";

describe("profiles sealed under the profile key", () => {
  it("open with the same key, user and version", async () => {
    const key = await newProfileKey();
    expect(key.length).toBe(32);
    const sealed = await sealProfile(key, ALICE, 3, { name: "Alice Liddell" });
    expect(await openProfile(key, ALICE, 3, sealed)).toEqual({ name: "Alice Liddell" });
  });

  it("never carry the name in the clear, and pad it to a bucket (names of different lengths look alike)", async () => {
    const key = await newProfileKey();
    const short = await sealProfile(key, ALICE, 1, { name: "Al" });
    const longer = await sealProfile(key, ALICE, 1, { name: "Alice Pleasance Liddell" });
    expect(short.length).toBe(longer.length);
    const overhead = short.length - MESSAGE_BUCKETS[0];
    expect(overhead).toBe(24 + 16); // nonce + tag around one 64-byte bucket
    const text = new TextDecoder("latin1").decode(longer);
    expect(text).not.toContain("Liddell");
    // Two seals of the same profile differ (fresh nonce).
    expect(toBase64(await sealProfile(key, ALICE, 1, { name: "Al" }))).not.toBe(toBase64(short));
  });

  it("refuse another key, another user or another version (the server cannot swap or replay them)", async () => {
    const key = await newProfileKey();
    const sealed = await sealProfile(key, ALICE, 2, { name: "Alice" });
    await expect(openProfile(await newProfileKey(), ALICE, 2, sealed)).rejects.toBeInstanceOf(InvalidProfileError);
    await expect(openProfile(key, "mallory@a.test", 2, sealed)).rejects.toBeInstanceOf(InvalidProfileError);
    await expect(openProfile(key, ALICE, 3, sealed)).rejects.toBeInstanceOf(InvalidProfileError);
    const altered = sealed.slice();
    altered[30] = (altered[30] ?? 0) ^ 1;
    await expect(openProfile(key, ALICE, 2, altered)).rejects.toBeInstanceOf(InvalidProfileError);
    await expect(openProfile(key, ALICE, 2, utf8("short"))).rejects.toBeInstanceOf(InvalidProfileError);
  });

  it("clean display names: no control or direction-override characters, one space, bounded", () => {
    expect(cleanDisplayName("  Alice \n  Liddell ")).toBe("Alice Liddell");
    expect(cleanDisplayName("Ali\u202Ece\u200B\u0007")).toBe("Alice");
    expect([...cleanDisplayName("🙂".repeat(100))].length).toBe(MAX_DISPLAY_NAME);
    expect(cleanDisplayName("   ")).toBe("");
  });

  it("clean what comes in too (a sender's client may be hostile)", async () => {
    const key = await newProfileKey();
    const sealed = await sealProfile(key, ALICE, 1, { name: "x" });
    expect((await openProfile(key, ALICE, 1, sealed)).name).toBe("x");
    const hostile = await sealProfile(key, ALICE, 2, { name: "bob\u202E@a.test" });
    expect((await openProfile(key, ALICE, 2, hostile)).name).toBe("bob@a.test");
  });
});

describe("profile pictures", () => {
  const jpeg = `data:image/jpeg;base64,${toBase64(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]))}`;

  it("travel inside the sealed profile and fit one bucket at the largest", async () => {
    const key = await newProfileKey();
    const big = `data:image/jpeg;base64,${"A".repeat(MAX_AVATAR_CHARS - 23)}`;
    expect(checkedAvatar(big)).toBe(big);
    const sealed = await sealProfile(key, ALICE, 1, { name: "Alice", avatar: big });
    expect(sealed.length).toBe(24 + 65536 + 16); // the server's limit (TALKEE_PROFILE_MAX_BYTES) is 65 KiB
    expect(await openProfile(key, ALICE, 1, sealed)).toEqual({ name: "Alice", avatar: big });
    expect(await openProfile(key, ALICE, 2, await sealProfile(key, ALICE, 2, { name: "Alice", avatar: jpeg }))).toEqual({ name: "Alice", avatar: jpeg });
  });

  it("are only small JPEG data: URLs; anything else is refused going out and dropped coming in", async () => {
    for (const bad of [`${jpeg}"`, "data:image/svg+xml;base64,PHN2Zz4=", "javascript:alert(1)", "https://example.com/a.jpg", `data:image/jpeg;base64,${"A".repeat(MAX_AVATAR_CHARS)}`, 5]) {
      expect(checkedAvatar(bad)).toBeUndefined();
    }
    const key = await newProfileKey();
    await expect(sealProfile(key, ALICE, 1, { name: "Alice", avatar: "javascript:alert(1)" })).rejects.toBeInstanceOf(InvalidProfileError);
  });
});

describe("profile key shares (inside MLS messages)", () => {
  it("round-trip", async () => {
    const key = await newProfileKey();
    const share = shareOf(key, 7);
    expect(profileKeyShare(JSON.parse(JSON.stringify(share)))).toEqual(share);
    expect(fromBase64(share.key)).toEqual(key);
  });

  it("ignore anything that is not a 32-byte key with a positive whole version", () => {
    const good = toBase64(new Uint8Array(32));
    for (const bad of [
      undefined,
      null,
      "key",
      {},
      { key: good },
      { key: good, version: 0 },
      { key: good, version: 1.5 },
      { key: good, version: "2" },
      { key: toBase64(new Uint8Array(16)), version: 1 },
      { key: "not base64!", version: 1 },
    ]) {
      expect(profileKeyShare(bad)).toBeUndefined();
    }
    expect(profileKeyShare({ key: good, version: 1 })).toEqual({ key: good, version: 1 });
  });
});
