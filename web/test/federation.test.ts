import { describe, expect, it } from "vitest";
import { ApiError, humanError } from "../src/api/client";
import { committerWait } from "../src/app/devices";
import { displayName, domainOf } from "../src/app/format";

describe("chats that span instances", () => {
  it("show remote people with their server, local people without", () => {
    expect(domainOf("bob@b.test")).toBe("b.test");
    expect(displayName("bob@b.test", "a.test")).toBe("bob@b.test");
    expect(displayName("alice@a.test", "a.test")).toBe("alice");
  });
});

describe("federation errors in human words", () => {
  it("say what went wrong", () => {
    expect(humanError(new ApiError(404, "user_not_found", "No such user on b.test."))).toMatch(/no user with that name/);
    expect(humanError(new ApiError(503, "peer_unreachable", "b.test did not answer."))).toMatch(/server cannot be reached/);
  });
});

describe("who commits a device change across instances", () => {
  // Leaves are user@domain:client_device_id — the same on every instance (numeric device
  // ids differ: remote devices are mirrored with local ids), so A's and B's devices agree.
  const members = ["alice@a.test:ca1", "bob@b.test:cb1", "bob@b.test:cb2"];
  it("is the same device whichever instance computes it", () => {
    const waits = members.map((me) => committerWait(members, "bob@b.test:cb2", me));
    expect(waits).toEqual([25000, 0, -1]);
    expect(committerWait(["alice@a.test:ca1", "bob@b.test:new"], "bob@b.test:new", "alice@a.test:ca1")).toBe(0);
  });
});
