// The homeserver's HTTP API (/v1/, JSON, binary as standard base64). Errors come
// back as ApiError with the server's code and a message fit to show a person.
import { t, type Key } from "../i18n/index";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The request never reached the server (offline, DNS, connection refused). */
export class NetworkError extends Error {
  override name = "NetworkError";
  constructor() {
    super(t("error.network"));
  }
}

/** A refusal that says "not now" rather than "no": the server is busy (429) or one of the
 * services behind it is restarting (500–504, a proxy's 502/504 included): try again later. */
export function isPassing(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 429 || err.status >= 500);
}

const HUMAN: Record<string, Key> = {
  invalid_credentials: "error.invalid_credentials",
  user_not_found: "error.user_not_found",
  peer_unreachable: "error.peer_unreachable",
  username_taken: "error.username_taken",
  not_accepted: "error.not_accepted",
  cannot_block_self: "error.cannot_block_self",
  username_retired: "error.username_retired",
  channel_read_only: "error.channel_read_only",
  not_chat_admin: "error.not_chat_admin",
  cannot_remove_owner: "error.cannot_remove_owner",
  wrong_edit_secret: "error.wrong_edit_secret",
  throttled: "error.throttled",
  rate_limited: "error.rate_limited",
  message_too_large: "error.message_too_large",
  file_too_large: "error.file_too_large",
  device_revoked: "error.device_revoked",
  device_not_found: "error.device_not_found",
};

/** A sentence for people: the server's own message when it has one, never a stack. */
export function humanError(err: unknown): string {
  if (err instanceof ApiError) {
    const key = HUMAN[err.code];
    return key === undefined ? err.message : t(key);
  }
  if (err instanceof NetworkError) return err.message;
  if (err instanceof Error) {
    switch (err.name) {
      case "WrongPasswordError":
        return t("error.wrongPassword");
      case "InvalidMnemonicError":
        return t("error.badPhrase");
      case "FileTooLargeError":
        return t("error.file_too_large");
      case "PictureUnreadableError":
        return err.message;
      case "PayloadTooLargeError":
        return t("error.tooLong");
      default:
        return t("error.wentWrongBecause", { reason: err.message.split("\n")[0] ?? "" });
    }
  }
  return t("error.wentWrong");
}

export interface ChatMember {
  user: string;
  role: "owner" | "admin" | "member";
  joined: string;
}

export interface ChatInfo {
  id: string;
  kind: "direct" | "group" | "channel";
  encrypted_name: string | null;
  name_epoch: number;
  epoch: number;
  ttl_seconds: number | null;
  created: string;
  members: ChatMember[];
  role: string | null;
  favourite: boolean;
  /** The instance that orders this chat (its creator's); absent from older servers: here. */
  home?: string;
}

/** A send's answer: in a chat homed on another instance it is only forwarded (no id, no seq yet). */
export interface SentAnswer {
  id: number | null;
  seq: number | null;
  forwarded?: boolean;
}

export interface WireMessage {
  id: number;
  seq: number;
  chat_id: string;
  kind: "application" | "commit" | "welcome" | "proposal";
  epoch: number;
  ciphertext: string | null;
  edited_at: string | null;
  deleted: boolean;
  expires_at: string | null;
  burn_on_read: boolean;
  created: string;
}

/** A changed message; `forwarded`: only queued for the chat's home, which applies it and sends the result as a frame. */
export type ChangedAnswer = WireMessage & { forwarded?: boolean };

export interface SendBody {
  client_message_id: string;
  kind: "application" | "commit";
  epoch: number;
  ciphertext: string;
  edit_hash?: string;
  ttl_seconds?: number;
  burn_on_read?: boolean;
  welcome?: { device_ids: number[]; payload: string };
  blob_ids?: string[];
  /** The members the message mentions: pushed even where they muted the chat (the server learns who). */
  wake?: string[];
}

export interface ClaimedKeyPackage {
  device_id: number;
  client_device_id: string;
  keypackage: string | null;
  /** The user's identity key and this device's certificate (base64; null: none / uncertified). */
  identity_key?: string | null;
  certificate?: string | null;
}

