// Profiles: our display name and picture, sealed under our profile key (../crypto/profile) and kept by
// the server as ciphertext with a version; the key goes to our chats' members inside MLS
// (an encrypted control message `{profile_key: {key, version}}`) when the profile changes
// and whenever a chat's group holds a leaf that has not had it yet (a new member or device).
// Others' keys come in the same way: remembered in the vault, their profiles fetched and
// opened, their names shown instead of the bare address.
import type { Remote } from "comlink";
import { ApiError, type Api } from "../api/client";
import { fromBase64, toBase64 } from "../crypto/encoding";
import type { MessagePayload } from "../crypto/payload";
import { cleanDisplayName, newProfileKey, openProfile, profileKeyShare, sealProfile, shareOf, type Profile } from "../crypto/profile";
import type { MlsWorkerApi, OutgoingPayload } from "../mls/api";
import type { AppContext } from "./context";
import { userOf } from "./format";

/** After a commit or a Welcome, wait this long (more may follow) before handing our key out. */
export const SHARE_DELAY_MS = 1000;

export interface ProfilesDeps {
  readonly ctx: Pick<AppContext, "store" | "user" | "emit"> & {
    readonly api: Pick<Api, "setProfile" | "profile">;
    readonly mls: Pick<Remote<MlsWorkerApi>, "group">;
  };
  /** Sends an encrypted control message in the chat; false when it could not go now. */
  sendControl(chatId: string, payload: OutgoingPayload): Promise<boolean>;
}

export class Profiles {
  private sharing: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly fetching = new Map<string, Promise<void>>();

  constructor(private readonly deps: ProfilesDeps) {}

  private get ctx(): ProfilesDeps["ctx"] {
    return this.deps.ctx;
  }

  private get record() {
    return this.ctx.store.profiles;
  }

  /** Our display name ("" when none is set). */
  get ownName(): string {
    return this.record.own?.name ?? "";
  }

  /** Our picture (a JPEG `data:` URL), if we set one. */
  get ownAvatar(): string | undefined {
    return this.record.own?.avatar;
  }

  /** A user's picture as far as this device could open their profile. */
  avatarOf(user: string): string | undefined {
    return user === this.ctx.user ? this.record.own?.avatar : this.record.others[user]?.avatar;
  }

  /** The display name a user set, as far as this device could open it (null: none known). */
  nameOf(user: string): string | null {
    const name = user === this.ctx.user ? this.record.own?.name : this.record.others[user]?.name;
    return name === undefined || name === "" ? null : name;
  }

  /**
   * Sets our display name ("" clears it): sealed under our profile key (made now if this
   * device has none) with a version above the server's, stored there, then handed to every
   * chat's members.
   */
  async setName(name: string): Promise<void> {
    return this.save({ name, ...(this.record.own?.avatar !== undefined ? { avatar: this.record.own.avatar } : {}) });
  }

  /** Sets our profile (name and picture; no `avatar`: none), as `setName` does. */
  async save(profile: Profile): Promise<void> {
    const clean = cleanDisplayName(profile.name);
    const avatar = profile.avatar;
    const key = this.record.own !== null ? fromBase64(this.record.own.key) : await newProfileKey();
    for (let attempt = 0; ; attempt++) {
      const version = Math.max(this.record.own?.version ?? 0, await this.serverVersion()) + 1;
      const sealed = await sealProfile(key, this.ctx.user, version, avatar === undefined ? { name: clean } : { name: clean, avatar });
      try {
        await this.ctx.api.setProfile(version, toBase64(sealed));
      } catch (err) {
        // Another of our devices went past it meanwhile: once more above its version.
        if (err instanceof ApiError && err.code === "stale_profile_version" && attempt < 2) continue;
        throw err;
      }
      this.record.own = { key: toBase64(key), version, name: clean, ...(avatar === undefined ? {} : { avatar }) };
      break;
    }
    await this.ctx.store.saveProfiles();
    this.ctx.emit("chats");
    void this.shareAll().catch((err: unknown) => console.warn("talkee: profile key not shared", err));
  }

  private async serverVersion(): Promise<number> {
    try {
      return (await this.ctx.api.profile("me")).version;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return 0;
      throw err;
    }
  }

