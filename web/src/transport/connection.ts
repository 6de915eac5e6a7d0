// The device stream, on a ladder of transports switched automatically:
// WebSocket → HTTPS long-poll (GET /v1/sync) when the socket cannot get through →
// the DNS tunnel (DoH, ./tunnel.ts) when HTTPS /v1/ is blocked too. The socket is
// retried every 30 s from the lower rungs (and HTTPS from the tunnel).
// Frames are handed over one at a time, in order; the cursor is persisted (by the
// caller) before it is acknowledged, so a dropped link or a killed tab never loses
// or repeats a message.
import type { Api, Frame } from "../api/client";
import { ApiError, NetworkError } from "../api/client";
import { DnsTunnel, loadTunnelConfig } from "./tunnel";

/** `alternative`: HTTPS long-poll; `dns`: the DNS tunnel. */
export type LinkState = "connecting" | "connected" | "alternative" | "dns" | "offline";

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
}

const STREAM_TYPES = new Set(["event", "reaction", "device_event"]);
const OPEN_TIMEOUT_MS = 8000;
const PING_EVERY_MS = 20000;
const PONG_TIMEOUT_MS = 8000;
const WS_RETRY_FROM_POLL_MS = 30000;
const POLL_TIMEOUT_S = 25;
// Resolvers give up after a few seconds, so tunnelled syncs wait briefly (the server caps it too).
const TUNNEL_WAIT_S = 2;
const POLL_FAILURES_BEFORE_TUNNEL = 2;

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
  /** This route is still the one in use. */
  current(): boolean;
  fetch(cursor: number, waitS: number, signal: AbortSignal): Promise<SyncPage>;
  setAbort(abort: AbortController): void;
  /** Leave the route (the token was refused). */
  end(): void;
  /** After a failed request (not a 401, not offline): true ends the loop. */
  failed(err: unknown, failures: number): Promise<boolean>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => window.setTimeout(r, ms));
}

export class Connection {
  state: LinkState = "connecting";
  private ws: WebSocket | null = null;
  private wsReady = false;
  private wsFailures = 0;
  private polling = false;
  private pollAbort: AbortController | null = null;
  private tunnel: DnsTunnel | null = null;
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
  private readonly onOnline = (): void => this.start();
  private readonly onOffline = (): void => this.goOffline();

  constructor(
    private readonly api: Api,
    private readonly hooks: ConnectionHooks,
  ) {}

  start(): void {
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.stopped = false;
    this.processed = Math.max(this.processed, this.hooks.cursor());
    this.acked = Math.max(this.acked, this.processed);
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    void this.prepareTunnel();
    if (this.ws === null && !this.polling && !this.tunneling) this.openSocket();
  }

  private async prepareTunnel(): Promise<void> {
    if (this.tunnel !== null) return;
    const config = await loadTunnelConfig(() => this.api.serverInfo());
    if (config !== null && this.tunnel === null) this.tunnel = new DnsTunnel(config, () => this.hooks.token());
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    this.teardown();
  }

  /** Ephemeral frames (typing, presence): only over the socket, dropped otherwise. */
  signal(frame: Signal): void {
    if (this.ws !== null && this.wsReady) this.ws.send(JSON.stringify(frame));
  }

  get online(): boolean {
    return this.state === "connected" || this.state === "alternative" || this.state === "dns";
  }

  private setState(state: LinkState): void {
    if (this.state === state) return;
    this.state = state;
    this.hooks.onState(state);
  }

