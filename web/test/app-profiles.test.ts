import { describe, expect, it } from "vitest";
import type { Frame, WireMessage } from "../src/api/client";
import { fromBase64 } from "../src/crypto/encoding";
import { FakeServer, FakeWorker, joinedChat, payloadOf, settleDown, testApp, type TestApp } from "./support/app";

const ALICE = "alice@a.test:dev-a";
const BOB = "bob@a.test:dev-b";
const CAROL = "carol@a.test:dev-c";

const event = (message: WireMessage): Frame => ({ type: "event", cursor: message.id, chat_id: message.chat_id, message });
const deliver = (app: TestApp, frame: Frame): Promise<void> => app.ctx.lock.run(() => app.inbound.onFrame(frame));

/** Alice and Bob, each with their own app over one server, in a direct chat both hold. */
async function setUp() {
  const server = new FakeServer("a.test");
  const aliceWorker = new FakeWorker(ALICE);
  const bobWorker = new FakeWorker(BOB);
  const alice = await testApp(server, aliceWorker);
  const bob = await testApp(server, bobWorker);
  await joinedChat(alice, server, aliceWorker, "c1", ["alice@a.test", "bob@a.test"]);
  aliceWorker.groups.get("c1")!.members.push(BOB);
  await joinedChat(bob, server, bobWorker, "c1", ["alice@a.test", "bob@a.test"]);
  bobWorker.groups.get("c1")!.members.push(ALICE);
  return { server, aliceWorker, alice, bob };
}

/** What Alice's app sent into the chat with a profile key in it. */
function shares(server: FakeServer): WireMessage[] {
  return (server.stored.get("c1") ?? []).filter((m) => m.ciphertext !== null && payloadOf(m.ciphertext).payload["profile_key"] !== undefined);
}

async function setName(app: TestApp, server: FakeServer, user: string, name: string): Promise<void> {
  server.profileCaller = user;
  await app.profiles.setName(name);
  await app.profiles.shareAll();
}

describe("profiles", () => {
  it("Alice's name reaches Bob through a key shared in the chat; the server holds only ciphertext", async () => {
    const { server, alice, bob } = await setUp();
    await setName(alice, server, "alice@a.test", "  Alice\u202E Liddell ");
    expect(alice.profiles.ownName).toBe("Alice Liddell");
    const stored = server.profiles.get("alice@a.test")!;
    expect(stored.version).toBe(1);
    expect(new TextDecoder("latin1").decode(fromBase64(stored.ciphertext))).not.toContain("Liddell");
    const sent = shares(server);
    expect(sent).toHaveLength(1);
    // The key travels only inside the (MLS) message, never to the profile endpoint.
    expect(JSON.stringify([...server.profiles.values()])).not.toContain((payloadOf(sent[0]!.ciphertext!).payload["profile_key"] as { key: string }).key);

    expect(bob.chats.title(bob.store.chats.get("c1")!)).toBe("alice");
    server.profileCaller = "bob@a.test";
    await deliver(bob, event(sent[0]!));
    await settleDown();
    expect(bob.profiles.nameOf("alice@a.test")).toBe("Alice Liddell");
    expect(bob.chats.title(bob.store.chats.get("c1")!)).toBe("Alice Liddell");
    // A control message, not a line in the conversation, and no unread count.
    expect(bob.store.messagesOf("c1")).toHaveLength(0);
    expect(bob.store.chats.get("c1")!.unread).toBe(0);
    // Kept in the vault: a reload still knows it.
    const reloaded = await testApp(server, (bob.ctx.mls as unknown as FakeWorker));
    expect(reloaded.profiles.nameOf("alice@a.test")).toBe("Alice Liddell");
  });

  it("a changed name goes out as a new version, and Bob shows the new one", async () => {
    const { server, alice, bob } = await setUp();
    await setName(alice, server, "alice@a.test", "Alice");
    server.profileCaller = "bob@a.test";
    await deliver(bob, event(shares(server)[0]!));
    await settleDown();
    await setName(alice, server, "alice@a.test", "Alice L.");
    expect(server.profiles.get("alice@a.test")!.version).toBe(2);
    const sent = shares(server);
    expect(sent).toHaveLength(2);
    server.profileCaller = "bob@a.test";
    await deliver(bob, event(sent[1]!));
    await settleDown();
    expect(bob.profiles.nameOf("alice@a.test")).toBe("Alice L.");
    // An old share replayed takes nothing back.
    await deliver(bob, event(sent[0]!));
    await settleDown();
    expect(bob.profiles.nameOf("alice@a.test")).toBe("Alice L.");
  });

  it("the key goes out again only to a group that gained a leaf", async () => {
    const { server, aliceWorker, alice } = await setUp();
    await setName(alice, server, "alice@a.test", "Alice");
    await alice.profiles.shareAll();
    expect(shares(server)).toHaveLength(1); // nothing new: not sent again
    aliceWorker.groups.get("c1")!.members.push(CAROL);
    await alice.profiles.shareAll();
    expect(shares(server)).toHaveLength(2);
    // Someone leaving needs nothing.
    aliceWorker.groups.get("c1")!.members = [ALICE, CAROL];
    await alice.profiles.shareAll();
    expect(shares(server)).toHaveLength(2);
  });

  it("a version the server already has is gone past (another device of ours set one)", async () => {
    const { server, alice } = await setUp();
    server.profiles.set("alice@a.test", { user: "alice@a.test", version: 7, ciphertext: "AAAA" });
    await setName(alice, server, "alice@a.test", "Alice");
    expect(server.profiles.get("alice@a.test")!.version).toBe(8);
  });

  it("a profile that does not open under the shared key leaves the address shown", async () => {
    const { server, alice, bob } = await setUp();
    await setName(alice, server, "alice@a.test", "Alice");
    // The server swaps in another ciphertext for the same version.
    server.profiles.set("alice@a.test", { user: "alice@a.test", version: 1, ciphertext: server.profiles.get("alice@a.test")!.ciphertext.replace(/^./, (c) => (c === "A" ? "B" : "A")) });
    server.profileCaller = "bob@a.test";
    await deliver(bob, event(shares(server)[0]!));
    await settleDown();
    expect(bob.profiles.nameOf("alice@a.test")).toBeNull();
    expect(bob.chats.title(bob.store.chats.get("c1")!)).toBe("alice");
  });
});
