// What a group's sealed name carries: its name and, when it has one, its picture (a small
// JPEG data URL). Sealed together under the epoch's name key (./chats), so the server holds
// ciphertext only and every member opens both. A group without a picture seals its name alone,
// as before pictures existed; a sealing with a picture starts with a byte no name can hold.
import { fromUtf8, utf8 } from "../crypto/encoding";
import { cleanGroupName } from "./format";

/** The picture's most characters (the sealed name's limit on the server is 24 KiB). */
export const MAX_GROUP_PICTURE_CHARS = 16_000;
/** Its side in pixels. */
export const GROUP_PICTURE_SIDE = 128;
const WITH_PICTURE = "\u0001";
const PICTURE = /^data:image\/jpeg;base64,[A-Za-z0-9+/]+={0,2}$/;

export interface GroupMeta {
  name: string;
  picture?: string;
}

export function encodeGroupMeta(meta: GroupMeta): Uint8Array {
  if (meta.picture === undefined) return utf8(meta.name);
  return utf8(WITH_PICTURE + JSON.stringify({ name: meta.name, picture: meta.picture }));
}

/** The name and picture in an opened sealing; a picture that is not a small JPEG data URL is left out. */
export function decodeGroupMeta(bytes: Uint8Array): GroupMeta {
  const text = fromUtf8(bytes);
  if (!text.startsWith(WITH_PICTURE)) return { name: text };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(1));
  } catch {
    return { name: "" };
  }
  const record = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const name = typeof record["name"] === "string" ? cleanGroupName(record["name"]) : "";
  const picture = record["picture"];
  return typeof picture === "string" && picture.length <= MAX_GROUP_PICTURE_CHARS && PICTURE.test(picture) ? { name, picture } : { name };
}
