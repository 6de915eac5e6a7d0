// Chat records as this device keeps them: merged from the server's snapshots, the group
// name opened (and sealed) with the epoch's exporter key, titles and previews.
import type { Remote } from "comlink";
import { ApiError, type Api, type ChatInfo } from "../api/client";
import { openWithKey, sealWithKey } from "../crypto/derivedKeys";
import { fromBase64, fromUtf8, toBase64, utf8 } from "../crypto/encoding";
import type { MlsWorkerApi } from "../mls/api";
import { localNoticeText } from "./contacts";
import type { AppContext } from "./context";
import { cleanGroupName, displayName, fileLabel, userOf } from "./format";
import { decodeGroupMeta, encodeGroupMeta, MAX_GROUP_PICTURE_CHARS } from "./groupMeta";
import type { ChatRecord } from "./store";
import { t } from "../i18n/index";

const NAME_CONTEXT = "talkee-group-name-v1";

export interface ChatsDeps {
  readonly ctx: Pick<AppContext, "store" | "user" | "domain" | "emit"> & {
    readonly api: Pick<Api, "chats" | "chat" | "setName" | "setRole" | "setTimer" | "setFavourite">;
    readonly mls: Pick<Remote<MlsWorkerApi>, "listGroups" | "chatKeys">;
  };
  /** Someone new to show our presence to (presence goes only to our chats). */
  newChat(): void;
  /** The display name a user set in their profile (./profiles), null when none is known. */
  nameOf(user: string): string | null;
  /** The picture a user set in their profile (./profiles). */
  pictureOf?(user: string): string | undefined;
  /** A user this one blocked (./blocks): their messages are not previewed. */
  blocked?(user: string): boolean;
}

export class Chats {
  constructor(private readonly deps: ChatsDeps) {}

  private get ctx(): ChatsDeps["ctx"] {
    return this.deps.ctx;
  }

  title(chat: ChatRecord): string {
    if (chat.kind === "direct") {
      const other = chat.members.find((m) => m.user !== this.ctx.user);
      return other !== undefined ? this.personName(other.user) : t("chat.direct");
    }
    return chat.name ?? (chat.kind === "channel" ? t("chats.channel") : t("chats.group"));
  }

  /** A chat's picture: a direct chat's other person's, a group's own (undefined: none). */
  picture(chat: ChatRecord): string | undefined {
    if (chat.kind !== "direct") return chat.picture;
    const other = chat.members.find((m) => m.user !== this.ctx.user);
    return other === undefined ? undefined : this.deps.pictureOf?.(other.user);
  }

  /** A person as the app names them: their profile's display name, else their address (`bob`, `bob@elsewhere`). */
  personName(user: string): string {
    return this.deps.nameOf(user) ?? displayName(user, this.ctx.domain);
  }

  /** The chat list's preview line, from what this device holds (never a burn-on-read text). */
  preview(chat: ChatRecord): string {
    const list = this.ctx.store.messagesOf(chat.id);
    // Messages of people this user blocked are not previewed (./blocks).
    const last = list.findLast((m) => m.mine || !(this.deps.blocked?.(userOf(m.sender)) ?? false));
    if (last === undefined) return chat.lastText;
    if (last.deleted) return last.expired ? t("msg.expired") : t("msg.deleted");
    if (last.unavailable) return t("chat.encrypted");
    if (last.local !== undefined) return localNoticeText(last.local, this.ctx.domain);
    if (last.burn && !last.mine && !last.revealed) return t("chat.burnMessage");
    if (last.text !== "") return last.text;
    return last.file !== undefined ? fileLabel(last.file) : chat.lastText;
  }

  /** The chat is ordered by another instance (member changes and sends are forwarded there). */
  homedElsewhere(chat: ChatRecord): boolean {
    return chat.home !== undefined && chat.home !== "" && chat.home !== this.ctx.domain;
  }

  async refreshAll(): Promise<void> {
    const { store } = this.ctx;
    const list = await this.ctx.api.chats();
    const seen = new Set<string>();
    for (const info of list) {
      seen.add(info.id);
      await this.merge(info);
    }
    for (const chat of store.chats.values()) {
      if (!seen.has(chat.id) && !chat.removed) chat.removed = true;
    }
    await store.saveChats();
    this.ctx.emit("chats");
  }

