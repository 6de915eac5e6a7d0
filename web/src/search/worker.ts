/// <reference lib="webworker" />
// The search index's own worker: indexing, serializing and querying run off the page's
// thread. The page reaches it through comlink (../app/search.ts); it sees decrypted text
// but stores nothing itself — the page seals what `serialize` returns into the vault.
import { expose, transfer } from "comlink";
import { SearchIndex } from "./searchIndex";

const index = new SearchIndex();

const api = {
  load: (bytes: Uint8Array | null) => index.load(bytes),
  upsert: (docs: Parameters<SearchIndex["upsert"]>[0]) => index.upsert(docs),
  remove: (ids: string[]) => index.remove(ids),
  beginSync: () => index.beginSync(),
  endSync: () => index.endSync(),
  search: (query: string, options: Parameters<SearchIndex["search"]>[1]) => index.search(query, options),
  size: () => index.size,
  serialize: () => {
    const bytes = index.serialize();
    return transfer(bytes, [bytes.buffer as ArrayBuffer]);
  },
};

export type SearchWorkerApi = typeof api;

expose(api);
