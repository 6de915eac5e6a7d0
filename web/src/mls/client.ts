// Page-side handle on the MLS worker: a typed comlink proxy of MlsWorkerApi.
import { wrap, type Remote } from "comlink";
import type { MlsWorkerApi } from "./api";

export interface MlsWorkerHandle {
  api: Remote<MlsWorkerApi>;
  /** Kills the worker at once (in-memory secrets die with it; the vault keeps the state). */
  terminate(): void;
}

export function startMlsWorker(): MlsWorkerHandle {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "talkee-mls" });
  const api = wrap<MlsWorkerApi>(worker);
  return {
    api,
    terminate() {
      worker.terminate();
    },
  };
}
