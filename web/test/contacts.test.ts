// Trust on first use, then warnings (src/app/contacts.ts): which chats hear that a contact's
// identity key or devices changed, the send gate in a verified chat, and the QR code that
// carries the safety number (drawn with qrcode, read back with jsQR as the camera does).
// The worker is the real MlsService over fake-indexeddb (pins), the certificates are real;
// the server's listing is a plain function (the outside world).
import "fake-indexeddb/auto";
import type { Remote } from "comlink";
import QRCode from "qrcode";
import { describe, expect, it } from "vitest";
import { Contacts, contactChanges, devicesSummary, localNoticeText, sendGate, type ListedDevices } from "../src/app/contacts";
import { AppStore, type ChatRecord } from "../src/app/store";
import { verifySafetyNumber } from "../src/app/trust";
import { newRecoveryMnemonic } from "../src/crypto/recovery";
import { matchesSafetyNumber, parseSafetyQr, safetyNumber, safetyQrPayload } from "../src/identity/safetyNumber";
import type { MlsWorkerApi } from "../src/mls/api";
import { MlsService } from "../src/mls/service";
import { readQr } from "../src/ui/safetyQr";
import { FakeWorker } from "./support/app";

let n = 0;
async function device(user: string, mnemonic: string) {
  const svc = new MlsService();
  const deviceId = crypto.randomUUID();
  await svc.setupDevice({ password: "correct horse battery", user, deviceId, dbName: `contacts-${++n}` });
  const identity = await svc.adoptIdentity(user, mnemonic);
  const [kp] = await svc.makeKeyPackages(1);
  return { svc, deviceId, identity, kp: kp! };
}
type Device = Awaited<ReturnType<typeof device>>;

function listing(devices: Device[]): ListedDevices {
  return {
    identity_key: devices[0]?.identity.identityKey ?? null,
    devices: devices.map((d) => ({ client_device_id: d.deviceId, certificate: d.identity.certificate })),
  };
}

function chat(id: string, kind: ChatRecord["kind"], users: string[], over: Partial<ChatRecord> = {}): ChatRecord {
  return {
    id, kind, name: null, nameEpoch: 0, members: users.map((user) => ({ user, role: "member" })), role: "member",
    favourite: false, unread: 0, lastText: "", lastAt: 0, ttlSeconds: null, joined: true, removed: false, ...over,
  };
}

async function setUp() {
  const alice = await device("alice@a.test", newRecoveryMnemonic());
  const bobPhrase = newRecoveryMnemonic();
  const bob = await device("bob@a.test", bobPhrase);
  // First contact: Alice's worker pins Bob's key when his device is admitted.
  await alice.svc.checkDevice({ user: "bob@a.test", clientDeviceId: bob.deviceId, identityKey: bob.identity.identityKey, certificate: bob.identity.certificate, keyPackage: bob.kp });
  const store = new AppStore(new FakeWorker("alice@a.test:a") as unknown as Remote<MlsWorkerApi>);
  for (const c of [
    chat("direct-verified", "direct", ["alice@a.test", "bob@a.test"]),
    chat("group", "group", ["alice@a.test", "bob@a.test", "carol@a.test"]),
    chat("other", "direct", ["alice@a.test", "carol@a.test"]),
    chat("left", "group", ["alice@a.test", "bob@a.test"], { removed: true }),
  ]) store.chats.set(c.id, c);
  const events: string[] = [];
  const ctx = { store, user: "alice@a.test", domain: "a.test", emit: (kind: string, chatId?: string) => void events.push(`${kind}:${chatId ?? ""}`) };
  let listed: ListedDevices = listing([bob]);
  const contacts = new Contacts({
    ctx,
    listDevices: async () => listed,
    pinned: (user) => alice.svc.pinnedIdentity(user),
    repin: (user, key) => alice.svc.repinIdentity(user, key),
    minInterval: 0,
  });
  // The worker as the app sees it (comlink's Remote of the same service).
  const trustCtx = { store, user: "alice@a.test", domain: "a.test", emit: ctx.emit, mls: alice.svc as unknown as Remote<MlsWorkerApi> };
  // Alice compared numbers with Bob in their direct chat.
  const ours = (await safetyNumber({ address: "alice@a.test", identityKey: b64(alice.identity.identityKey) }, { address: "bob@a.test", identityKey: b64(bob.identity.identityKey) }));
  expect(await verifySafetyNumber(trustCtx, "direct-verified", "bob@a.test", ours)).toBe(true);
  return { alice, bob, bobPhrase, store, contacts, events, trustCtx, setListed: (l: ListedDevices) => (listed = l) };
}

function b64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

const notices = (store: AppStore, chatId: string): string[] =>
  store.messagesOf(chatId).flatMap((m) => (m.local === undefined ? [] : [localNoticeText(m.local, "a.test")]));

