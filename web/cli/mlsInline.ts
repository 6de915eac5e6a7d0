// The CLI's MLS "worker": the same MlsService the PWA runs in its module worker
// (web/src/mls/worker.ts), in this process. Replaces web/src/mls/client.ts in the CLI
// build (vite.cli.config.ts); the interface is the same.
import type { Remote } from "comlink";
import type { MlsWorkerApi } from "../src/mls/api";
import { MlsService } from "../src/mls/service";

export interface MlsWorkerHandle {
  api: Remote<MlsWorkerApi>;
  terminate(): void;
}

export function startMlsWorker(): MlsWorkerHandle {
  const service: MlsWorkerApi = new MlsService();
  return { api: service as unknown as Remote<MlsWorkerApi>, terminate: () => undefined };
}
