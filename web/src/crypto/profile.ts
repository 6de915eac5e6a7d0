// A user's profile (display name, small picture) sealed under their profile key: 32 random bytes that the
// user's clients hand to their chats' members inside MLS, never to the server. The server
// keeps the sealed profile and a version number; the user and the version are bound into
// the seal, so it cannot pass one user's profile off as another's, nor an old one as new.
// The JSON is padded to a message bucket first: the ciphertext's size says little.
import { sealWithKey, openWithKey } from "./derivedKeys";
import { fromBase64, fromUtf8, toBase64, utf8 } from "./encoding";
import { padMessage, unpadMessage } from "./padding";
import { loadSodium } from "./sodium";

export const PROFILE_KEY_BYTES = 32;
/** Longest display name kept (in characters, after trimming). */
export const MAX_DISPLAY_NAME = 64;

/** Longest picture kept: a `data:` URL of a JPEG the client re-encoded (≤ 256 px); the sealed profile stays in one 64 KiB bucket. */
export const MAX_AVATAR_CHARS = 60_000;
const AVATAR_PREFIX = "data:image/jpeg;base64,";

export interface Profile {
  name: string;
  /** A small picture as a `data:image/jpeg;base64,` URL (re-encoded through a canvas: no metadata). */
  avatar?: string;
}

/** A picture as a profile may carry it (a hostile sender's anything else is dropped). */
export function checkedAvatar(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length > MAX_AVATAR_CHARS || !value.startsWith(AVATAR_PREFIX)) return undefined;
  return /^[A-Za-z0-9+/]+={0,2}$/.test(value.slice(AVATAR_PREFIX.length)) ? value : undefined;
}

/** What a member hands to the chat (inside an MLS application message) so others can open the profile. */
export interface ProfileKeyShare {
  /** base64 of the 32-byte profile key. */
  key: string;
  version: number;
}

export class InvalidProfileError extends Error {
  override name = "InvalidProfileError";
}

export async function newProfileKey(): Promise<Uint8Array> {
  return (await loadSodium()).randombytes_buf(PROFILE_KEY_BYTES);
}

function context(user: string, version: number): string {
  return `talkee-profile-v1|${user}|${version}`;
}

/**
 * A display name as people may set it: trimmed, control and format characters
 * (bidirectional overrides, zero-width joiners) taken out, at most MAX_DISPLAY_NAME characters.
 */
export function cleanDisplayName(name: string): string {
  const cleaned = name.normalize("NFC").replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, "").replace(/\s+/gu, " ").trim();
  return [...cleaned].slice(0, MAX_DISPLAY_NAME).join("");
}

export async function sealProfile(key: Uint8Array, user: string, version: number, profile: Profile): Promise<Uint8Array> {
  const name = cleanDisplayName(profile.name);
  const avatar = profile.avatar === undefined ? undefined : checkedAvatar(profile.avatar);
  if (profile.avatar !== undefined && avatar === undefined) throw new InvalidProfileError("the picture must be a small JPEG data: URL");
  return sealWithKey(key, padMessage(utf8(JSON.stringify(avatar === undefined ? { name } : { name, avatar }))), context(user, version));
}

/** Opens and checks a sealed profile; InvalidProfileError for anything but a profile of `user` at `version`. */
export async function openProfile(key: Uint8Array, user: string, version: number, sealed: Uint8Array): Promise<Profile> {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(unpadMessage(await openWithKey(key, sealed, context(user, version)))));
  } catch {
    throw new InvalidProfileError("the profile does not open under this key for this user and version");
  }
  const name = (value as Record<string, unknown> | null)?.["name"];
  if (typeof name !== "string") throw new InvalidProfileError("the profile has no name");
  const avatar = checkedAvatar((value as Record<string, unknown>)["avatar"]);
  return avatar === undefined ? { name: cleanDisplayName(name) } : { name: cleanDisplayName(name), avatar };
}

/** A share as it came in a member's message, checked (undefined: not a share). */
export function profileKeyShare(value: unknown): ProfileKeyShare | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { key, version } = value as Record<string, unknown>;
  if (typeof key !== "string" || typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) return undefined;
  try {
    if (fromBase64(key).length !== PROFILE_KEY_BYTES) return undefined;
  } catch {
    return undefined;
  }
  return { key, version };
}

export function shareOf(key: Uint8Array, version: number): ProfileKeyShare {
  return { key: toBase64(key), version };
}