  async refresh(chatId: string): Promise<void> {
    const { store } = this.ctx;
    try {
      await this.merge(await this.ctx.api.chat(chatId));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        const chat = store.chats.get(chatId);
        if (chat !== undefined) chat.removed = true;
      } else {
        throw err;
      }
    }
    await store.saveChats();
    this.ctx.emit("chats");
  }

  /** The server's snapshot into our record (created if new; the name opened if its epoch is ours). */
  async merge(info: ChatInfo): Promise<ChatRecord> {
    const { store, mls } = this.ctx;
    let chat = store.chats.get(info.id);
    if (chat === undefined) {
      this.deps.newChat();
      chat = {
        id: info.id,
        kind: info.kind,
        name: null,
        nameEpoch: -1,
        members: [],
        role: null,
        favourite: false,
        unread: 0,
        lastText: "",
        lastAt: Date.parse(info.created),
        ttlSeconds: null,
        joined: (await mls.listGroups()).includes(info.id),
        removed: false,
      };
      store.chats.set(info.id, chat);
    }
    chat.members = info.members.map((m) => ({ user: m.user, role: m.role }));
    chat.role = info.role;
    chat.favourite = info.favourite;
    chat.ttlSeconds = info.ttl_seconds;
    if (info.home !== undefined) chat.home = info.home;
    chat.removed = false;
    // Opened again when sealed anew: after a commit (another epoch) or a rename (same epoch).
    if (info.encrypted_name !== null && chat.joined && (info.name_epoch !== chat.nameEpoch || info.encrypted_name !== chat.nameSealed)) {
      try {
        const keys = await mls.chatKeys(info.id);
        if (keys.epoch === info.name_epoch) {
          const meta = decodeGroupMeta(await openWithKey(keys.groupNameKey, fromBase64(info.encrypted_name), NAME_CONTEXT));
          chat.name = meta.name;
          if (meta.picture !== undefined) chat.picture = meta.picture;
          else delete chat.picture;
          chat.nameEpoch = info.name_epoch;
          chat.nameSealed = info.encrypted_name;
        }
      } catch {
        /* sealed under an epoch this device never had: keep what we know */
      }
    }
    return chat;
  }

  /** Seals the group's name — and its picture, kept unless given — under the current epoch's key (again after each of our commits). */
  async sealName(chatId: string, name: string, picture: string | null | undefined = undefined): Promise<void> {
    const keys = await this.ctx.mls.chatKeys(chatId);
    const chat = this.ctx.store.chats.get(chatId);
    const kept = picture === undefined ? chat?.picture : (picture ?? undefined);
    const meta = encodeGroupMeta(kept === undefined ? { name } : { name, picture: kept });
    const sealed = toBase64(await sealWithKey(keys.groupNameKey, meta, NAME_CONTEXT));
    await this.ctx.api.setName(chatId, sealed, keys.epoch);
    if (chat !== undefined) {
      chat.name = name;
      chat.nameEpoch = keys.epoch;
      chat.nameSealed = sealed;
      if (kept === undefined) delete chat.picture;
      else chat.picture = kept;
    }
  }

  /** Sets (a JPEG data URL) or removes (null) a group's picture — owners and admins — and tells its members, as a rename does. */
  async setPicture(chatId: string, picture: string | null, notify: (chatId: string, notice: { picture: "set" | "removed" }) => Promise<void>): Promise<void> {
    const chat = this.ctx.store.chats.get(chatId);
    if (chat === undefined || chat.kind === "direct") throw new Error("Only groups and channels have a picture.");
    if (picture !== null && picture.length > MAX_GROUP_PICTURE_CHARS) throw new Error("This picture is too large.");
    await this.sealName(chatId, chat.name ?? "", picture);
    await this.ctx.store.saveChats();
    this.ctx.emit("chats");
    await notify(chatId, { picture: picture === null ? "removed" : "set" });
  }

  /**
   * Renames a group or channel (owners and admins: the server checks): the new name sealed
   * under the epoch's key, then — through `notify`, queued like a message — a notice to
   * every member ("Alice renamed the group to …"). Members' titles follow the sealed name.
   */
  async rename(chatId: string, name: string, notify: (chatId: string, notice: { renamed: string }) => Promise<void>): Promise<void> {
    const clean = cleanGroupName(name);
    if (clean === "") throw new Error("A group needs a name.");
    await this.sealName(chatId, clean);
    await this.ctx.store.saveChats();
    this.ctx.emit("chats");
    await notify(chatId, { renamed: clean });
  }

  async setRole(chatId: string, user: string, role: string): Promise<void> {
    await this.merge(await this.ctx.api.setRole(chatId, user, role));
    await this.ctx.store.saveChats();
    this.ctx.emit("chats");
  }

  /** The chat's self-destruct default (null: off), as the server keeps it. */
  async setTimer(chatId: string, ttlSeconds: number | null): Promise<void> {
    await this.merge(await this.ctx.api.setTimer(chatId, ttlSeconds));
    await this.ctx.store.saveChats();
    this.ctx.emit("chats");
  }

  async setFavourite(chatId: string, favourite: boolean): Promise<void> {
    await this.ctx.api.setFavourite(chatId, favourite);
    const chat = this.ctx.store.chats.get(chatId);
    if (chat !== undefined) chat.favourite = favourite;
    await this.ctx.store.saveChats();
    this.ctx.emit("chats");
  }

  /** A new latest message: the list's preview line and order (and unread count). */
  touch(chatId: string, text: string, at: number, unread: boolean, mention = false): void {
    const chat = this.ctx.store.chats.get(chatId);
    if (chat === undefined) return;
    chat.lastText = text;
    chat.lastAt = at;
    if (unread) chat.unread += 1;
    if (unread && mention) chat.unreadMentions = (chat.unreadMentions ?? 0) + 1;
  }
}
