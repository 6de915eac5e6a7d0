// The device stream, over the first carrier that gets through, tried in order:
// WebSocket → HTTPS long-poll (GET /v1/sync) → the DNS tunnel (DoH, ./tunnel.ts).
// A carrier counts as up only once the server answered over it (the socket's `synced`, a
// sync page, the tunnel's first answer), never while it is only being tried; when none
// answers the link is `offline` and the ladder is climbed again after a capped, jittered
// exponential backoff (./backoff.ts) — at once on the browser's `online` event, on focus,
// when the page becomes visible, and on `retryNow()` (the banner's "Retry now").
// From a lower rung the socket is tried every 30 s (and HTTPS from the tunnel).
// Frames are handed over one at a time, in order; the cursor is persisted (by the
// caller) before it is acknowledged, so a dropped link or a killed tab never loses
// or repeats a message.
import type { Api, Frame } from "../api/client";
import { ApiError, NetworkError } from "../api/client";
import { Backoff } from "./backoff";
import { DnsTunnel, loadTunnelConfig } from "./tunnel";

/**
 * `connected`: the WebSocket; `alternative`: HTTPS long-poll; `dns`: the DNS tunnel — each
 * only once the server answered over it. `connecting`: the first attempt (at start, or just
 * after the carrier in use was lost); `offline`: nothing answered (or no network).
 */
export type LinkState = "connecting" | "connected" | "alternative" | "dns" | "offline";

/** What carries the stream: `doh` is the tunnel posted to this server's own /dns-query, `dns` the tunnel through another resolver. */
export type Carrier = "websocket" | "longpoll" | "doh" | "dns";

export interface Signal {
  type: string;
  [key: string]: unknown;
}

export interface ConnectionHooks {
  token(): string;
  cursor(): number;
  /** Process and persist one frame (may throw: the frame is then retried on the next connect). */
  onFrame(frame: Frame): Promise<void>;
  /** Persist the cursor after frames were processed (before the ack goes out). */
  saveCursor(cursor: number): Promise<void>;
  onSignal(signal: Signal): void;
  onState(state: LinkState): void;
  onSynced(): void;
  onAuthFailed(): void;
  /** The socket closed 4002: the person signed this device out from another one. */
  onSignedOut(): void;
  /** The socket closed 4004: the account was deleted (from one of its devices). */
  onAccountDeleted?(): void;
}

const STREAM_TYPES = new Set(["event", "reaction", "device_event"]);
const OPEN_TIMEOUT_MS = 8000;
const PING_EVERY_MS = 20000;
const PONG_TIMEOUT_MS = 8000;
/** From a lower rung, how often the socket (and from the tunnel, HTTPS) is tried again. */
const CLIMB_BACK_MS = 30000;
const POLL_TIMEOUT_S = 25;
/** A first HTTPS request with no answer by then: the long-poll is not up. */
const PROBE_TIMEOUT_MS = 10000;
// Resolvers give up after a few seconds, so tunnelled syncs wait briefly (the server caps it too).
const TUNNEL_WAIT_S = 2;
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 30000;
/** A carrier lost after being up this long is retried at once (a shorter life: after a backoff). */
const STEADY_MS = 10000;

interface SyncPage {
  events: Frame[];
  cursor: number;
  more: boolean;
}

/** A route the stream is pulled over when there is no socket (see `pullLoop`). */
interface PullRoute {
  state: LinkState;
  /** How long the server may hold a request once the replay is done (seconds). */
  waitS: number;
  /** The first request's own time limit (ms; none: the route's requests have their own). */
  probeTimeoutMs?: number;
  /** Failed requests in a row, once up, before the carrier counts as lost. */
  retries: number;
  /** The pause after the n-th failed request in a row (ms). */
  pause(failures: number): number;
  /** This route is still the one in use. */
  current(): boolean;
  fetch(cursor: number, waitS: number, signal: AbortSignal): Promise<SyncPage>;
  setAbort(abort: AbortController): void;
  /** The server answered for the first time: the route is up. */
  up(): void;
  /** Leave the route. */
  end(): void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => window.setTimeout(r, ms));
}

