import { describe, expect, it } from "vitest";
import { iceServers } from "../src/calls/iceServers";

describe("ICE servers for calls", () => {
  it("uses the instance's TURN server with its short-lived credentials", async () => {
    const servers = await iceServers(async () => ({ urls: ["turn:turn.a.test:3478?transport=udp", "turns:turn.a.test:5349"], username: "1700000000:alice", credential: "c2VjcmV0" }));
    expect(servers).toEqual([{ urls: ["turn:turn.a.test:3478?transport=udp", "turns:turn.a.test:5349"], username: "1700000000:alice", credential: "c2VjcmV0" }]);
  });

  it("has none when the instance runs no TURN, or the API cannot be asked (direct candidates only)", async () => {
    expect(await iceServers(async () => ({ urls: [] }))).toEqual([]);
    expect(await iceServers(() => Promise.reject(new Error("offline")))).toEqual([]);
  });
});