describe("the safety number's QR code", () => {
  it("carries the 60 digits and reads back only as a Talkee code", async () => {
    const digits = "0123456789".repeat(6);
    const payload = safetyQrPayload(digits);
    expect(payload).toBe(`talkee-sn:1:${digits}`);
    expect(parseSafetyQr(payload)).toBe(digits);
    expect(parseSafetyQr(`  ${payload}\n`)).toBe(digits);
    for (const bad of ["https://example.com", digits, `talkee-sn:1:${digits.slice(1)}`, `talkee-sn:2:${digits}`, `talkee-sn:1:${digits}0`]) {
      expect(parseSafetyQr(bad)).toBeNull();
    }
    expect(() => safetyQrPayload("123")).toThrow(RangeError);
    expect(matchesSafetyNumber(digits, payload)).toBe(true);
    expect(matchesSafetyNumber(digits, safetyQrPayload("1" + digits.slice(1)))).toBe(false);
  });

  it("is drawn by qrcode and read back by jsQR (as the camera scanner does), both sides comparing the same number", async () => {
    const alice = { address: "alice@a.test", identityKey: new Uint8Array(32).fill(1) };
    const bob = { address: "bob@a.test", identityKey: new Uint8Array(32).fill(2) };
    const operator = { address: "bob@a.test", identityKey: new Uint8Array(32).fill(3) };
    const aliceSees = await safetyNumber(alice, bob);
    const bobShows = await safetyNumber(bob, alice);
    const read = readQr(...render(safetyQrPayload(bobShows)));
    expect(read).toBe(safetyQrPayload(bobShows));
    expect(matchesSafetyNumber(aliceSees, read!)).toBe(true);
    // Bob's real code against the number Alice's client computed with a swapped key: differs.
    expect(matchesSafetyNumber(await safetyNumber(alice, operator), read!)).toBe(false);
  });
});

/** The QR code's modules as RGBA pixels (4 px a module, a 4-module quiet zone). */
function render(text: string): [Uint8ClampedArray, number, number] {
  const qr = QRCode.create(text, { errorCorrectionLevel: "M" });
  const size = qr.modules.size;
  const scale = 4;
  const quiet = 4;
  const width = (size + 2 * quiet) * scale;
  const pixels = new Uint8ClampedArray(width * width * 4).fill(255);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!qr.modules.get(x, y)) continue;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const at = (((y + quiet) * scale + dy) * width + (x + quiet) * scale + dx) * 4;
          pixels[at] = pixels[at + 1] = pixels[at + 2] = 0;
        }
      }
    }
  }
  return [pixels, width, width];
}

describe("what changed about a contact", () => {
  const key = (k: string, ...ids: string[]) => ({ identityKey: k, devices: Object.fromEntries(ids.map((id, i) => [id, 1_700_000_000 + i])) });

  it("says a key change once, against the last key seen or else the pinned one", () => {
    expect(contactChanges(undefined, key("K1", "d1"), null)).toEqual([]);
    expect(contactChanges(undefined, key("K1", "d1"), "K1")).toEqual([]);
    expect(contactChanges(undefined, key("K2", "d1"), "K1")).toEqual(["identity-changed"]);
    expect(contactChanges(key("K1", "d1"), key("K2", "d1"), "K1")).toEqual(["identity-changed"]);
    expect(contactChanges(key("K2", "d1"), key("K2", "d1"), "K1")).toEqual([]);
    expect(contactChanges(key("K1", "d1"), { identityKey: null, devices: {} }, "K1")).toEqual(["identity-changed"]);
  });

  it("says each certified device added or removed, from the second look on", () => {
    expect(contactChanges(key("K1", "d1"), key("K1", "d1", "d2"), "K1")).toEqual(["device-added"]);
    expect(contactChanges(key("K1", "d1", "d2"), key("K1", "d2"), "K1")).toEqual(["device-removed"]);
    expect(contactChanges(key("K1", "d1"), key("K1", "d2"), "K1")).toEqual(["device-added", "device-removed"]);
  });

  it("summarises a member's devices by their certificates' ages", () => {
    const now = Date.UTC(2026, 11, 4);
    const s = now / 1000;
    expect(devicesSummary([s - 10 * 86400, s - 3 * 86400], now)).toBe("2 devices · newest added 3 days ago");
    expect(devicesSummary([s - 7200], now)).toBe("1 device · added 2 hours ago");
    expect(devicesSummary([s - 5], now)).toBe("1 device · added just now");
    expect(devicesSummary([], now)).toBe("no certified devices");
  });
});