export class Connection extends EventTarget {
  state: LinkState = "connecting";
  /** A climb of the ladder is under way (nothing is up yet). */
  trying = false;
  /** When the next climb starts by itself (ms since the epoch), while offline; null: none scheduled. */
  retryAt: number | null = null;
  private readonly backoff = new Backoff(BACKOFF_BASE_MS, BACKOFF_CAP_MS);
  private climbing = 0; // the current climb; a newer one, stop() or a refused token ends an older one
  private upSince: number | null = null;
  private ws: WebSocket | null = null;
  private wsReady = false;
  private wsSettle: ((up: boolean) => void) | null = null;
  private polling = false;
  private pollAbort: AbortController | null = null;
  private tunnel: DnsTunnel | null = null;
  private tunnelPrepared: Promise<void> | null = null;
  private tunneling = false;
  private tunnelRun = 0; // a loop that outlived a stop/start must not run beside the new one
  private tunnelAbort: AbortController | null = null;
  private stopped = true;
  private chain: Promise<void> = Promise.resolve();
  private processed = 0; // highest cursor processed and persisted
  private acked = 0;
  private ackTimer: number | null = null;
  private pingTimer: number | null = null;
  private pongTimer: number | null = null;
  private retryTimer: number | null = null;
  private climbBackTimer: number | null = null;
  private readonly onOnline = (): void => this.wake();
  private readonly onOffline = (): void => this.goOffline();
  private readonly onFocus = (): void => {
    if (navigator.onLine) this.wake();
  };
  private readonly onVisibility = (): void => {
    if (document.visibilityState === "visible" && navigator.onLine) this.wake();
  };

  constructor(
    private readonly api: Api,
    private readonly hooks: ConnectionHooks,
  ) {
    super();
  }

  start(): void {
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    window.addEventListener("focus", this.onFocus);
    document.addEventListener("visibilitychange", this.onVisibility);
    this.stopped = false;
    this.processed = Math.max(this.processed, this.hooks.cursor());
    this.acked = Math.max(this.acked, this.processed);
    this.tunnelPrepared ??= this.prepareTunnel();
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    if (this.carrier === null && !this.trying) void this.climb();
  }

  private async prepareTunnel(): Promise<void> {
    try {
      const config = await loadTunnelConfig(() => this.api.serverInfo());
      if (config !== null && this.tunnel === null) this.tunnel = new DnsTunnel(config, () => this.hooks.token());
    } catch (err) {
      console.warn("talkee: no DNS tunnel", err);
    }
  }

  stop(): void {
    this.stopped = true;
    this.climbing += 1;
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("focus", this.onFocus);
    document.removeEventListener("visibilitychange", this.onVisibility);
    this.teardown();
    this.clearRetry();
    this.setTrying(false);
  }

  /** The person asked ("Retry now"): climb the ladder at once, with the backoff from the start. */
  retryNow(): void {
    if (this.stopped) return;
    this.backoff.reset();
    if (this.carrier === null && !this.trying) void this.climb();
  }

  /** Ephemeral frames (typing, presence): only over the socket, dropped otherwise. */
  signal(frame: Signal): void {
    if (this.ws !== null && this.wsReady) this.ws.send(JSON.stringify(frame));
  }

  get online(): boolean {
    return this.state === "connected" || this.state === "alternative" || this.state === "dns";
  }

  /** The carrier the server answered over last; null while none is up. */
  get carrier(): Carrier | null {
    if (this.state === "connected") return "websocket";
    if (this.state === "alternative") return "longpoll";
    if (this.state === "dns") return this.resolverHost === null ? "doh" : "dns";
    return null;
  }

  /** The DoH resolver the tunnel goes through when it is not this server's own /dns-query. */
  get resolverHost(): string | null {
    if (this.tunnel === null) return null;
    const url = new URL(this.tunnel.config.resolverUrl, location.origin);
    return url.origin === location.origin ? null : url.host;
  }

  private changed(): void {
    this.dispatchEvent(new Event("change"));
  }

  private setState(state: LinkState): void {
    if (this.state === state) return;
    this.state = state;
    if (this.online) this.setTrying(false);
    this.hooks.onState(state);
    this.changed();
  }

