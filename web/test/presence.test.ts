import { describe, expect, it } from "vitest";
import { lastSeenText, nextPresence } from "../src/app/format";

const HOUR = 3600_000;

describe("last seen", () => {
  const now = Date.parse("2026-12-01T22:40:00Z");
  const serverHour = "2026-12-01T22:00:00+00:00";

  it("is the minute this device saw them go, not the server's hour", () => {
    const online = nextPresence(undefined, "online", null, now - 5 * 60_000);
    const away = nextPresence(online, "away", serverHour, now - 2 * 60_000);
    expect(away).toEqual({ state: "away", lastSeen: new Date(now - 2 * 60_000).toISOString(), exact: true });
    // a later offline keeps the minute seen, not the hour the server sends
    expect(nextPresence(away, "offline", serverHour, now)).toEqual({ ...away, state: "offline" });
    expect(lastSeenText(away, now)).toMatch(/^last seen \d/);
  });

  it("says only what the server's hour allows when this device did not see it", () => {
    const cold = nextPresence(undefined, "offline", serverHour, now);
    expect(cold).toEqual({ state: "offline", lastSeen: serverHour });
    expect(lastSeenText(cold, now)).toBe("last seen recently");
    expect(lastSeenText(cold, Date.parse(serverHour) + 1.5 * HOUR)).toMatch(/^last seen around /);
    expect(lastSeenText(nextPresence(undefined, "away", 42, now), now)).toBe("away");
  });
});
