// The few browser globals the shared core (web/src) reads, for Node 20: IndexedDB (an
// in-memory fake-indexeddb, persisted to the vault file by ./vaultFile.ts), `location`
// (the server the CLI talks to), relative `fetch` URLs resolved against it, a
// `localStorage` kept in memory, and a page that is always visible and online.
// Imported first by ./main.ts, before any module of web/src.
import "fake-indexeddb/auto";

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
g["document"] = { visibilityState: "visible", hasFocus: () => false, addEventListener: noop, removeEventListener: noop };
Object.defineProperty(globalThis, "navigator", {
  value: { userAgent: `talkee-cli (Node ${process.version}; Linux)`, onLine: true },
  configurable: true,
});
g["localStorage"] = {
  getItem: (k: string) => store.get(k) ?? null,
  setItem: (k: string, v: string) => void store.set(k, String(v)),
  removeItem: (k: string) => void store.delete(k),
};
setOrigin("http://127.0.0.1:8000");

const nodeFetch = globalThis.fetch;
globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) =>
  nodeFetch(typeof input === "string" && input.startsWith("/") ? new URL(input, (g["location"] as URL).origin) : input, init);

/** What the CLI keeps of localStorage across runs (the tunnel's remembered zone and key). */
export function localStorageSnapshot(): Record<string, string> {
  return Object.fromEntries(store);
}

export function restoreLocalStorage(items: Record<string, string>): void {
  for (const [k, v] of Object.entries(items)) store.set(k, v);
}
