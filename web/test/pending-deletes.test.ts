import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pendingDeletes, UNDO_MS } from "../src/ui/conversation/pendingDeletes";

describe("deleting with undo", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("sends the deletion only when the undo time is up, once", () => {
    const commit = vi.fn();
    const changed = vi.fn();
    const deletes = pendingDeletes(changed);
    deletes.start("m1", commit);
    deletes.start("m1", commit); // a second click changes nothing
    expect(deletes.has("m1")).toBe(true);
    vi.advanceTimersByTime(UNDO_MS - 1);
    expect(commit).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(commit).toHaveBeenCalledTimes(1);
    expect(deletes.has("m1")).toBe(false);
    expect(changed).toHaveBeenCalledTimes(2); // folded, then gone
  });

  it("never sends an undone deletion", () => {
    const commit = vi.fn();
    const deletes = pendingDeletes(() => undefined);
    deletes.start("m1", commit);
    deletes.start("m2", commit);
    deletes.undo("m1");
    vi.advanceTimersByTime(UNDO_MS * 2);
    expect(commit).toHaveBeenCalledTimes(1);
    expect(deletes.has("m1")).toBe(false);
  });
});
