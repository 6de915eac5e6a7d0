// The connection's ladder and the banner's words, over a stand-in for the network: a
// WebSocket and fetch that reach a "server" the test switches on and off (the outside world;
// the Connection, the Api, the tunnel and the banner's logic are the real ones).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Api } from "../src/api/client";
import { toBase64 } from "../src/crypto/encoding";
import { Backoff } from "../src/transport/backoff";
import { BACKOFF_CAP_MS, Connection, type LinkState } from "../src/transport/connection";
import { describeLink, type LinkView } from "../src/ui/banner";

describe("backoff", () => {
  it("doubles from the base up to the cap, with the upper half random", () => {
    const low = new Backoff(1000, 30000, () => 0);
    expect(Array.from({ length: 8 }, () => low.next())).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    const high = new Backoff(1000, 30000, () => 1);
    expect(Array.from({ length: 8 }, () => high.next())).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("spreads devices out (jitter) and starts again from the base after reset()", () => {
    const waits = new Set(Array.from({ length: 20 }, () => new Backoff(1000, 30000).next()));
    expect(waits.size).toBeGreaterThan(10);
    const b = new Backoff(1000, 30000, () => 1);
    for (let i = 0; i < 10; i++) b.next();
    b.reset();
    expect(b.next()).toBe(1000);
  });
});

const view = (over: Partial<LinkView>): LinkView => ({
  state: "offline",
  carrier: null,
  resolverHost: null,
  queued: 0,
  stalled: false,
  problem: null,
  trying: false,
  retryInMs: null,
  networkDown: false,
  ...over,
});

describe("banner words", () => {
  it("names the carrier that is up", () => {
    expect(describeLink(view({ state: "connected", carrier: "websocket" }))).toMatchObject({ text: "Connected", tone: "ok", retry: false });
    expect(describeLink(view({ state: "alternative", carrier: "longpoll" })).text).toBe("Connected over HTTPS long-poll");
    expect(describeLink(view({ state: "dns", carrier: "doh" })).text).toBe("Connected over the DoH tunnel");
    expect(describeLink(view({ state: "dns", carrier: "dns", resolverHost: "dns.example" })).text).toBe("Connected over DNS via dns.example");
  });

  it("says offline with the outbox's count when nothing is up, and offers Retry now", () => {
    expect(describeLink(view({ queued: 0 }))).toMatchObject({ text: "Offline — new messages will be queued", retry: true });
    expect(describeLink(view({ queued: 1, stalled: true })).text).toBe("Offline — 1 message waiting");
    expect(describeLink(view({ queued: 3, retryInMs: 12_300 }))).toMatchObject({ text: "Offline — 3 messages waiting", detail: "Retrying in 13 s", retry: true });
    expect(describeLink(view({ queued: 3, trying: true })).detail).toBe("Trying to reconnect…");
    expect(describeLink(view({ networkDown: true })).detail).toBe("No network");
    expect(describeLink(view({ state: "connecting", queued: 2 })).text).toBe("Connecting… — 2 messages waiting");
  });

  it("says a send is waiting only while a carrier is up, and a refused sign-in above all", () => {
    expect(describeLink(view({ state: "connected", carrier: "websocket", queued: 1, stalled: true })).text).toBe("Message queued for delivery");
    expect(describeLink(view({ state: "connected", carrier: "websocket", queued: 1, stalled: false })).text).toBe("Connected");
    expect(describeLink(view({ problem: "Your account is blocked", queued: 2 }))).toMatchObject({ text: "Your account is blocked", tone: "error", retry: false });
  });
});

// ---- the network the Connection meets -------------------------------------------------

interface World {
  socket: "up" | "down" | "refuses-token";
  https: boolean;
  /** Held sync requests (no wait) are answered when the test says so. */
  holdSync: boolean;
  held: (() => void)[];
  requests: string[];
  sockets: FakeSocket[];
}

let world: World;

class FakeSocket {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  closed = false;

  constructor(readonly url: string) {
    world.sockets.push(this);
    setTimeout(() => {
      if (world.socket === "down") this.serverClose(1006);
      else this.onopen?.({});
    }, 5);
  }

  send(data: string): void {
    const frame = JSON.parse(data) as { type: string };
    if (frame.type !== "auth") return;
    setTimeout(() => {
      if (world.socket === "refuses-token") return this.serverClose(4001);
      this.onmessage?.({ data: JSON.stringify({ type: "ready" }) });
      this.onmessage?.({ data: JSON.stringify({ type: "synced" }) });
    }, 5);
  }

  close(): void {
    this.serverClose(1000);
  }

  serverClose(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.({ code });
  }
}

async function fakeFetch(input: string, init?: RequestInit): Promise<Response> {
  const url = String(input);
  world.requests.push(url);
  if (url.includes("/dns-query") || !world.https) throw new TypeError("Failed to fetch");
  if (url.includes("/.well-known/talkee/server")) {
    return Response.json({ domain: "talkee.test", tunnel_zone: "t.talkee.test", tunnel_x25519_pub: toBase64(new Uint8Array(32).fill(7)) });
  }
  if (url.includes("/v1/sync?")) {
    const page = Response.json({ events: [], cursor: 0, more: false });
    const signal = init?.signal ?? undefined;
    const waits = !url.endsWith("timeout=0");
    if (!waits && !world.holdSync) return page;
    // A long-poll the server holds (or a first answer the test holds back) until aborted.
    return new Promise((resolve, reject) => {
      if (!waits) world.held.push(() => resolve(page));
      signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
  }
  return Response.json({});
}

class FakeLocalStorage {
  private items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** Lets the real work run (crypto, fetch promises) and the clock move on a millisecond at a time. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (condition()) return;
    await new Promise((r) => setImmediate(r));
    await vi.advanceTimersByTimeAsync(1);
  }
  throw new Error(`never: ${what}`);
}

describe("the ladder", () => {
  let states: LinkState[];
  let authFailed: number;
  let signedOut: number;
  let conn: Connection;
  let win: EventTarget;
  let doc: EventTarget & { visibilityState: string };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    world = { socket: "down", https: false, holdSync: false, held: [], requests: [], sockets: [] };
    win = Object.assign(new EventTarget(), {
      setTimeout: (f: () => void, ms: number) => setTimeout(f, ms),
      clearTimeout: (t: ReturnType<typeof setTimeout>) => clearTimeout(t),
    });
    doc = Object.assign(new EventTarget(), { visibilityState: "visible" });
    vi.stubGlobal("window", win);
    vi.stubGlobal("document", doc);
    vi.stubGlobal("navigator", { onLine: true });
    vi.stubGlobal("location", { protocol: "http:", host: "talkee.test", origin: "http://talkee.test" });
    const storage = new FakeLocalStorage();
    // The tunnel's zone and key, remembered from an earlier visit: the DoH rung is tried too.
    storage.setItem("talkee.tunnel", JSON.stringify({ zone: "t.talkee.test", key: toBase64(new Uint8Array(32).fill(7)), resolver: null }));
    vi.stubGlobal("localStorage", storage);
    vi.stubGlobal("WebSocket", FakeSocket);
    vi.stubGlobal("fetch", fakeFetch);
    states = [];
    authFailed = 0;
    signedOut = 0;
    conn = new Connection(new Api(""), {
      token: () => "token",
      cursor: () => 0,
      onFrame: async () => undefined,
      saveCursor: async () => undefined,
      onSignal: () => undefined,
      onState: (state) => states.push(state),
      onSynced: () => undefined,
      onAuthFailed: () => (authFailed += 1),
      onSignedOut: () => (signedOut += 1),
    });
  });

  afterEach(() => {
    conn.stop();
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  /** Runs the timers due in the next `ms`, letting the real work between them finish. */
  async function elapse(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await vi.advanceTimersByTimeAsync(Math.min(50, end - Date.now()));
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  }

  it("with the server down says offline, never a rung it only tried, and backs off", async () => {
    conn.start();
    await until(() => conn.state === "offline" && conn.retryAt !== null, "offline with a retry scheduled");
    // Every rung was tried: the socket, HTTPS, the DoH tunnel; none is named.
    expect(world.sockets.length).toBe(1);
    expect(world.requests.some((u) => u.includes("/v1/sync?"))).toBe(true);
    expect(world.requests.some((u) => u.includes("/dns-query"))).toBe(true);
    expect(conn.carrier).toBeNull();
    expect(states).toEqual(["offline"]);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const wait = (conn.retryAt ?? 0) - Date.now();
      waits.push(wait);
      const climbs = world.sockets.length;
      await elapse(wait + 20);
      await until(() => world.sockets.length > climbs && !conn.trying && conn.retryAt !== null, "the next climb done");
    }
    expect(states).toEqual(["offline"]);
    expect(waits[0]).toBeLessThanOrEqual(1000);
    for (const wait of waits) expect(wait).toBeLessThanOrEqual(BACKOFF_CAP_MS);
    expect(Math.max(...waits)).toBeGreaterThanOrEqual(BACKOFF_CAP_MS / 2);
    expect(waits[3]).toBeGreaterThan(waits[0] as number);
  });

  it("counts HTTPS long-poll as up only once the server answered", async () => {
    world.https = true;
    world.holdSync = true;
    conn.start();
    await until(() => world.held.length === 1, "the first sync asked");
    expect(conn.carrier).toBeNull();
    expect(states).not.toContain("alternative");
    world.held.shift()?.();
    await until(() => conn.state === "alternative", "long-poll up");
    expect(conn.carrier).toBe("longpoll");
    expect(conn.online).toBe(true);
  });

  for (const [trigger, fire] of [
    ["Retry now", (c: Connection) => c.retryNow()],
    ["the browser's online event", () => win.dispatchEvent(new Event("online"))],
    ["window focus", () => win.dispatchEvent(new Event("focus"))],
    ["the page becoming visible", () => doc.dispatchEvent(new Event("visibilitychange"))],
  ] as const) {
    it(`reconnects at once on ${trigger}, the backoff from the start`, async () => {
      conn.start();
      await until(() => conn.state === "offline" && conn.retryAt !== null, "offline");
      for (let i = 0; i < 5; i++) {
        const climbs = world.sockets.length;
        await elapse((conn.retryAt ?? 0) - Date.now() + 20);
        await until(() => world.sockets.length > climbs && !conn.trying && conn.retryAt !== null, "the next climb done");
      }
      expect((conn.retryAt ?? 0) - Date.now()).toBeGreaterThan(5000);
      world.socket = "up"; // the server is back
      const before = Date.now();
      fire(conn);
      await until(() => conn.state === "connected", "connected");
      expect(Date.now() - before).toBeLessThan(100);
      expect(conn.carrier).toBe("websocket");
      expect(conn.retryAt).toBeNull();
      // The socket drops at once (a flapping server): the next wait is the backoff's first.
      world.socket = "down";
      world.sockets.at(-1)?.serverClose(1006);
      await until(() => conn.state === "offline" && conn.retryAt !== null, "offline again");
      expect((conn.retryAt ?? 0) - Date.now()).toBeLessThanOrEqual(1000);
    });
  }

  it("a steady socket lost is retried at once; a refused token stops the ladder", async () => {
    world.socket = "up";
    conn.start();
    await until(() => conn.state === "connected", "connected");
    await elapse(15_000);
    world.sockets.at(-1)?.serverClose(1006);
    expect(conn.state).toBe("connecting");
    await until(() => conn.state === "connected", "connected again");
    expect(world.sockets.length).toBe(2);
    world.socket = "refuses-token";
    world.sockets.at(-1)?.serverClose(1006);
    await until(() => authFailed === 1, "the token refused");
    expect(conn.state).toBe("offline");
    expect(conn.retryAt).toBeNull();
    await elapse(60_000);
    expect(world.sockets.length).toBe(3);
  });

  it("a device signed out from another one (4002) stops trying and says so once", async () => {
    world.socket = "up";
    conn.start();
    await until(() => conn.state === "connected", "connected");
    world.sockets.at(-1)?.serverClose(4002);
    await until(() => signedOut === 1, "signed out");
    expect(authFailed).toBe(0);
    expect(conn.state).toBe("offline");
    expect(conn.retryAt).toBeNull();
    await elapse(60_000);
    expect(world.sockets.length).toBe(1);
  });
});
