import { describe, expect, it } from "vitest";
import { deviceActivity, deviceAdded } from "../src/app/format";

// Local times: the labels count calendar days in the browser's own time zone.
const at = (y: number, m: number, d: number, h: number, min = 0): number => new Date(y, m - 1, d, h, min).getTime();
const iso = (ms: number): string => new Date(ms).toISOString();

describe("device activity", () => {
  const now = at(2026, 12, 4, 18, 20);

  it("says the day, never the server's rounded hour as a clock time", () => {
    const label = deviceActivity(iso(at(2026, 12, 4, 18)), now, false);
    expect(label).toBe("active today");
    expect(label).not.toMatch(/\d{1,2}:\d{2}/);
  });

  it("counts calendar days, not 24-hour spans", () => {
    expect(deviceActivity(iso(at(2026, 12, 3, 23)), at(2026, 12, 4, 0, 30), false)).toBe("active yesterday");
    expect(deviceActivity(iso(at(2026, 12, 1, 9)), now, false)).toBe("active 3 days ago");
    expect(deviceActivity(iso(at(2026, 10, 1, 9)), now, false)).toMatch(/^active on .*2026/);
  });

  it("is 'active now' for this device, whatever the hour on record", () => {
    expect(deviceActivity(iso(at(2026, 12, 1, 9)), now, true)).toBe("active now");
  });

  it("copes with a clock behind the server and with garbage", () => {
    expect(deviceActivity(iso(at(2026, 12, 5, 1)), now, false)).toBe("active today");
    expect(deviceActivity("not a date", now, false)).toBe("activity unknown");
  });

  it("says when a device was added without a clock time", () => {
    expect(deviceAdded(iso(at(2026, 12, 4, 18, 20)), now)).toBe("added today");
    expect(deviceAdded(iso(at(2026, 11, 20, 9)), now)).toMatch(/^added .*2026$/);
  });
});
