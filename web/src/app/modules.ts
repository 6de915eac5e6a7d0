// How the app layer's modules are put together (the Messenger does this once; the unit
// tests do it over a fake server and a fake MLS worker). Each module sees only the
// narrow interface it needs of the others; the hooks are what only a browser has.
import { Chats } from "./chats";
import { Contacts } from "./contacts";
import type { AppContext } from "./context";
import { Devices } from "./devices";
import { Edits } from "./edits";
import { Inbound } from "./inbound";
import { Membership } from "./membership";
import { Outbox } from "./outbox";
import { Profiles } from "./profiles";
import { Receipts } from "./receipts";
import { Signals } from "./signals";
import { LogGossip } from "./logGossip";

export interface AppHooks {
  /** The browser thinks it is online. */
  online(): boolean;
  /** The token died: sign in again (in the background). */
  recoverAuth(): void;
  /** The chat the person has open, and whether the page is visible (read receipts). */
  activeChat(): string | null;
  visible(): boolean;
  /** A chat new to this device: show it our presence. */
  newChat(): void;
  /** A call signal for a chat (the call manager). */
  onCall(chatId: string, payload: string): void;
  onCallRefused?(chatId: string): void;
  /** A user this one blocked (./blocks). */
  blocked?(user: string): boolean;
  /** Delays the tests shorten. */
  catchUpDelayMs?: number;
  homeWaitMs?: number;
}

export interface AppModules {
  chats: Chats;
  outbox: Outbox;
  membership: Membership;
  devices: Devices;
  edits: Edits;
  receipts: Receipts;
  signals: Signals;
  inbound: Inbound;
  contacts: Contacts;
  profiles: Profiles;
}

export function wireModules(ctx: AppContext, hooks: AppHooks): AppModules {
  // Chats name people by their profiles; profiles send through the outbox, made after.
  let profiles: Profiles | undefined;
  const chats = new Chats({
    ctx,
    newChat: () => hooks.newChat(),
    nameOf: (user) => profiles?.nameOf(user) ?? null,
    pictureOf: (user) => profiles?.avatarOf(user),
    blocked: (user) => hooks.blocked?.(user) ?? false,
  });
  // The outbox and membership need each other (a refused send catches up on commits; a
  // settled commit lets held-back messages go): each gets a function, not the other.
  let membership: Membership | undefined;
  const outbox = new Outbox({
    ctx,
    online: () => hooks.online(),
    recoverAuth: () => hooks.recoverAuth(),
    catchUp: (chatId) => membership!.catchUp(chatId),
  });
  const membershipDeps: ConstructorParameters<typeof Membership>[0] = { ctx, chats, commitSettled: () => void outbox.flush() };
  if (hooks.catchUpDelayMs !== undefined) membershipDeps.catchUpDelayMs = hooks.catchUpDelayMs;
  if (hooks.homeWaitMs !== undefined) membershipDeps.homeWaitMs = hooks.homeWaitMs;
  membership = new Membership(membershipDeps);
  const m = membership;
  profiles = new Profiles({ ctx, sendControl: (chatId, payload) => outbox.sendControl(chatId, payload) });
  const contacts = new Contacts({
    ctx,
    listDevices: (user, logFrom) => ctx.api.certificatesOf(user, logFrom),
    ownIdentityKey: () => ctx.mls.identityKey(),
    pinned: (user) => ctx.mls.pinnedIdentity(user),
    repin: (user, key) => ctx.mls.repinIdentity(user, key),
    logSeen: (user) => void gossip.seen(user).catch((err: unknown) => console.warn("talkee: key-log heads not told", err)),
  });
  const gossip = new LogGossip({
    ctx,
    sendControl: (chatId, payload) => outbox.sendControl(chatId, payload),
    recheck: (user) => contacts.check(user, Date.now(), true),
  });
  const devices = new Devices({
    ctx,
    chats,
    commit: (chatId, make, welcome) => m.commit(chatId, make, welcome),
    // The new device uploads its certificate just after it signs in: look now and again later.
    contactChanged: (user) => {
      for (const ms of [2000, 20_000]) globalThis.setTimeout(() => void contacts.check(user).catch(() => undefined), ms);
    },
  });
  const edits = new Edits({ ctx, checkEpochSettled: (chatId) => m.checkEpochSettled(chatId) });
  const receipts = new Receipts({
    ctx,
    sendControl: (chatId, payload) => outbox.sendControl(chatId, payload),
    reading: (chatId) => hooks.activeChat() === chatId && hooks.visible(),
  });
  const signals = new Signals({ user: ctx.user, onCall: (chatId, payload) => hooks.onCall(chatId, payload), onCallRefused: (chatId) => hooks.onCallRefused?.(chatId), changed: (kind, chatId) => ctx.emit(kind, chatId) });
  const inbound = new Inbound({
    ctx,
    chats,
    outbox,
    membership: m,
    devices,
    edits,
    receipts,
    profiles,
    gossip,
    stoppedTyping: (chatId, user) => signals.stoppedTyping(chatId, user),
    // A message that arrives while the page is hidden is unread, even in the open chat.
    activeChat: () => (hooks.visible() ? hooks.activeChat() : null),
    blocked: (user) => hooks.blocked?.(user) ?? false,
  });
  return { chats, outbox, membership: m, devices, edits, receipts, signals, inbound, contacts, profiles };
}