/** One entry of a user's key log (apps/devices/keylog.py; checked by app/keylog.ts). */
export interface LogEntry {
  index: number;
  kind: "identity" | "certified" | "revoked";
  body: string;
}

/** The key log part of GET /v1/devices/of/{user} (null for a user of another instance). */
export interface ListedLog {
  size: number;
  head: string;
  signature: string;
  entries: LogEntry[];
}

export interface DeviceInfo {
  id: number;
  client_device_id: string;
  label: string;
  ed25519_pub: string;
  x25519_pub: string;
  created: string;
  last_seen: string;
  keypackage_count: number;
  current: boolean;
  /** The device certificate by the account's identity key (base64); null until approved. */
  certificate: string | null;
  /** For this device only: the identity key sealed to it by the device that approved it. */
  sealed_identity: string | null;
  /** False once the device was signed out (from another device, or it logged out); it stays until revoked. */
  signed_in: boolean;
}

/** Another way to send while HTTPS is blocked (the DNS tunnel, set by transport/connection.ts). */
export interface PushPreferences {
  /** Calls ring on this device in chats it muted. */
  calls_when_muted: boolean;
  /** A message that mentions this device's user wakes it in chats it muted. */
  mentions_when_muted: boolean;
}

/** A user's profile as the server keeps it: sealed under the user's profile key. */
export interface ProfileAnswer {
  user: string;
  version: number;
  ciphertext: string;
}

export interface SendRoute {
  send(chatId: string, body: SendBody): Promise<SentAnswer>;
}

/** How long a request may go unanswered (one without its own signal): a server that took the
 * connection and says nothing must not hold a send, a sign-in or the CLI forever. */
export const REQUEST_TIMEOUT_MS = 60_000;

export class Api {
  token: string | null = null;
  sendRoute: SendRoute | null = null;