  /** The groups' members changed (a commit or a Welcome was processed): share our key soon. */
  membersChanged(): void {
    if (this.record.own === null || this.timer !== null) return;
    this.timer = globalThis.setTimeout(() => {
      this.timer = null;
      void this.shareAll().catch((err: unknown) => console.warn("talkee: profile key not shared", err));
    }, SHARE_DELAY_MS);
  }

  /**
   * Hands our profile key to every chat that has not had this version, or whose group now
   * holds a leaf it did not reach; and fetches the profiles we hold a newer key for than
   * what we opened. One pass at a time.
   */
  shareAll(): Promise<void> {
    this.sharing = this.sharing.catch(() => undefined).then(() => this.sharePass());
    return this.sharing;
  }

  private async sharePass(): Promise<void> {
    for (const [user, known] of Object.entries(this.record.others)) {
      if (known.opened < known.version) void this.fetch(user);
    }
    const own = this.record.own;
    if (own === null) return;
    for (const chat of [...this.ctx.store.chats.values()]) {
      if (!chat.joined || chat.removed) continue;
      if (chat.kind === "channel" && chat.role !== "owner" && chat.role !== "admin") continue;
      let leaves: string[];
      try {
        leaves = (await this.ctx.mls.group(chat.id)).members;
      } catch {
        continue;
      }
      if (leaves.length < 2) continue;
      const before = this.record.shared[chat.id];
      if (before !== undefined && before.version === own.version && leaves.every((l) => before.leaves.includes(l))) continue;
      const sent = await this.deps.sendControl(chat.id, { text: "", profile_key: shareOf(fromBase64(own.key), own.version) }).catch((err: unknown) => {
        console.warn("talkee: profile key not sent", err);
        return false;
      });
      if (!sent) continue;
      this.record.shared[chat.id] = { version: own.version, leaves };
      await this.ctx.store.saveProfiles();
    }
  }

  /** A member's profile key (a decrypted control message): remembered, their profile fetched. */
  async onShare(payload: MessagePayload): Promise<void> {
    const share = profileKeyShare(payload["profile_key"]);
    if (share === undefined) return;
    const user = userOf(payload.sender);
    if (user === this.ctx.user) {
      // One of our other devices: its key and version are ours from now on.
      const own = this.record.own;
      if (own !== null && own.version >= share.version) return;
      this.record.own = { key: share.key, version: share.version, name: own?.name ?? "", ...(own?.avatar === undefined ? {} : { avatar: own.avatar }) };
    } else {
      const known = this.record.others[user];
      if (known !== undefined && known.version >= share.version) return;
      this.record.others[user] = { ...known, key: share.key, version: share.version, opened: known?.key === share.key ? known.opened : 0 };
    }
    await this.ctx.store.saveProfiles();
    void this.fetch(user);
  }

  /** Fetches and opens a user's profile with the key we hold (at most one fetch per user at a time). */
  fetch(user: string): Promise<void> {
    const running = this.fetching.get(user);
    if (running !== undefined) return running;
    const done = this.fetchNow(user)
      .catch((err: unknown) => console.warn("talkee: profile not fetched", user, err))
      .finally(() => this.fetching.delete(user));
    this.fetching.set(user, done);
    return done;
  }

  private async fetchNow(user: string): Promise<void> {
    const mine = user === this.ctx.user;
    const holder = mine ? this.record.own : this.record.others[user];
    if (holder === null || holder === undefined) return;
    const answer = await this.ctx.api.profile(mine ? "me" : user);
    const current = mine ? this.record.own : this.record.others[user];
    if (current === null || current === undefined || current.key !== holder.key) return; // changed meanwhile
    // The server may already hold a newer version under the same key; an older one is never taken.
    if (answer.version < current.version && !mine) return;
    const profile = await openProfile(fromBase64(holder.key), user, answer.version, fromBase64(answer.ciphertext));
    const picture = profile.avatar === undefined ? {} : { avatar: profile.avatar };
    if (mine) {
      this.record.own = { key: holder.key, version: Math.max(answer.version, current.version), name: profile.name, ...picture };
    } else {
      this.record.others[user] = { key: holder.key, version: Math.max(answer.version, current.version), name: profile.name, opened: answer.version, ...picture };
    }
    await this.ctx.store.saveProfiles();
    this.ctx.emit("chats");
  }
}
