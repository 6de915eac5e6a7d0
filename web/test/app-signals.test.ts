import { describe, expect, it } from "vitest";
import { Signals, TYPING_MS } from "../src/app/signals";

function setUp() {
  let now = 1_000_000;
  const calls: [string, string][] = [];
  const changes: [string, string | undefined][] = [];
  const refused: string[] = [];
  const signals = new Signals({
    user: "alice@a.test",
    onCall: (chatId, payload) => calls.push([chatId, payload]),
    onCallRefused: (chatId) => refused.push(chatId),
    changed: (kind, chatId) => changes.push([kind, chatId]),
    now: () => now,
  });
  return { signals, calls, changes, refused, advance: (ms: number) => (now += ms) };
}

describe("signals", () => {
  it("routes a call signal to the call manager with its chat, and nothing else there", () => {
    const { signals, calls } = setUp();
    signals.route({ type: "call", chat_id: "c1", payload: "sealed" });
    signals.route({ type: "call", chat_id: "c1" }); // no payload
    signals.route({ type: "call", payload: "sealed" }); // no chat
    signals.route({ type: "typing", chat_id: "c1", user: "bob@a.test" });
    expect(calls).toEqual([["c1", "sealed"]]);
  });

  it("tells the call manager which chat's call the server refused (blocked), only for that error", () => {
    const { signals, refused, calls } = setUp();
    signals.route({ type: "error", code: "not_accepted", message: "no", chat_id: "c1" });
    signals.route({ type: "error", code: "chat_not_found", message: "no", chat_id: "c2" });
    signals.route({ type: "error", code: "not_accepted", message: "no" }); // no chat named
    expect(refused).toEqual(["c1"]);
    expect(calls).toEqual([]);
  });

  it("shows who is typing until it lapses, never ourselves", () => {
    const { signals, changes, advance } = setUp();
    signals.route({ type: "typing", chat_id: "c1", user: "alice@a.test" });
    expect(signals.typingUsers("c1")).toEqual([]);
    signals.route({ type: "typing", chat_id: "c1", user: "bob@a.test" });
    expect(signals.typingUsers("c1")).toEqual(["bob@a.test"]);
    expect(signals.typingUsers("c2")).toEqual([]);
    expect(changes).toEqual([["typing", "c1"]]);
    advance(TYPING_MS + 1);
    expect(signals.typingUsers("c1")).toEqual([]);
  });

  it("stops showing someone typing once their message arrives", () => {
    const { signals } = setUp();
    signals.route({ type: "typing", chat_id: "c1", user: "bob@a.test" });
    signals.stoppedTyping("c1", "bob@a.test");
    expect(signals.typingUsers("c1")).toEqual([]);
  });

  it("keeps the minute it saw someone go away", () => {
    const { signals, advance } = setUp();
    signals.route({ type: "presence", user: "bob@a.test", state: "online" });
    advance(60_000);
    signals.route({ type: "presence", user: "bob@a.test", state: "offline", last_seen: "2026-01-01T10:00:00Z" });
    expect(signals.presence.get("bob@a.test")).toEqual({ state: "offline", lastSeen: new Date(1_060_000).toISOString(), exact: true });
  });
});