  constructor(
    private readonly base = "",
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token !== null) headers["Authorization"] = `Bearer ${this.token}`;
    let response: Response;
    try {
      const init: RequestInit = { method, headers, cache: "no-store" };
      if (body !== undefined) init.body = JSON.stringify(body);
      init.signal = signal ?? AbortSignal.timeout(this.timeoutMs);
      response = await fetch(this.base + path, init);
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      throw new NetworkError();
    }
    if (response.status === 204) return undefined as T;
    let data: unknown = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
      if (response.status === 429) throw new ApiError(429, "throttled", t("error.throttled"));
      throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? `The server answered ${response.status}.`);
    }
    return data as T;
  }

  // --- accounts ---
  serverInfo(): Promise<{ domain: string; tunnel_x25519_pub?: string; tunnel_zone?: string; tunnel_doh_url?: string | null }> {
    return this.call("GET", "/.well-known/talkee/server");
  }
  register(username: string, password: string, recoveryHash: string): Promise<{ user: string }> {
    return this.call("POST", "/v1/accounts/register", { username, password, recovery_hash: recoveryHash });
  }
  challenge(username: string): Promise<{ nonce: string }> {
    return this.call("POST", "/v1/auth/challenge", { username });
  }
  login(body: unknown): Promise<{ token: string; device_id: number; user: string }> {
    return this.call("POST", "/v1/auth/login", body);
  }
  logout(): Promise<void> {
    return this.call("POST", "/v1/auth/logout");
  }
  /** 403 `wrong_password` when `current` is not right; → how many other devices were signed out. */
  changePassword(current: string, next: string, logOutOthers: boolean): Promise<{ signed_out: number }> {
    return this.call("POST", "/v1/accounts/me/password", { current_password: current, new_password: next, log_out_other_devices: logOutOthers });
  }
  /** The people this user blocked (only this user can read the list). */
  blocks(): Promise<{ user: string; created: string }[]> {
    return this.call("GET", "/v1/blocks");
  }
  block(user: string): Promise<{ user: string; created: string }> {
    return this.call("POST", "/v1/blocks", { user });
  }
  unblock(user: string): Promise<void> {
    return this.call("DELETE", `/v1/blocks/${encodeURIComponent(user)}`);
  }
  /** 403 `wrong_password` when `password` is not right; the account and every device's session end. */
  deleteAccount(password: string): Promise<void> {
    return this.call("POST", "/v1/accounts/me/delete", { password });
  }
  logOutOtherDevices(): Promise<{ signed_out: number }> {
    return this.call("POST", "/v1/accounts/me/log-out-others");
  }
  /** The caller's encrypted profile; 409 `stale_profile_version` unless `version` is higher than the stored one. */
  setProfile(version: number, ciphertext: string): Promise<ProfileAnswer> {
    return this.call("PUT", "/v1/accounts/me/profile", { version, ciphertext });
  }
  /** A user's encrypted profile (`me`: the caller's); 404 when there is none. */
  profile(user: string): Promise<ProfileAnswer> {
    return this.call("GET", `/v1/accounts/${user === "me" ? "me" : encodeURIComponent(user)}/profile`);
  }
  recover(username: string, recoveryProof: string, newPassword: string): Promise<void> {
    return this.call("POST", "/v1/accounts/recover", { username, recovery_proof: recoveryProof, new_password: newPassword });
  }
  uploadKeyPackages(keypackages: string[]): Promise<{ stored: number }> {
    return this.call("POST", "/v1/keypackages", { keypackages });
  }
  /** One KeyPackage per device of these users (only `deviceIds` of them when given). */
  /** Stores a device certificate made here with the identity key (the server cannot make one). */
  /** `sealedIdentity`: approving another of our devices, the identity key sealed to it. */
  setCertificate(deviceId: number, identityKey: string, certificate: string, sealedIdentity?: string): Promise<unknown> {
    const body = { identity_key: identityKey, certificate, ...(sealedIdentity === undefined ? {} : { sealed_identity: sealedIdentity }) };
    return this.call("PUT", `/v1/devices/${deviceId}/certificate`, body);
  }

  /** A user's identity key and device certificates (made by their clients; checked by ours). */
  certificatesOf(
    user: string,
    logFrom = 0,
  ): Promise<{ user: string; identity_key: string | null; devices: Array<{ client_device_id: string; certificate: string | null }>; log?: ListedLog | null }> {
    return this.call("GET", `/v1/devices/of/${encodeURIComponent(user)}${logFrom > 0 ? `?log_from=${logFrom}` : ""}`);
  }

  claimKeyPackages(users: string[], deviceIds?: number[]): Promise<Record<string, ClaimedKeyPackage[]>> {
    return this.call("POST", "/v1/keypackages/claim", deviceIds === undefined ? { users } : { users, device_ids: deviceIds });
  }

  // --- devices ---
  /** Short-lived credentials for the instance's TURN servers (`urls` empty: none). */
  turnCredentials(): Promise<{ urls: string[]; username?: string; credential?: string; ttl?: number }> {
    return this.call("GET", "/v1/calls/turn");
  }
  /** A single-use ticket for the group chat's call on the instance's SFU (404 group_calls_disabled: none). */
  groupCallTicket(chatId: string): Promise<{ room: number; ticket: string; expires_in: number; path: string }> {
    return this.call("POST", `/v1/chats/${chatId}/group-call`);
  }
  devices(): Promise<DeviceInfo[]> {
    return this.call("GET", "/v1/devices");
  }
  revokeDevice(deviceId: number): Promise<void> {
    return this.call("DELETE", `/v1/devices/${deviceId}`);
  }
  /** A history bundle sealed to one of our own devices (≤ 4 MiB). */
  uploadSyncBundle(toDeviceId: number, chatId: string, ciphertext: string): Promise<{ id: number }> {
    return this.call("POST", "/v1/device-sync/bundle", { to_device_id: toDeviceId, chat_id: chatId, ciphertext });
  }

  // --- push notifications (this device's subscription and chat mutes) ---
  pushKey(): Promise<{ public_key: string }> {
    return this.call("GET", "/v1/push/vapid");
  }
  /** `subscription` is `PushSubscription.toJSON()`: {endpoint, keys: {p256dh, auth}}. */
  pushSubscribe(subscription: unknown): Promise<void> {
    return this.call("PUT", "/v1/push/subscription", subscription);
  }
  pushUnsubscribe(): Promise<void> {
    return this.call("DELETE", "/v1/push/subscription");
  }
  pushMutes(): Promise<{ chat_id: string; until: string | null }[]> {
    return this.call("GET", "/v1/push/mutes");
  }
  /** Mute a chat on this device until a time (null: until unmuted). */
  pushMute(chatId: string, until: Date | null): Promise<{ chat_id: string; until: string | null }> {
    return this.call("PUT", `/v1/push/mutes/${chatId}`, until === null ? { always: true } : { until: until.toISOString() });
  }
  pushUnmute(chatId: string): Promise<void> {
    return this.call("DELETE", `/v1/push/mutes/${chatId}`);
  }
  /** This device's push choices in chats it muted: do calls ring, do mentions wake it (the server's default: yes). */
  pushPreferences(): Promise<PushPreferences> {
    return this.call("GET", "/v1/push/preferences");
  }
  pushSetPreferences(preferences: Partial<PushPreferences>): Promise<PushPreferences> {
    return this.call("PUT", "/v1/push/preferences", preferences);
  }

  // --- chats ---
  chats(): Promise<ChatInfo[]> {
    return this.call("GET", "/v1/chats");
  }
  chat(id: string): Promise<ChatInfo> {
    return this.call("GET", `/v1/chats/${id}`);
  }
  createChat(body: { id: string; kind: string; members: string[]; encrypted_name?: string; mls_group_id?: string }): Promise<ChatInfo> {
    return this.call("POST", "/v1/chats", body);
  }
  addMembers(chatId: string, users: string[], role = "member"): Promise<ChatInfo> {
    return this.call("POST", `/v1/chats/${chatId}/members`, { users, role });
  }
  removeMember(chatId: string, user: string): Promise<void> {
    return this.call("DELETE", `/v1/chats/${chatId}/members/${encodeURIComponent(user)}`);
  }
  setRole(chatId: string, user: string, role: string): Promise<ChatInfo> {
    return this.call("PATCH", `/v1/chats/${chatId}/members/${encodeURIComponent(user)}`, { role });
  }
  setName(chatId: string, encryptedName: string, epoch: number): Promise<ChatInfo> {
    return this.call("PUT", `/v1/chats/${chatId}/name`, { encrypted_name: encryptedName, epoch });
  }
  /** The chat's self-destruct default for messages sent from now on (null: off). */
  setTimer(chatId: string, ttlSeconds: number | null): Promise<ChatInfo> {
    return this.call("PATCH", `/v1/chats/${chatId}`, { ttl_seconds: ttlSeconds });
  }
  setFavourite(chatId: string, favourite: boolean): Promise<void> {
    return this.call(favourite ? "PUT" : "DELETE", `/v1/chats/${chatId}/favourite`);
  }

  // --- messages ---
  send(chatId: string, body: SendBody): Promise<SentAnswer> {
    if (this.sendRoute !== null) return this.sendRoute.send(chatId, body);
    return this.call("POST", `/v1/chats/${chatId}/messages`, body);
  }
  history(chatId: string, beforeSeq: number | null, limit = 50): Promise<{ messages: WireMessage[] }> {
    const q = beforeSeq === null ? `limit=${limit}` : `before_seq=${beforeSeq}&limit=${limit}`;
    return this.call("GET", `/v1/chats/${chatId}/messages?${q}`);
  }
  /** Edit, delete and burn answer the message as it is; 202 `forwarded` when the chat's home (another instance) applies it. */
  editMessage(id: number, editSecret: string, ciphertext: string): Promise<ChangedAnswer> {
    return this.call("PATCH", `/v1/messages/${id}`, { edit_secret: editSecret, ciphertext });
  }
  deleteMessage(id: number, editSecret: string | null): Promise<ChangedAnswer> {
    return this.call("DELETE", `/v1/messages/${id}`, editSecret === null ? {} : { edit_secret: editSecret });
  }
  burn(id: number): Promise<ChangedAnswer> {
    return this.call("POST", `/v1/messages/${id}/burn`);
  }
  /** `id` is null when the chat's home is another instance: the reaction arrives as a frame. */
  react(messageId: number, ciphertext: string, removeHash: string): Promise<{ id: number | null }> {
    return this.call("POST", `/v1/messages/${messageId}/reactions`, { ciphertext, remove_hash: removeHash });
  }
  /** 204 (undefined), or 202 `forwarded` when the chat's home applies it. */
  unreact(reactionId: number, removeSecret: string): Promise<{ forwarded?: boolean } | undefined> {
    return this.call("DELETE", `/v1/reactions/${reactionId}`, { remove_secret: removeSecret });
  }
  // --- blobs (encrypted, padded file bytes; the name and type never reach the server) ---
  createBlob(chatId: string, size: number): Promise<{ id: string; size: number; chunk_size: number; chunk_count: number }> {
    return this.call("POST", "/v1/blobs", { chat_id: chatId, size });
  }
  /** One chunk, over XMLHttpRequest: fetch cannot report upload progress (`onProgress`: bytes sent so far). */
  putChunk(blobId: string, index: number, bytes: Uint8Array, onProgress?: (sent: number) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", `/v1/blobs/${blobId}/chunks/${index}`);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("Authorization", `Bearer ${this.token ?? ""}`);
      if (onProgress !== undefined) xhr.upload.addEventListener("progress", (ev) => onProgress(ev.loaded));
      xhr.addEventListener("error", () => reject(new NetworkError()));
      xhr.addEventListener("abort", () => reject(new NetworkError()));
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) return resolve();
        const data = ((): { error?: { code?: string; message?: string } } | null => {
          try {
            return JSON.parse(xhr.responseText) as { error?: { code?: string; message?: string } };
          } catch {
            return null;
          }
        })();
        reject(new ApiError(xhr.status, data?.error?.code ?? `http_${xhr.status}`, data?.error?.message ?? "Upload failed."));
      });
      xhr.send(bytes as unknown as XMLHttpRequestBodyInit);
    });
  }
  /** Which chunks the server holds (to resume an interrupted upload). */
  uploadStatus(blobId: string): Promise<{ id: string; size: number; chunk_size: number; chunk_count: number; received: number[]; complete: boolean }> {
    return this.call("GET", `/v1/blobs/${blobId}/chunks`);
  }
  completeBlob(blobId: string): Promise<{ id: string; size: number }> {
    return this.call("POST", `/v1/blobs/${blobId}/complete`);
  }
  async fetchBlob(blobId: string): Promise<ReadableStream<Uint8Array>> {
    let response: Response;
    try {
      response = await fetch(`/v1/blobs/${blobId}`, { headers: { Authorization: `Bearer ${this.token ?? ""}` }, cache: "no-store" });
    } catch {
      throw new NetworkError();
    }
    if (!response.ok || response.body === null) {
      const data = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
      throw new ApiError(response.status, data?.error?.code ?? `http_${response.status}`, data?.error?.message ?? "Download failed.");
    }
    return response.body;
  }

  sync(cursor: number, timeout: number, signal: AbortSignal): Promise<{ events: Frame[]; cursor: number; more: boolean }> {
    return this.call("GET", `/v1/sync?cursor=${cursor}&timeout=${timeout}`, undefined, signal);
  }
  ack(cursor: number): Promise<{ cursor: number }> {
    return this.call("POST", "/v1/sync/ack", { cursor });
  }
}

/** A frame of the device stream (WebSocket, long-poll, replay). */
export type Frame =
  | { type: "event"; cursor: number; chat_id: string; message: WireMessage }
  | { type: "reaction"; cursor: number; chat_id: string; reaction: { id: number; message_id: number; ciphertext: string | null; deleted: boolean } }
  | {
      type: "device_event";
      cursor: number;
      kind: "welcome" | "chat" | "sync_bundle" | "device";
      chat_id: string | null;
      payload: string | null;
      data: Record<string, unknown> | null;
      from_device_id?: number | null;
    };
