import { describe, expect, it } from "vitest";
import { rms, THRESHOLD } from "../src/calls/speaking";

describe("speaking", () => {
  it("counts a voice-level signal as speaking, silence and hiss not", () => {
    const tone = Float32Array.from({ length: 512 }, (_, i) => 0.2 * Math.sin((2 * Math.PI * i) / 48));
    const hiss = Float32Array.from({ length: 512 }, (_, i) => (i % 2 === 0 ? 0.005 : -0.005));
    expect(rms(tone)).toBeGreaterThan(THRESHOLD);
    expect(rms(hiss)).toBeLessThan(THRESHOLD);
    expect(rms(new Float32Array(512))).toBe(0);
    expect(rms(new Float32Array(0))).toBe(0);
  });
});
