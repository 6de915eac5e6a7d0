import { describe, expect, it } from "vitest";
import { chatNotice, formatSeconds, previewOf } from "../src/app/format";

describe("chat notices (who set the self-destruct timer)", () => {
  it("accept a timer in the server's range, or off", () => {
    expect(chatNotice({ timer: 3600 })).toEqual({ timer: 3600 });
    expect(chatNotice({ timer: null })).toEqual({ timer: null });
  });

  it("ignore anything else a member's client might send", () => {
    for (const bad of [undefined, null, "timer", { timer: 0 }, { timer: -5 }, { timer: 1.5 }, { timer: "10" }, { timer: 366 * 86400 }, {}]) {
      expect(chatNotice(bad)).toBeUndefined();
    }
  });

  it("carry a group's new name, cleaned (one line, no direction overrides), never an empty one", () => {
    expect(chatNotice({ renamed: "Book club" })).toEqual({ renamed: "Book club" });
    expect(chatNotice({ renamed: "  Book\n club\u202E " })).toEqual({ renamed: "Book club" });
    expect(chatNotice({ renamed: "x".repeat(300) })).toEqual({ renamed: "x".repeat(120) });
    for (const bad of [{ renamed: "   " }, { renamed: 5 }, { renamed: null }]) expect(chatNotice(bad)).toBeUndefined();
    expect(previewOf({ text: "", notice: { renamed: "Book club" } })).toBe("Group renamed to “Book club”");
  });

  it("show in the chat list as what changed", () => {
    expect(previewOf({ text: "", notice: { timer: 86400 } })).toBe("Self-destruct timer: 1 day");
    expect(previewOf({ text: "", notice: { timer: null } })).toBe("Self-destruct timer off");
    expect(previewOf({ text: "hello" })).toBe("hello");
  });

  it("name durations by their largest whole unit", () => {
    expect(formatSeconds(10)).toBe("10 s");
    expect(formatSeconds(90)).toBe("90 s");
    expect(formatSeconds(120)).toBe("2 min");
    expect(formatSeconds(7200)).toBe("2 hours");
    expect(formatSeconds(1209600)).toBe("2 weeks");
  });
});
