// What every app-layer module shares (see README.md, "Module map"): the server, the MLS
// worker, this device's store, who we are, the one turn lock and the change events the
// UI listens to. Each module takes only the parts it uses (`Pick<AppContext, …>`).
import type { Remote } from "comlink";
import type { Api } from "../api/client";
import type { MlsWorkerApi } from "../mls/api";
import type { TurnLock } from "./lock";
import type { AppStore } from "./store";

export type ChangeKind = "chats" | "messages" | "link" | "typing" | "presence" | "uploads" | "devices" | "revoked" | "deleted" | "refused" | "blocks";

export interface AppContext {
  readonly api: Api;
  readonly mls: Remote<MlsWorkerApi>;
  readonly store: AppStore;
  /** This device's MLS credential, `user@domain:client_device_id`. */
  readonly credential: string;
  readonly user: string;
  readonly domain: string;
  /** Inbound frames, our commits and everything encrypted take turns (./lock). */
  readonly lock: TurnLock;
  /**
   * Ciphertexts we posted and will see again on the stream (MLS senders cannot decrypt
   * their own messages): recognised, never decrypted.
   */
  readonly ownCiphertexts: Set<string>;
  emit(kind: ChangeKind, chatId?: string, text?: string): void;
}

export function newId(): string {
  return crypto.randomUUID();
}

/** Recognises one of our own ciphertexts later (its tail holds the AEAD tag: unique). */
export function ownMark(ciphertext: string): string {
  return ciphertext.slice(-44);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => globalThis.setTimeout(r, ms));
}

/** By seq, then time: the order a chat's list is shown in (messages not ordered yet at the end). */
export function sortBySeq<T extends { seq: number | null; at: number }>(list: T[]): void {
  list.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER) || a.at - b.at);
}
