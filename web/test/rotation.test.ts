import { describe, expect, it } from "vitest";
import {
  DEFAULT_ROTATION_POLICY,
  epochReadable,
  expireEpochs,
  freshRotationState,
  needsSelfUpdate,
  recordEpochChange,
  recordMessage,
} from "../src/crypto/rotation";

const DAY = 24 * 60 * 60 * 1000;
const MIN = 60 * 1000;

describe("key rotation policy", () => {
  it("uses the documented defaults", () => {
    expect(DEFAULT_ROTATION_POLICY).toEqual({ selfUpdateAfterMs: 7 * DAY, selfUpdateAfterMessages: 1000, graceMs: 10 * MIN, graceMessages: 100 });
  });

  it("asks for a self-update after 7 days", () => {
    const s = freshRotationState(0);
    expect(needsSelfUpdate(s, 7 * DAY - 1)).toBe(false);
    expect(needsSelfUpdate(s, 7 * DAY)).toBe(true);
  });

  it("asks for a self-update after 1,000 messages, whichever comes first", () => {
    let s = freshRotationState(0);
    for (let i = 0; i < 999; i++) s = recordMessage(s);
    expect(needsSelfUpdate(s, DAY)).toBe(false);
    s = recordMessage(s);
    expect(needsSelfUpdate(s, DAY)).toBe(true);
    s = recordEpochChange(s, 5, DAY, true);
    expect(needsSelfUpdate(s, DAY)).toBe(false);
    expect(needsSelfUpdate(s, 8 * DAY - 1)).toBe(false);
    expect(needsSelfUpdate(s, 8 * DAY)).toBe(true);
  });

  it("someone else's commit does not reset our self-update clock", () => {
    let s = freshRotationState(0);
    s = recordEpochChange(s, 1, 6 * DAY, false);
    expect(needsSelfUpdate(s, 7 * DAY)).toBe(true);
  });

  it("keeps the previous epoch readable for 10 minutes", () => {
    const s = recordEpochChange(freshRotationState(0), 3, 1000, false);
    expect(epochReadable(s, 4, 4, 1000)).toBe(true);
    expect(epochReadable(s, 3, 4, 1000 + 10 * MIN - 1)).toBe(true);
    expect(epochReadable(s, 3, 4, 1000 + 10 * MIN)).toBe(false);
    expect(epochReadable(s, 2, 4, 1000)).toBe(false); // never retired here
  });

  it("keeps the previous epoch readable for 100 messages", () => {
    let s = recordEpochChange(freshRotationState(0), 3, 0, false);
    for (let i = 0; i < 99; i++) s = recordMessage(s);
    expect(epochReadable(s, 3, 4, 1)).toBe(true);
    s = recordMessage(s);
    expect(epochReadable(s, 3, 4, 1)).toBe(false);
  });

  it("expires old epochs so their secrets can be deleted", () => {
    let s = recordEpochChange(freshRotationState(0), 1, 0, false);
    s = recordEpochChange(s, 2, 9 * MIN, false);
    const later = expireEpochs(s, 10 * MIN);
    expect(later.expired).toEqual([1]);
    expect(later.state.retiredEpochs.map((e) => e.epoch)).toEqual([2]);
    const custom = expireEpochs(s, 9 * MIN + 1, { ...DEFAULT_ROTATION_POLICY, graceMs: 1 });
    expect(custom.expired).toEqual([1, 2]);
  });
});
