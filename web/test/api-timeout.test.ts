import { afterEach, describe, expect, it, vi } from "vitest";
import { Api, NetworkError } from "../src/api/client";

afterEach(() => vi.unstubAllGlobals());

/** A server that took the connection and never answers: fetch settles only when aborted. */
function silentServer(): void {
  vi.stubGlobal("fetch", (_url: string, init: RequestInit) => new Promise((_resolve, reject) => init.signal?.addEventListener("abort", () => reject(init.signal?.reason))));
}

describe("API requests", () => {
  it("give up on a server that never answers: a network error, which the outbox retries", async () => {
    silentServer();
    const started = Date.now();
    await expect(new Api("", 50).challenge("alice")).rejects.toBeInstanceOf(NetworkError);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("leave a request with its own signal (the long poll) to that signal", async () => {
    silentServer();
    const controller = new AbortController();
    const pending = new Api("", 50).sync(0, 25, controller.signal);
    const early = await Promise.race([pending.then(() => "settled", () => "settled"), new Promise((r) => setTimeout(() => r("waiting"), 200))]);
    expect(early).toBe("waiting");
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});