  private teardown(): void {
    for (const t of [this.pingTimer, this.pongTimer, this.retryTimer]) if (t !== null) window.clearTimeout(t);
    this.pingTimer = this.pongTimer = this.retryTimer = null;
    if (this.ws !== null) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        /* already closed */
      }
    }
    this.wsReady = false;
    this.polling = false;
    this.pollAbort?.abort();
    this.pollAbort = null;
    this.stopTunnel();
  }

  private goOffline(): void {
    this.teardown();
    this.setState("offline");
  }

  private scheduleRetry(ms: number): void {
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      if (!navigator.onLine) {
        this.setState("offline");
        return;
      }
      this.openSocket();
    }, ms);
  }

  // ---- WebSocket -----------------------------------------------------------

  private openSocket(): void {
    if (this.stopped) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      this.socketFailed();
      return;
    }
    this.ws = ws;
    this.wsReady = false;
    if (!this.polling && !this.tunneling) this.setState("connecting");
    const openTimer = window.setTimeout(() => {
      if (this.ws === ws && !this.wsReady) {
        ws.close();
        this.socketFailed();
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
        this.wsFailures = 0;
        // The socket works: stop the long-poll and the tunnel (the replay covers what they would bring).
        if (this.polling) {
          this.polling = false;
          this.pollAbort?.abort();
        }
        this.stopTunnel();
        return;
      }
      if (frame.type === "synced") {
        this.setState("connected");
        this.enqueue(async () => this.hooks.onSynced());
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
      if (this.ws !== ws) return;
      this.ws = null;
      const wasReady = this.wsReady;
      this.wsReady = false;
      if (ev.code === 4002) {
        this.setState("offline");
        this.hooks.onSignedOut();
        return;
      }
      if (ev.code === 4001 || ev.code === 4003) {
        this.setState("offline");
        this.hooks.onAuthFailed();
        return;
      }
      if (wasReady) {
        this.wsFailures = 1;
        this.scheduleRetry(300);
      } else {
        this.socketFailed();
      }
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private socketFailed(): void {
    this.ws = null;
    this.wsFailures += 1;
    if (this.stopped) return;
    if (!navigator.onLine) {
      this.setState("offline");
      return;
    }
    if (this.wsFailures >= 2) {
      // The socket does not get through: carry on over plain HTTPS (or stay in the
      // tunnel until HTTPS answers again), and try the socket again later.
      if (this.tunneling) void this.probeHttps();
      else this.startPolling();
      this.scheduleRetry(WS_RETRY_FROM_POLL_MS);
    } else {
      this.scheduleRetry(800);
    }
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
          ws.close();
          this.ws = null;
          this.wsReady = false;
          this.socketFailed();
        }
      }, PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  // ---- long-poll -----------------------------------------------------------

  private startPolling(): void {
    if (this.polling) return;
    this.polling = true;
    this.setState("alternative");
    void this.pollLoop();
  }

  private pollLoop(): Promise<void> {
    return this.pullLoop({
      state: "alternative",
      waitS: POLL_TIMEOUT_S,
      current: () => this.polling,
      fetch: (cursor, waitS, signal) => this.api.sync(cursor, waitS, signal),
      setAbort: (abort) => (this.pollAbort = abort),
      end: () => (this.polling = false),
      failed: async (err, failures) => {
        if (err instanceof NetworkError && failures >= POLL_FAILURES_BEFORE_TUNNEL && this.tunnel !== null) {
          // HTTPS does not get through either: down to the DNS tunnel.
          this.polling = false;
          this.startTunnel();
          return true;
        }
        await sleep(2000);
        return false;
      },
    });
  }

  /**
   * Pages of frames over a route without a socket (HTTPS long-poll, the DNS tunnel): the
   * replay first (no wait), then waits; every frame processed before the next request.
   */
  private async pullLoop(route: PullRoute): Promise<void> {
    let synced = false;
    let failures = 0;
    while (route.current() && !this.stopped) {
      const abort = new AbortController();
      route.setAbort(abort);
      try {
        await this.chain; // everything earlier processed, so `processed` is current
        const page = await route.fetch(this.processed, synced ? route.waitS : 0, abort.signal);
        if (!route.current()) return;
        failures = 0;
        this.setState(route.state);
        for (const frame of page.events) this.enqueueFrame(frame);
        await this.chain;
        if (!page.more && !synced) {
          synced = true;
          this.enqueue(async () => this.hooks.onSynced());
        }
      } catch (err) {
        if (!route.current()) return;
        if (err instanceof ApiError && err.status === 401) {
          route.end();
          this.setState("offline");
          this.hooks.onAuthFailed();
          return;
        }
        if (!navigator.onLine) {
          this.goOffline();
          return;
        }
        failures += 1;
        if (await route.failed(err, failures)) return;
      }
    }
  }

  // ---- DNS tunnel ------------------------------------------------------------

  private startTunnel(): void {
    if (this.tunneling || this.tunnel === null) return;
    this.tunneling = true;
    this.api.sendRoute = this.tunnel;
    this.setState("dns");
    void this.tunnelLoop(this.tunnel, ++this.tunnelRun);
  }

  private stopTunnel(): void {
    if (!this.tunneling) return;
    this.tunneling = false;
    this.api.sendRoute = null;
    this.tunnelAbort?.abort();
    this.tunnelAbort = null;
  }

  private tunnelLoop(tunnel: DnsTunnel, run: number): Promise<void> {
    return this.pullLoop({
      state: "dns",
      waitS: TUNNEL_WAIT_S,
      current: () => this.tunneling && this.tunnelRun === run,
      fetch: (cursor, waitS, signal) => tunnel.sync(cursor, waitS, signal),
      setAbort: (abort) => (this.tunnelAbort = abort),
      end: () => this.stopTunnel(),
      failed: async (_err, failures) => {
        if (failures >= 3) this.setState("connecting"); // the tunnel does not get through either
        await sleep(Math.min(2000 * failures, 10000));
        return false;
      },
    });
  }

  /** From the tunnel, go back up to HTTPS as soon as it answers again. */
  private async probeHttps(): Promise<void> {
    try {
      await this.api.sync(this.processed, 0, new AbortController().signal);
    } catch {
      return;
    }
    if (!this.tunneling || this.stopped) return;
    this.stopTunnel();
    this.startPolling();
  }

  // ---- processing and acks ---------------------------------------------------

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
