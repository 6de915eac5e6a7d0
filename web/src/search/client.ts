// Page-side handle on the search worker (./worker.ts), and the same interface over an index
// in this thread (the unit tests use it; so could a browser without module workers).
import { wrap } from "comlink";
import { SearchIndex, type SearchDoc, type SearchHit } from "./searchIndex";
import type { SearchWorkerApi } from "./worker";

/** What the app layer asks of the index (app/search.ts). */
export interface SearchEngine {
  load(bytes: Uint8Array | null): Promise<boolean>;
  upsert(docs: SearchDoc[]): Promise<number>;
  remove(ids: string[]): Promise<void>;
  beginSync(): Promise<void>;
  endSync(): Promise<number>;
  search(query: string, options: { chat?: string; limit?: number }): Promise<SearchHit[]>;
  serialize(): Promise<Uint8Array>;
  size(): Promise<number>;
  terminate(): void;
}

export function startSearchWorker(): SearchEngine {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "talkee-search" });
  const api = wrap<SearchWorkerApi>(worker);
  return {
    load: (bytes) => api.load(bytes),
    upsert: (docs) => api.upsert(docs),
    remove: (ids) => api.remove(ids),
    beginSync: () => api.beginSync(),
    endSync: () => api.endSync(),
    search: (query, options) => api.search(query, options),
    serialize: () => api.serialize(),
    size: () => api.size(),
    terminate: () => worker.terminate(),
  };
}

export function localEngine(index = new SearchIndex()): SearchEngine {
  return {
    load: async (bytes) => index.load(bytes),
    upsert: async (docs) => index.upsert(docs),
    remove: async (ids) => index.remove(ids),
    beginSync: async () => index.beginSync(),
    endSync: async () => index.endSync(),
    search: async (query, options) => index.search(query, options),
    serialize: async () => index.serialize(),
    size: async () => index.size,
    terminate: () => undefined,
  };
}
