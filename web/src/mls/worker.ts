/// <reference lib="webworker" />
// The dedicated module worker that owns all MLS state and the device's private
// keys. The page reaches it only through the MlsWorkerApi RPC (client.ts).
import { expose } from "comlink";
import { MlsService } from "./service";

expose(new MlsService());
