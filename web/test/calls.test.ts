import { describe, expect, it } from "vitest";
import { FrameSealer, IV_BYTES, TRAILER_BYTES, TAG_BYTES, clearHeaderBytes, importFrameKey, openFrame } from "../src/calls/frameCrypto";
import { openSignal, sealSignal, signalEpoch, SignalRejected, type CallSignal } from "../src/calls/signaling";
import { fromBase64, fromUtf8, toBase64 } from "../src/crypto/encoding";

const CHAT = "3f1c8a52-7a43-4c51-9d4e-0d6c1f5e9a01";
const OTHER_CHAT = "9b2d1e33-1111-4c51-9d4e-0d6c1f5e9a02";
const keysAt = (epoch: number, fill: number) => ({ epoch, signalingKey: new Uint8Array(32).fill(fill) });

function offer(ts = Date.now()): CallSignal {
  return { v: 1, kind: "offer", callId: "c-1", from: "alice@localhost:dev-a", sdp: "v=0\r\na=candidate:1 1 udp 1 192.0.2.2 5000 typ host", video: true, ts };
}

describe("call signalling", () => {
  it("seals a signal that opens with the same chat's key of the same epoch", async () => {
    const keys = keysAt(7, 1);
    const payload = await sealSignal(keys, CHAT, offer());
    expect(signalEpoch(payload)).toBe(7);
    const opened = await openSignal(keys, CHAT, payload);
    expect(opened.kind).toBe("offer");
    expect(opened.from).toBe("alice@localhost:dev-a");
    expect(opened.sdp).toContain("a=candidate");
  });

  it("hides the SDP from whoever relays the payload", async () => {
    const payload = await sealSignal(keysAt(7, 1), CHAT, offer());
    const relayed = fromUtf8(fromBase64(payload).map((b) => (b < 32 || b > 126 ? 46 : b)));
    expect(payload).not.toMatch(/v=0|candidate|alice/);
    expect(relayed).not.toMatch(/v=0|candidate|alice/);
  });

  it("rejects a signal from another epoch", async () => {
    const payload = await sealSignal(keysAt(7, 1), CHAT, offer());
    await expect(openSignal(keysAt(8, 2), CHAT, payload)).rejects.toBeInstanceOf(SignalRejected);
    // An epoch header rewritten to the receiver's epoch does not help: the key is another.
    const bytes = fromBase64(payload);
    new DataView(bytes.buffer, bytes.byteOffset, 4).setUint32(0, 8);
    await expect(openSignal(keysAt(8, 2), CHAT, toBase64(bytes))).rejects.toBeInstanceOf(SignalRejected);
  });

  it("rejects a signal sealed for another chat, even under the same key", async () => {
    const keys = keysAt(7, 1);
    const payload = await sealSignal(keys, OTHER_CHAT, offer());
    await expect(openSignal(keys, CHAT, payload)).rejects.toThrow(/does not open/);
  });

  it("rejects altered, truncated, non-base64 and stale payloads", async () => {
    const keys = keysAt(7, 1);
    const bytes = fromBase64(await sealSignal(keys, CHAT, offer()));
    bytes[bytes.length - 1]! ^= 1;
    await expect(openSignal(keys, CHAT, toBase64(bytes))).rejects.toBeInstanceOf(SignalRejected);
    await expect(openSignal(keys, CHAT, "AAA")).rejects.toBeInstanceOf(SignalRejected);
    await expect(openSignal(keys, CHAT, "%%%")).rejects.toBeInstanceOf(SignalRejected);
    const old = await sealSignal(keys, CHAT, offer(Date.now() - 10 * 60_000));
    await expect(openSignal(keys, CHAT, old)).rejects.toThrow(/stale/);
  });
});

describe("media frame encryption", () => {
  const raw = new Uint8Array(32).fill(5);

  it("keeps the codec header in clear, authenticates it, and round-trips the frame", async () => {
    const key = await importFrameKey(raw);
    const sealer = new FrameSealer(key, 0);
    const frame = new Uint8Array(200).map((_, i) => (i * 7) & 0xff);
    const sealed = await sealer.seal(frame, clearHeaderBytes("video", "key"));
    expect(sealed.length).toBe(200 + TAG_BYTES + TRAILER_BYTES);
    expect([...sealed.subarray(0, 10)]).toEqual([...frame.subarray(0, 10)]);
    expect([...sealed.subarray(10, 200)]).not.toEqual([...frame.subarray(10, 200)]);
    expect([...(await openFrame(key, sealed))]).toEqual([...frame]);
    const tampered = sealed.slice();
    tampered[2]! ^= 0x40; // a header bit: AAD, so the frame no longer opens
    await expect(openFrame(key, tampered)).rejects.toThrow(/does not decrypt/);
    await expect(openFrame(await importFrameKey(new Uint8Array(32).fill(6)), sealed)).rejects.toThrow(/does not decrypt/);
  });

  it("never repeats an IV: a counter per sender, and the role bit apart", async () => {
    const key = await importFrameKey(raw);
    const same = new Uint8Array(8).fill(0xaa);
    const caller = new FrameSealer(key, 0, same);
    const callee = new FrameSealer(key, 1, same);
    const ivs = new Set<string>();
    for (let i = 0; i < 50; i++) {
      ivs.add(toBase64(caller.nextIv()));
      ivs.add(toBase64(callee.nextIv()));
    }
    expect(ivs.size).toBe(100);
    const iv = (await caller.seal(new Uint8Array(20), 1)).subarray(-TRAILER_BYTES, -1);
    expect(iv.length).toBe(IV_BYTES);
    expect(new DataView(iv.buffer, iv.byteOffset).getUint32(8)).toBe(50); // the 51st frame of this sender
  });
});
