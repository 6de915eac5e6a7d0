// The few browser globals the shared core (web/src) reads, for Node 20: IndexedDB (an
// in-memory fake-indexeddb, persisted to the vault file by ./vaultFile.ts), `location`
// (the server the CLI talks to), relative `fetch` URLs resolved against it, a
// `localStorage` kept in memory, and a page that is always visible and online.
// Imported first by ./main.ts, before any module of web/src.
import "fake-indexeddb/auto";
import { FetchXhr } from "./xhr";

const noop = (): void => undefined;
const store = new Map<string, string>();
const g = globalThis as Record<string, unknown>;

/** The server's origin the core treats as "this page's" (`location`); set by main.ts. */
export function setOrigin(base: string): void {
  g["location"] = new URL(base);
}

g["window"] = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  addEventListener: noop,
  removeEventListener: noop,
  crypto: globalThis.crypto,
};
g["XMLHttpRequest"] = FetchXhr;
g["document"] = { visibilityState: "visible", hasFocus: () => false, addEventListener: noop, removeEventListener: noop };
Object.defineProperty(globalThis, "navigator", {
  value: { userAgent: `talkee-cli (Node ${process.version}; Linux)`, onLine: true },
  configurable: true,
});
let onLocalChange: () => void = noop;
g["localStorage"] = {
  getItem: (k: string) => store.get(k) ?? null,
  setItem: (k: string, v: string) => (store.set(k, String(v)), onLocalChange()),
  removeItem: (k: string) => (store.delete(k), onLocalChange()),
};
setOrigin("http://127.0.0.1:8000");
// The core's own diagnostics ("talkee: … not loaded") are for developers: shown with TALKEE_CLI_DEBUG=1.
if (!process.env["TALKEE_CLI_DEBUG"]) console.log = console.info = console.debug = console.warn = noop;

const nodeFetch = globalThis.fetch;
globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) =>
  nodeFetch(typeof input === "string" && input.startsWith("/") ? new URL(input, (g["location"] as URL).origin) : input, init);

/** What the CLI keeps of localStorage across runs (the tunnel's remembered zone and key). */
export function localStorageSnapshot(): Record<string, string> {
  return Object.fromEntries(store);
}

export function restoreLocalStorage(items: Record<string, string>, changed: () => void): void {
  for (const [k, v] of Object.entries(items)) store.set(k, v);
  onLocalChange = changed;
}

/**
 * --dns: nothing but DNS queries to the resolver leaves this process. Every HTTP request
 * fails at once, as if the server could not be reached, and no WebSocket opens, so the
 * connection climbs straight down to the tunnel (which ./dnsWire.ts carries).
 */
export function dnsOnly(): void {
  globalThis.fetch = () => Promise.reject(new TypeError("fetch failed: only DNS is used (--dns)"));
  g["WebSocket"] = class {
    constructor() {
      throw new TypeError("no WebSocket: only DNS is used (--dns)");
    }
  };
}