describe("notices in the chats with a contact", () => {
  it("a new device of Bob's shows in every chat with Bob (not in others, not in one we left); removing it too", async () => {
    const { bob, bobPhrase, store, contacts, setListed } = await setUp();
    await contacts.check("bob@a.test");
    expect(notices(store, "group")).toEqual([]); // the first look only remembers
    const bob2 = await device("bob@a.test", bobPhrase);
    setListed(listing([bob, bob2]));
    await contacts.check("bob@a.test");
    expect(notices(store, "direct-verified")).toEqual(["bob added a device"]);
    expect(notices(store, "group")).toEqual(["bob added a device"]);
    expect(notices(store, "other")).toEqual([]);
    expect(notices(store, "left")).toEqual([]);
    // A device the server lists without a valid certificate (a ghost) is no device of Bob's.
    setListed({ ...listing([bob, bob2]), devices: [...listing([bob, bob2]).devices, { client_device_id: "ghost", certificate: null }] });
    await contacts.check("bob@a.test");
    expect(notices(store, "group")).toEqual(["bob added a device"]);
    setListed(listing([bob]));
    await contacts.check("bob@a.test");
    expect(notices(store, "group")).toEqual(["bob added a device", "bob removed a device"]);
    expect(store.chats.get("direct-verified")!.verified).toBeDefined(); // devices do not change the safety number
  });

  it("a swapped identity key: the notice in every chat with Bob, the badge gone, the verified chat's sends held until acknowledged", async () => {
    const { alice, bob, store, contacts, events, setListed } = await setUp();
    await contacts.check("bob@a.test");
    const operator = await device("bob@a.test", newRecoveryMnemonic());
    const pinnedBefore = await alice.svc.pinnedIdentity("bob@a.test");
    setListed({ identity_key: operator.identity.identityKey, devices: [{ client_device_id: bob.deviceId, certificate: operator.identity.certificate }] });
    await contacts.check("bob@a.test");
    expect(notices(store, "direct-verified")).toEqual(["bob's safety number changed"]);
    expect(notices(store, "group")).toEqual(["bob's safety number changed"]);
    expect(notices(store, "other")).toEqual([]);
    const direct = store.chats.get("direct-verified")!;
    const group = store.chats.get("group")!;
    expect(direct.verified).toBeUndefined();
    expect(sendGate(direct, "a.test")).toBe("bob's safety number changed — send anyway?");
    expect(sendGate(group, "a.test")).toBeNull(); // never verified: nothing to wait for
    expect(events).toContain("messages:group");
    // Said once: looking again finds nothing new.
    await contacts.check("bob@a.test");
    expect(notices(store, "direct-verified")).toHaveLength(1);
    // The old key stays pinned until the user accepts the new one.
    expect(await alice.svc.pinnedIdentity("bob@a.test")).toBe(pinnedBefore);
    // "Send anyway": the new key is pinned, sends go.
    await contacts.acknowledge("direct-verified");
    expect(sendGate(direct, "a.test")).toBeNull();
    expect(await alice.svc.pinnedIdentity("bob@a.test")).toBe(operator.identity.identityKey);
    // The notice survives a reload (sealed in the vault with the messages).
    const reloaded = new AppStore((store as unknown as { mls: Remote<MlsWorkerApi> }).mls);
    await reloaded.load();
    expect(notices(reloaded, "group")).toEqual(["bob's safety number changed"]);
    expect(reloaded.contacts.get("bob@a.test")!.identityKey).toBe(operator.identity.identityKey);
  });

  it("verifying again compares with the new key's number: a mismatch keeps the old pin and the hold, a match pins and lets sends go", async () => {
    const { alice, bob, store, contacts, trustCtx, setListed } = await setUp();
    await contacts.check("bob@a.test");
    const oldPin = await alice.svc.pinnedIdentity("bob@a.test");
    const bobNew = await device("bob@a.test", newRecoveryMnemonic()); // Bob really made a new key
    setListed(listing([bobNew]));
    await contacts.check("bob@a.test");
    const direct = store.chats.get("direct-verified")!;
    expect(direct.held).toBe("bob@a.test");
    const candidate = await contacts.candidateKey("bob@a.test");
    expect(candidate).toBe(bobNew.identity.identityKey);
    const number = (key: string) => safetyNumber({ address: "bob@a.test", identityKey: b64(key) }, { address: "alice@a.test", identityKey: b64(alice.identity.identityKey) });
    // Bob's old number (what an attacker's swap would leave him showing): unsafe, nothing pinned, still held.
    expect(await verifySafetyNumber(trustCtx, "direct-verified", "bob@a.test", await number(bob.identity.identityKey), candidate!)).toBe(false);
    expect(direct.unsafe).toBeDefined();
    expect(await alice.svc.pinnedIdentity("bob@a.test")).toBe(oldPin);
    expect(sendGate(direct, "a.test")).not.toBeNull();
    // Bob's number with his new key, scanned from his QR code: verified, pinned, sends go.
    expect(await verifySafetyNumber(trustCtx, "direct-verified", "bob@a.test", safetyQrPayload(await number(bobNew.identity.identityKey)), candidate!)).toBe(true);
    expect(await alice.svc.pinnedIdentity("bob@a.test")).toBe(bobNew.identity.identityKey);
    expect(await contacts.candidateKey("bob@a.test")).toBeNull();
    expect(direct.held).toBeUndefined();
    expect(direct.unsafe).toBeUndefined();
    expect(sendGate(direct, "a.test")).toBeNull();
  });
});
