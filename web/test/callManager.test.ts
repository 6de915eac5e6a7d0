// The call state machine's signal routing, with the real sealing and a stand-in for the
// MLS worker's keys (no browser media here: only what happens before Accept).
import { describe, expect, it } from "vitest";
import { CallManager, type CallDeps } from "../src/calls/call";
import { openSignal, sealSignal, type CallSignal } from "../src/calls/signaling";
import type { ChatKeys } from "../src/mls/api";

const CHAT = "5d0c7f1e-2b1a-4c3d-8e9f-001122334455";
const ALICE = "alice@localhost:dev-a";
const BOB = "bob@localhost:dev-b1";
const BOB_PHONE = "bob@localhost:dev-b2";

function keys(epoch: number): ChatKeys {
  const k = new Uint8Array(32).fill(epoch);
  return { epoch, reactionKey: k, groupNameKey: k, signalingKey: k, mediaFrameKey: k };
}

function manager(me: string, epoch = 3): { calls: CallManager; sent: string[] } {
  const sent: string[] = [];
  const deps: CallDeps = {
    credential: me,
    chatKeys: async (chatId, e) => {
      if (chatId !== CHAT) throw new Error("no such group");
      if (e !== undefined && e !== epoch) throw new Error("epoch not kept");
      return keys(epoch);
    },
    directPeer: (chatId) => (chatId === CHAT ? (me.startsWith("bob") ? "alice@localhost" : "bob@localhost") : null),
    sendSignal: (_chat, payload) => sent.push(payload),
    turn: async () => ({ urls: [] }),
  };
  return { calls: new CallManager(deps), sent };
}

function signal(kind: CallSignal["kind"], from: string, extra: Partial<CallSignal> = {}): CallSignal {
  return { v: 1, kind, callId: "call-1", from, ts: Date.now(), ...extra };
}

const seal = (s: CallSignal, epoch = 3, chat = CHAT) => sealSignal(keys(epoch), chat, s);
const open = (payload: string) => openSignal(keys(3), CHAT, payload);

describe("CallManager signal routing", () => {
  it("rings on the peer's offer and tells the caller's device", async () => {
    const { calls, sent } = manager(BOB);
    await calls.onSignal(CHAT, await seal(signal("offer", ALICE, { sdp: "v=0", video: true })));
    expect(calls.current?.phase).toBe("incoming");
    expect(calls.current?.peer).toBe("alice@localhost");
    expect(calls.current?.video).toBe(true);
    await calls.decline(); // (also clears its timers)
    const out = await Promise.all(sent.map(open));
    expect(out.map((s) => [s.kind, s.to, s.from])).toEqual([
      ["ringing", ALICE, BOB],
      ["decline", ALICE, BOB],
    ]);
    expect(calls.current?.reason).toBe("Declined");
  });

  it("ignores a repeated offer (the caller repeats it for devices woken by a push), also after declining", async () => {
    const { calls, sent } = manager(BOB);
    const offer = await seal(signal("offer", ALICE, { sdp: "v=0" }));
    await calls.onSignal(CHAT, offer);
    await calls.onSignal(CHAT, offer);
    expect(calls.current?.phase).toBe("incoming");
    await calls.decline();
    await calls.onSignal(CHAT, offer); // a repeat already on its way when we declined
    expect(calls.current?.phase).toBe("ended");
    const out = await Promise.all(sent.map(open));
    expect(out.map((s) => s.kind)).toEqual(["ringing", "decline"]);
  });

  it("ignores our own echo, other users, other chats and other epochs", async () => {
    const { calls, sent } = manager(BOB);
    await calls.onSignal(CHAT, await seal(signal("offer", BOB, { sdp: "v=0" })));
    await calls.onSignal(CHAT, await seal(signal("offer", "mallory@localhost:x", { sdp: "v=0" })));
    await calls.onSignal(CHAT, await seal(signal("offer", ALICE, { sdp: "v=0" }), 2));
    await calls.onSignal(CHAT, await seal(signal("offer", ALICE, { sdp: "v=0" }), 3, "another-chat"));
    await calls.onSignal("another-chat", await seal(signal("offer", ALICE, { sdp: "v=0" })));
    expect(calls.current).toBeNull();
    expect(sent).toEqual([]);
  });

  it("stops ringing when another of our devices answers, or the caller hangs up", async () => {
    const { calls } = manager(BOB_PHONE);
    await calls.onSignal(CHAT, await seal(signal("offer", ALICE, { sdp: "v=0" })));
    expect(calls.current?.phase).toBe("incoming");
    await calls.onSignal(CHAT, await seal(signal("answer", BOB, { to: ALICE, sdp: "v=0" })));
    expect(calls.current?.phase).toBe("ended");
    expect(calls.current?.reason).toBe("Answered on another device");

    const other = manager(BOB).calls;
    await other.onSignal(CHAT, await seal(signal("offer", ALICE, { sdp: "v=0" })));
    await other.onSignal(CHAT, await seal(signal("hangup", ALICE)));
    expect(other.current?.reason).toBe("Missed call");
    other.dismiss();
    expect(other.current).toBeNull();
  });

  it("declines a second call as busy and keeps ringing for the first", async () => {
    const { calls, sent } = manager(BOB);
    await calls.onSignal(CHAT, await seal(signal("offer", ALICE, { sdp: "v=0" })));
    await calls.onSignal(CHAT, await seal(signal("offer", "alice@localhost:dev-a2", { sdp: "v=0", callId: "call-2" })));
    expect(calls.current?.callId).toBe("call-1");
    expect(calls.current?.phase).toBe("incoming");
    const last = await open(sent[sent.length - 1]!);
    expect([last.kind, last.callId, last.to]).toEqual(["decline", "call-2", "alice@localhost:dev-a2"]);
    await calls.decline();
  });
});