  private setTrying(trying: boolean): void {
    if (this.trying === trying) return;
    this.trying = trying;
    this.changed();
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.retryAt !== null) {
      this.retryAt = null;
      this.changed();
    }
  }

  private teardown(): void {
    for (const t of [this.pingTimer, this.pongTimer, this.climbBackTimer]) if (t !== null) window.clearTimeout(t);
    this.pingTimer = this.pongTimer = this.climbBackTimer = null;
    this.dropSocket();
    this.polling = false;
    this.pollAbort?.abort();
    this.pollAbort = null;
    this.stopTunnel();
    this.upSince = null;
  }

  /** The network is gone (the browser says so): nothing to try until it is back. */
  private goOffline(): void {
    this.climbing += 1;
    this.teardown();
    this.clearRetry();
    this.setTrying(false);
    this.setState("offline");
  }

  /** Back on the network, focused, visible: a climb now if nothing is up, the backoff from the start. */
  private wake(): void {
    if (this.stopped) return;
    this.backoff.reset();
    if (this.carrier === null && !this.trying) void this.climb();
  }

  /**
   * Each rung in turn until one answers: the socket, then HTTPS, then the tunnel. None did:
   * offline, and the next climb after the backoff.
   */
  private async climb(): Promise<void> {
    const climb = ++this.climbing;
    const current = (): boolean => climb === this.climbing && !this.stopped;
    this.clearRetry();
    this.setTrying(true);
    try {
      if (await this.openSocket(true)) return;
      if (!current()) return;
      if (await this.startPolling()) return;
      if (!current()) return;
      // The tunnel's config (the well-known URL, else remembered): not waited for forever.
      await Promise.race([this.tunnelPrepared, sleep(PROBE_TIMEOUT_MS)]);
      if (!current()) return;
      if (await this.startTunnel()) return;
      if (!current()) return;
      this.down();
    } finally {
      if (climb === this.climbing) this.setTrying(false);
    }
  }

  /** Nothing is up: offline, and (with a network) the next climb after the backoff. */
  private down(): void {
    this.setState("offline");
    this.clearRetry();
    if (this.stopped || !navigator.onLine) return; // the `online` event starts the next climb
    const wait = this.backoff.next();
    this.retryAt = Date.now() + wait;
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = null;
      this.retryAt = null;
      if (!this.stopped && this.carrier === null && !this.trying) void this.climb();
    }, wait);
    this.changed();
  }

  /** The carrier that was up stopped answering (its own state already cleared). */
  private carrierLost(): void {
    if (this.stopped) return;
    const steady = this.upSince !== null && Date.now() - this.upSince >= STEADY_MS;
    this.teardown();
    if (!navigator.onLine) {
      this.goOffline();
      return;
    }
    if (steady) {
      // It worked for a while: probably a blip or a restart, so straight back.
      this.backoff.reset();
      this.setState("connecting");
      void this.climb();
    } else {
      this.down(); // a carrier that keeps dropping is not hammered
    }
  }

  private markUp(state: LinkState): void {
    this.upSince ??= Date.now();
    this.clearRetry();
    this.setState(state);
  }

  /** The token was refused: nothing more is tried until `start()` after signing in again. */
  private authFailed(tell: () => void = () => this.hooks.onAuthFailed()): void {
    this.climbing += 1;
    this.teardown();
    this.clearRetry();
    this.setTrying(false);
    this.setState("offline");
    tell();
  }

  // ---- WebSocket -----------------------------------------------------------

  private dropSocket(): void {
    const ws = this.ws;
    this.ws = null;
    this.wsReady = false;
    const settle = this.wsSettle;
    this.wsSettle = null;
    if (ws !== null) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        /* already closed */
      }
    }
    settle?.(false);
  }

  /**
   * Opens the socket; true once the server has replayed what was missed (`synced`), false
   * if it closes or stays silent before. `inClimb`: when it fails, the climb goes on to the
   * next rung; otherwise (tried from a lower rung) a socket that took over and then failed
   * counts as the carrier lost.
   */
  private openSocket(inClimb: boolean): Promise<boolean> {
    this.dropSocket();
    return new Promise<boolean>((resolve) => {
      if (this.stopped) {
        resolve(false);
        return;
      }
      const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
      let ws: WebSocket;
      try {
        ws = new WebSocket(url);
      } catch {
        resolve(false);
        return;
      }
      let settled = false;
      let up = false;
      const settle = (result: boolean): void => {
        if (settled) return;
        settled = true;
        if (this.wsSettle === settle) this.wsSettle = null;
        resolve(result);
      };
      this.ws = ws;
      this.wsReady = false;
      this.wsSettle = settle;
      const openTimer = window.setTimeout(() => {
        if (this.ws === ws && !this.wsReady) {
          this.dropSocket();
          settle(false);
        }
      }, OPEN_TIMEOUT_MS);
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: "auth", token: this.hooks.token(), cursor: this.processed }));
      };
      ws.onmessage = (ev: MessageEvent) => {
        let frame: Signal;
        try {
          frame = JSON.parse(String(ev.data)) as Signal;
        } catch {
          return;
        }
        this.armPing();
        if (frame.type === "ready") {
          window.clearTimeout(openTimer);
          this.wsReady = true;
          // The socket works: stop the long-poll and the tunnel (the replay covers what they would bring).
          if (this.polling) {
            this.polling = false;
            this.pollAbort?.abort();
          }
          this.stopTunnel();
          if (this.climbBackTimer !== null) window.clearTimeout(this.climbBackTimer);
          this.climbBackTimer = null;
          return;
        }
        if (frame.type === "synced") {
          up = true;
          this.markUp("connected");
          this.enqueue(async () => this.hooks.onSynced());
          settle(true);
          return;
        }
        if (STREAM_TYPES.has(frame.type)) {
          this.enqueueFrame(frame as unknown as Frame);
          return;
        }
        if (frame.type === "pong") return;
        this.hooks.onSignal(frame);
      };
      ws.onclose = (ev: CloseEvent) => {
        window.clearTimeout(openTimer);
        if (this.ws !== ws) {
          settle(false);
          return;
        }
        const wasReady = this.wsReady;
        this.ws = null;
        this.wsReady = false;
        this.wsSettle = null;
        if (ev.code === 4002) {
          // Signed out from another of the person's devices: only a typed password brings it back.
          settle(false);
          this.authFailed(() => this.hooks.onSignedOut());
          return;
        }
        if (ev.code === 4004) {
          // The account is gone: nothing signs it in again.
          settle(false);
          this.authFailed(() => this.hooks.onAccountDeleted?.());
          return;
        }
        if (ev.code === 4001 || ev.code === 4003) {
          settle(false);
          this.authFailed();
          return;
        }
        settle(false);
        // Up (or, tried from a lower rung, taken over from it): the carrier is lost.
        if (up || (wasReady && !inClimb)) this.carrierLost();
      };
      ws.onerror = () => {
        /* onclose follows */
      };
    });
  }

  private armPing(): void {
    if (this.pongTimer !== null) window.clearTimeout(this.pongTimer);
    this.pongTimer = null;
    if (this.pingTimer !== null) window.clearTimeout(this.pingTimer);
    this.pingTimer = window.setTimeout(() => {
      const ws = this.ws;
      if (ws === null || !this.wsReady) return;
      ws.send(JSON.stringify({ type: "ping" }));
      this.pongTimer = window.setTimeout(() => {
        if (this.ws === ws) {
          this.dropSocket();
          this.carrierLost();
        }
      }, PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  /** On a lower rung: the socket again in a while (and from the tunnel, HTTPS). */
  private scheduleClimbBack(): void {
    if (this.climbBackTimer !== null) window.clearTimeout(this.climbBackTimer);
    this.climbBackTimer = window.setTimeout(() => {
      this.climbBackTimer = null;
      if (this.stopped || !(this.polling || this.tunneling)) return;
      if (this.tunneling) void this.probeHttps();
      void this.openSocket(false).then((up) => {
        if (!up && (this.polling || this.tunneling)) this.scheduleClimbBack();
      });
    }, CLIMB_BACK_MS);
  }

  // ---- long-poll -----------------------------------------------------------

  /** True once a sync page came over HTTPS (the loop then goes on); false if none did. */
  private startPolling(): Promise<boolean> {
    if (this.polling) return Promise.resolve(true);
    this.polling = true;
    return this.pullLoop({
      state: "alternative",
      waitS: POLL_TIMEOUT_S,
      probeTimeoutMs: PROBE_TIMEOUT_MS,
      retries: 1,
      pause: () => 1000,
      current: () => this.polling,
      fetch: (cursor, waitS, signal) => this.api.sync(cursor, waitS, signal),
      setAbort: (abort) => (this.pollAbort = abort),
      up: () => this.scheduleClimbBack(),
      end: () => (this.polling = false),
    });
  }

  /**
   * Pages of frames over a route without a socket (HTTPS long-poll, the DNS tunnel): the
   * replay first (no wait), then waits; every frame processed before the next request.
   * Resolves true at the first answer (the loop goes on), false when none came.
   */
  private pullLoop(route: PullRoute): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      void (async () => {
        let up = false;
        let synced = false;
        let failures = 0;
        while (route.current() && !this.stopped) {
          const abort = new AbortController();
          route.setAbort(abort);
          try {
            await this.chain; // everything earlier processed, so `processed` is current
            const signal =
              up || route.probeTimeoutMs === undefined ? abort.signal : AbortSignal.any([abort.signal, AbortSignal.timeout(route.probeTimeoutMs)]);
            const page = await route.fetch(this.processed, synced ? route.waitS : 0, signal);
            if (!route.current()) break;
            failures = 0;
            if (!up) {
              up = true;
              route.up();
              resolve(true);
            }
            this.markUp(route.state);
            for (const frame of page.events) this.enqueueFrame(frame);
            await this.chain;
            if (!page.more && !synced) {
              synced = true;
              this.enqueue(async () => this.hooks.onSynced());
            }
          } catch (err) {
            if (!route.current()) break;
            if (err instanceof ApiError && err.status === 401) {
              route.end();
              resolve(false);
              this.authFailed();
              return;
            }
            failures += 1;
            if (!up || failures > route.retries || !navigator.onLine) {
              route.end();
              resolve(false);
              if (up) this.carrierLost();
              return;
            }
            await sleep(route.pause(failures));
          }
        }
        resolve(false);
      })();
    });
  }

  // ---- DNS tunnel ------------------------------------------------------------

  /** True once the tunnel brought the server's first answer (the loop then goes on). */
  private startTunnel(): Promise<boolean> {
    const tunnel = this.tunnel;
    if (this.tunneling || tunnel === null) return Promise.resolve(this.tunneling);
    this.tunneling = true;
    const run = ++this.tunnelRun;
    return this.pullLoop({
      state: "dns",
      waitS: TUNNEL_WAIT_S,
      retries: 2, // resolvers drop a query now and then
      pause: (failures) => 2000 * failures,
      current: () => this.tunneling && this.tunnelRun === run,
      fetch: (cursor, waitS, signal) => tunnel.sync(cursor, waitS, signal),
      setAbort: (abort) => (this.tunnelAbort = abort),
      up: () => {
        this.api.sendRoute = tunnel; // sends, acks and receipts go through the tunnel too
        this.scheduleClimbBack();
      },
      end: () => this.stopTunnel(),
    });
  }

  private stopTunnel(): void {
    if (!this.tunneling) return;
    this.tunneling = false;
    this.api.sendRoute = null;
    this.tunnelAbort?.abort();
    this.tunnelAbort = null;
  }

  /** From the tunnel, go back up to HTTPS as soon as it answers again. */
  private async probeHttps(): Promise<void> {
    try {
      await this.api.sync(this.processed, 0, AbortSignal.timeout(PROBE_TIMEOUT_MS));
    } catch {
      return;
    }
    if (!this.tunneling || this.stopped) return;
    this.stopTunnel();
    if (!(await this.startPolling())) this.carrierLost();
  }

  // ---- processing and acks ---------------------------------------------------

  /** Resolves once every frame received so far has been processed (the CLI waits on it). */
  idle(): Promise<void> {
    return this.chain;
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((err: unknown) => {
      console.warn("talkee: processing failed", err);
    });
  }

  private enqueueFrame(frame: Frame): void {
    this.enqueue(async () => {
      if (frame.cursor <= this.acked) return; // already processed before (replay overlap)
      await this.hooks.onFrame(frame);
      if (frame.cursor > this.processed) this.processed = frame.cursor;
      this.scheduleAck();
    });
  }

  private scheduleAck(): void {
    if (this.ackTimer !== null) return;
    this.ackTimer = window.setTimeout(() => {
      this.ackTimer = null;
      this.enqueue(() => this.flushAck());
    }, 150);
  }

  private async flushAck(): Promise<void> {
    const cursor = this.processed;
    if (cursor <= this.acked) return;
    await this.hooks.saveCursor(cursor); // persist first, then acknowledge
    if (this.ws !== null && this.wsReady) {
      this.ws.send(JSON.stringify({ type: "ack", cursor }));
    } else {
      try {
        if (this.tunneling && this.tunnel !== null) await this.tunnel.ack(cursor);
        else await this.api.ack(cursor);
      } catch {
        return; // acked on a later try; the persisted cursor already skips these frames
      }
    }
    this.acked = cursor;
  }
}
