import { describe, expect, it } from "vitest";
import { fromUtf8 } from "../src/crypto/encoding";
import { generateDeviceSecrets, signWithContext, SYNC_BUNDLE_CONTEXT } from "../src/crypto/identity";
import { openSealed } from "../src/crypto/sealedBox";
import { BundleError, packHistory, readBundle, sealBundle, type HistoryBundle } from "../src/app/history";
import { committerWait } from "../src/app/devices";
import { deviceLabel } from "../src/app/session";
import type { LocalMessage } from "../src/app/store";

function message(id: number, text: string, extra: Partial<LocalMessage> = {}): LocalMessage {
  return { key: `m${id}`, id, seq: id, sender: "alice@x.example:d1", text, at: 1000 + id, mine: false, status: "sent", ...extra };
}

describe("history bundles", () => {
  it("split a long history between messages, each part within the cap, in order", () => {
    const history = Array.from({ length: 40 }, (_, i) => message(i + 1, "x".repeat(900)));
    const cap = 8 * 1024;
    const parts = packHistory("c1", "Team", history, cap);
    expect(parts.length).toBeGreaterThan(4);
    const decoded = parts.map((p) => JSON.parse(fromUtf8(p)) as HistoryBundle);
    for (const [i, p] of parts.entries()) {
      expect(p.length + 64 + 48).toBeLessThanOrEqual(cap);
      expect(decoded[i]!.part).toBe(i);
      expect(decoded[i]!.parts).toBe(parts.length);
    }
    expect(decoded.flatMap((b) => b.messages.map((m) => m.id))).toEqual(history.map((m) => m.id));
  });

  it("leave out what a new device must not get: unsent, unreadable, deleted, burn-after-reading", () => {
    const history = [
      message(1, "kept"),
      { ...message(2, ""), unavailable: true },
      { ...message(3, ""), deleted: true },
      { ...message(4, "once"), burn: true },
      { ...message(5, "queued"), id: null, seq: null },
    ];
    const [only] = packHistory("c1", null, history);
    expect((JSON.parse(fromUtf8(only!)) as HistoryBundle).messages.map((m) => m.text)).toEqual(["kept"]);
  });

  it("open only with the recipient's key, and only with the sending device's signature", async () => {
    const sender = await generateDeviceSecrets("alice@x.example", "d1");
    const other = await generateDeviceSecrets("mallory@x.example", "m1");
    const recipient = await generateDeviceSecrets("alice@x.example", "d3");
    const [plain] = packHistory("c1", "Team", [message(1, "hello history")]);
    const sealed = await sealBundle(plain!, await signWithContext(sender, SYNC_BUNDLE_CONTEXT, plain!), recipient.x25519Public);
    expect(new TextDecoder().decode(sealed)).not.toContain("hello history");
    const opened = await openSealed(sealed, recipient.x25519Public, recipient.x25519Secret);
    const bundle = await readBundle(opened, sender.ed25519Public, "c1");
    expect(bundle.messages[0]!.text).toBe("hello history");
    expect(bundle.name).toBe("Team");
    await expect(readBundle(opened, other.ed25519Public, "c1")).rejects.toBeInstanceOf(BundleError);
    await expect(readBundle(opened, sender.ed25519Public, "c2")).rejects.toBeInstanceOf(BundleError);
    const forged = await sealBundle(plain!, await signWithContext(other, SYNC_BUNDLE_CONTEXT, plain!), recipient.x25519Public);
    const openedForged = await openSealed(forged, recipient.x25519Public, recipient.x25519Secret);
    await expect(readBundle(openedForged, sender.ed25519Public, "c1")).rejects.toBeInstanceOf(BundleError);
  });
});

describe("who commits a device change", () => {
  const members = ["alice@x:b", "bob@x:1", "alice@x:a", "alice@x:new", "carol@x:2"];
  it("is the changed device's siblings first, in credential order", () => {
    expect(committerWait(members, "alice@x:new", "alice@x:a")).toBe(0);
    expect(committerWait(members, "alice@x:new", "alice@x:b")).toBe(5000);
  });
  it("is the other members after a grace period, for a user whose devices stay silent", () => {
    expect(committerWait(members, "alice@x:new", "bob@x:1")).toBe(30000);
    expect(committerWait(members, "alice@x:new", "carol@x:2")).toBe(35000);
  });
  it("is the other members at once when the user has no other device in the group", () => {
    expect(committerWait(["alice@x:new", "bob@x:1", "carol@x:2"], "alice@x:new", "bob@x:1")).toBe(0);
    expect(committerWait(["alice@x:new", "bob@x:1", "carol@x:2"], "alice@x:new", "carol@x:2")).toBe(5000);
  });
  it("leaves out the changed device itself and non-members", () => {
    expect(committerWait(["alice@x:gone", "bob@x:1"], "alice@x:gone", "bob@x:1")).toBe(0);
    expect(committerWait(["alice@x:gone", "bob@x:1"], "alice@x:gone", "alice@x:gone")).toBe(-1);
    expect(committerWait(["alice@x:gone", "bob@x:1"], "alice@x:gone", "dave@x:9")).toBe(-1);
  });
});

describe("device labels", () => {
  it("name the browser and the system, nothing more", () => {
    expect(deviceLabel("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36")).toBe("Chrome on Linux");
    expect(deviceLabel("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")).toBe("Safari on iOS");
    expect(deviceLabel("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0")).toBe("Firefox on Windows");
    expect(deviceLabel("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 EdgA/120.0")).toBe("Chrome on Android");
    expect(deviceLabel("curl/8")).toBe("Browser");
  });
});
