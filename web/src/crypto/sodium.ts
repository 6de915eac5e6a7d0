import sodium from "libsodium-wrappers-sumo";

/** The initialised libsodium (sumo) module. */
export type Sodium = typeof sodium;

let ready: Promise<Sodium> | undefined;

/** Resolves once libsodium's WASM is instantiated; every caller shares one instance. */
export function loadSodium(): Promise<Sodium> {
  ready ??= sodium.ready.then(() => sodium);
  return ready;
}
