import { describe, expect, it } from "vitest";
import { bytesEqual, fromUtf8, toHex, utf8 } from "../src/crypto/encoding";
import { generateDeviceSecrets, type DeviceSecrets } from "../src/crypto/identity";
import {
  addMembers,
  createGroupState,
  decodeState,
  encodeState,
  encryptApplication,
  exportSecret,
  generateKeyPackage,
  groupEpoch,
  joinFromWelcome,
  members,
  receive,
  removeMembers,
  selfUpdate,
  type GeneratedKeyPackage,
} from "../src/mls/engine";
import { KEYPACKAGE_PREFIX } from "../src/mls/suite";
import { encodePayload } from "../src/crypto/payload";
import type { ClientState } from "ts-mls";

async function device(user: string, id: string): Promise<{ secrets: DeviceSecrets; kp: GeneratedKeyPackage }> {
  const secrets = await generateDeviceSecrets(user, id);
  return { secrets, kp: await generateKeyPackage(secrets) };
}

async function readApp(state: ClientState, msg: Uint8Array): Promise<{ state: ClientState; text: string }> {
  const r = await receive(state, msg);
  if (r.kind !== "application") throw new Error("expected application message");
  return { state: r.state, text: fromUtf8(r.plaintext) };
}

describe("MLS with suite 0xF00C", () => {
  it("encodes KeyPackages with mls10, mls_key_package, suite f0 0c", async () => {
    const { kp } = await device("alice@example.org", "dev-a");
    expect(toHex(kp.encoded.subarray(0, 8))).toBe("000100050001f00c");
    expect(bytesEqual(kp.encoded.subarray(0, 8), KEYPACKAGE_PREFIX)).toBe(true);
    expect(kp.encoded.length).toBeGreaterThan(3000); // carries an ML-KEM-1024 init key
  });

  it("runs a 3-member group: add, message, exporter, remove, removed member locked out", async () => {
    const alice = await device("alice@example.org", "dev-a");
    const bob = await device("bob@example.org", "dev-b");
    const carol = await device("carol@other.example", "dev-c");

    let a = await createGroupState(utf8("chat-1"), alice.kp);
    const added = await addMembers(a, [bob.kp.encoded, carol.kp.encoded]);
    a = added.state;
    expect(added.welcome).toBeDefined();
    let b = (await joinFromWelcome(added.welcome!, [bob.kp])).state;
    let c = (await joinFromWelcome(added.welcome!, [carol.kp])).state;
    expect(groupEpoch(a)).toBe(1n);
    expect(groupEpoch(b)).toBe(1n);
    expect(members(a).map((m) => m.identity)).toEqual([
      "alice@example.org:dev-a",
      "bob@example.org:dev-b",
      "carol@other.example:dev-c",
    ]);

    // Exporter: same on every member within an epoch.
    const ea = await exportSecret(a, "talkee-reaction-v1");
    const eb = await exportSecret(b, "talkee-reaction-v1");
    const ec = await exportSecret(c, "talkee-reaction-v1");
    expect(ea.length).toBe(32);
    expect(toHex(eb)).toBe(toHex(ea));
    expect(toHex(ec)).toBe(toHex(ea));

    const hello = await encryptApplication(a, utf8("hello group"));
    a = hello.state;
    ({ state: b } = await readApp(b, hello.message).then((r) => {
      expect(r.text).toBe("hello group");
      return r;
    }));
    const direct = await receive(c, hello.message);
    if (direct.kind !== "application") throw new Error("expected application message");
    expect(direct.senderIdentity).toBe("alice@example.org:dev-a");
    expect(fromUtf8(direct.plaintext)).toBe("hello group");
    c = direct.state;

    // Bob removes Carol; everyone but Carol moves to epoch 2.
    const removal = await removeMembers(b, ["carol@other.example:dev-c"]);
    b = removal.state;
    const aProcessed = await receive(a, removal.commit);
    a = aProcessed.state;
    expect(groupEpoch(a)).toBe(2n);
    const cProcessed = await receive(c, removal.commit);
    expect(cProcessed.kind === "handshake" && cProcessed.removed).toBe(true);
    c = cProcessed.state;

    const ea2 = await exportSecret(a, "talkee-reaction-v1");
    expect(toHex(ea2)).not.toBe(toHex(ea));
    expect(toHex(await exportSecret(b, "talkee-reaction-v1"))).toBe(toHex(ea2));

    const secret = await encryptApplication(a, utf8("carol must not read this"));
    a = secret.state;
    expect((await readApp(b, secret.message)).text).toBe("carol must not read this");
    await expect(receive(c, secret.message)).rejects.toThrow();
  });

  it("restores an encoded state that decrypts the next message and can commit", async () => {
    const alice = await device("alice@example.org", "dev-a");
    const bob = await device("bob@example.org", "dev-b");
    let a = await createGroupState(utf8("chat-2"), alice.kp);
    const added = await addMembers(a, [bob.kp.encoded]);
    a = added.state;
    const b0 = (await joinFromWelcome(added.welcome!, [bob.kp])).state;

    const bytes = encodeState(b0);
    let b = decodeState(bytes);
    const msg = await encryptApplication(a, utf8("after restore"));
    a = msg.state;
    const read = await readApp(b, msg.message);
    b = read.state;
    expect(read.text).toBe("after restore");

    const update = await selfUpdate(b);
    b = update.state;
    a = (await receive(a, update.commit)).state;
    expect(groupEpoch(a)).toBe(2n);
    expect(toHex(await exportSecret(a, "x"))).toBe(toHex(await exportSecret(b, "x")));
  });

  it("refuses a Welcome for somebody else's KeyPackage", async () => {
    const alice = await device("alice@example.org", "dev-a");
    const bob = await device("bob@example.org", "dev-b");
    const mallory = await device("mallory@example.org", "dev-m");
    const a = await createGroupState(utf8("chat-3"), alice.kp);
    const added = await addMembers(a, [bob.kp.encoded]);
    await expect(joinFromWelcome(added.welcome!, [mallory.kp])).rejects.toThrow(/not addressed/);
  });

  it("hides payload length: same bucket, same ciphertext size", async () => {
    const alice = await device("alice@example.org", "dev-a");
    let a = await createGroupState(utf8("chat-4"), alice.kp);
    const sizes: number[] = [];
    for (const text of ["a", "a".repeat(8), "a".repeat(150), "a".repeat(180), "a".repeat(900)]) {
      const out = await encryptApplication(a, encodePayload({ _v: 1, sender: "alice@example.org:dev-a", text }));
      a = out.state;
      sizes.push(out.message.length);
    }
    expect(sizes[0]).toBe(sizes[1]); // both in the 64 B bucket
    expect(sizes[2]).toBe(sizes[3]); // both in the 256 B bucket
    expect(sizes[2]! - sizes[0]!).toBe(256 - 64);
    expect(sizes[4]! - sizes[0]!).toBe(1024 - 64);
  });
});
