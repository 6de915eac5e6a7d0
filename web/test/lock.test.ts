import { describe, expect, it } from "vitest";
import { TurnLock } from "../src/app/lock";

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe("the messenger's lock", () => {
  it("runs one at a time, in the order asked", async () => {
    const lock = new TurnLock();
    const order: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const first = lock.run(async () => {
      order.push("first starts");
      await gate;
      order.push("first ends");
    });
    const second = lock.run(async () => void order.push("second"));
    const third = lock.run(async () => void order.push("third"));
    await tick();
    expect(order).toEqual(["first starts"]);
    open();
    await Promise.all([first, second, third]);
    expect(order).toEqual(["first starts", "first ends", "second", "third"]);
  });

  it("lets the others run while a holder waits for something only they bring", async () => {
    // A commit waits for the home's answer, which a frame (also under the lock) delivers.
    const lock = new TurnLock();
    const order: string[] = [];
    let answer!: (v: string) => void;
    const answered = new Promise<string>((r) => (answer = r));
    const commit = lock.run(async () => {
      order.push("commit sent");
      const got = await lock.releasedUntil(answered);
      order.push(`commit ${got}`);
    });
    const frame = lock.run(async () => {
      order.push("frame");
      answer("confirmed");
    });
    const later = lock.run(async () => void order.push("later frame"));
    await Promise.all([commit, frame, later]);
    // The commit takes its turn again behind what was already waiting.
    expect(order).toEqual(["commit sent", "frame", "later frame", "commit confirmed"]);
    expect(await lock.run(async () => "free again")).toBe("free again");
  });

  it("is let go after a failure", async () => {
    const lock = new TurnLock();
    await expect(lock.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await lock.run(async () => 1)).toBe(1);
  });
});
