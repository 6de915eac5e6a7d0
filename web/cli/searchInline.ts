// The CLI's search engine: the index in this process (web/src/search/client.ts's
// localEngine) instead of a module worker. Replaces web/src/search/client.ts in the CLI build.
export { localEngine, localEngine as startSearchWorker, type SearchEngine } from "../src/search/client";
