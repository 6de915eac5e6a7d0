import { describe, expect, it } from "vitest";
import { epochKeys, senderFrameKey, SenderKeyring, OVERLAP_MS } from "../src/calls/groupKeys";
import { FrameSealer, importFrameKey, openFrame } from "../src/calls/frameCrypto";

const exporter = (b: number): Uint8Array => new Uint8Array(32).fill(b);

describe("group-call sender keys", () => {
  it("differ by sender, epoch, call and exporter, and agree between devices", async () => {
    const base = await senderFrameKey(exporter(1), "room-1", 5, 0);
    expect(base).toHaveLength(32);
    expect(await senderFrameKey(exporter(1), "room-1", 5, 0)).toEqual(base);
    for (const other of [
      await senderFrameKey(exporter(1), "room-1", 5, 1),
      await senderFrameKey(exporter(1), "room-1", 6, 0),
      await senderFrameKey(exporter(1), "room-2", 5, 0),
      await senderFrameKey(exporter(2), "room-1", 5, 0),
    ]) {
      expect(other).not.toEqual(base);
    }
  });

  it("a frame sealed with one sender's key opens only with that sender's key of that epoch", async () => {
    const keys = await epochKeys(exporter(3), "room", 7, [0, 1, 2]);
    const alice = await importFrameKey(keys.get(0)!);
    const bob = await importFrameKey(keys.get(1)!);
    const frame = new Uint8Array(200).fill(9);
    const sealed = await new FrameSealer(alice, 0).seal(frame, 3);
    expect(await openFrame(alice, sealed)).toEqual(frame);
    await expect(openFrame(bob, sealed)).rejects.toThrow();
    const next = await importFrameKey((await epochKeys(exporter(4), "room", 8, [0])).get(0)!);
    await expect(openFrame(next, sealed)).rejects.toThrow();
  });

  it("the keyring keeps the previous epoch's key for the overlap only", () => {
    let now = 1000;
    const ring = new SenderKeyring<string>(() => now);
    ring.install(1, new Map([[0, "a1"], [1, "b1"]]));
    expect(ring.candidates(0)).toEqual(["a1"]);
    ring.install(2, new Map([[0, "a2"]])); // leaf 1 left
    expect(ring.candidates(0)).toEqual(["a2", "a1"]);
    expect(ring.candidates(1)).toEqual(["b1"]);
    now += OVERLAP_MS + 1;
    expect(ring.candidates(0)).toEqual(["a2"]);
    expect(ring.candidates(1)).toEqual([]);
  });
});
