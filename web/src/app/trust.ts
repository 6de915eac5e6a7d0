// The gate every device passes before this client adds it to a group from a KeyPackage
// the server handed out (membership.addDevices, devices.commitChange): the worker checks
// its certificate against the identity key pinned for its user (src/mls/trust.ts). A
// refused device gets no Welcome and no commit naming it, and the chat says why.
import type { ClaimedKeyPackage } from "../api/client";
import { fromBase64 } from "../crypto/encoding";
import { leafRefusals, type LeafRefusal } from "../mls/api";
import type { DeviceVerdict } from "../mls/trust";
import type { AppContext } from "./context";
import { displayName } from "./format";
import { matchesSafetyNumber, safetyNumber } from "../identity/safetyNumber";
import { addWarning, removeWarning } from "./store";

type TrustContext = Pick<AppContext, "store" | "user" | "domain" | "emit"> & { readonly mls: Pick<AppContext["mls"], "checkDevice"> };

function refusalText(user: string, domain: string, verdict: Extract<DeviceVerdict, { ok: false }>): string {
  const who = displayName(user, domain);
  if (verdict.reason === "identity-changed" || verdict.reason === "identity-removed") {
    return `${who}'s safety number changed: their new devices are not added until you check it.`;
  }
  return uncertifiedText(who);
}

function uncertifiedText(who: string): string {
  return `A device the server announced for ${who} was not added: ${who}'s identity key did not certify it.`;
}

/**
 * A device of `user` was certified after all (approved by one of their devices) and is in
 * the chat now: the "was not added" warning about it no longer holds.
 */
export async function clearUncertifiedWarning(ctx: Pick<TrustContext, "store" | "domain" | "emit">, chatId: string, user: string): Promise<void> {
  const chat = ctx.store.chats.get(chatId);
  const who = displayName(user, ctx.domain);
  const text = uncertifiedText(who);
  if (chat === undefined || !removeWarning(chat, text)) return;
  await ctx.store.saveChats();
  ctx.emit("chats", chatId);
}

/**
 * Whether this claimed device may be added to `chatId` (a device without a KeyPackage is
 * still checked: a refusal is recorded on the chat either way); "wait" only with
 * `holdUncertified`.
 */
export async function admitDevice(
  ctx: TrustContext,
  chatId: string,
  user: string,
  entry: ClaimedKeyPackage,
  options: { holdUncertified?: boolean } = {},
): Promise<boolean | "wait"> {
  const verdict = await ctx.mls.checkDevice({
    user,
    clientDeviceId: entry.client_device_id,
    identityKey: entry.identity_key ?? null,
    certificate: entry.certificate ?? null,
    keyPackage: entry.keypackage === null ? null : fromBase64(entry.keypackage),
  });
  // The same rule for our own account's devices: one the server announces for us without a
  // certificate (signed in without the recovery phrase, or a ghost) is not added by our
  // siblings either, until one of them approves it (./devices approve: a `certified` event).
  if (verdict.ok) return true;
  // A device that just signed in uploads its certificate before its KeyPackages: with an
  // empty pool and no certificate yet, the caller may wait and ask again before refusing.
  if (options.holdUncertified === true && verdict.reason === "uncertified") return "wait";
  console.warn("talkee: device refused", user, entry.client_device_id, verdict.reason);
  const chat = ctx.store.chats.get(chatId);
  if (chat !== undefined) {
    const text = refusalText(user, ctx.domain, verdict);
    addWarning(chat, text);
    await ctx.store.saveChats();
    ctx.emit("chats", chatId);
    ctx.emit("refused", chatId, text);
  }
  return false;
}

/**
 * Our safety number with `user`: from our identity key and the one this client pinned for
 * them (null when either is missing: this device never had the recovery phrase, or no device
 * of theirs was added yet). Both people see the same 60 digits only if neither key was swapped.
 */
export async function safetyNumberWith(
  ctx: Pick<AppContext, "user"> & { readonly mls: Pick<AppContext["mls"], "identityKey" | "pinnedIdentity"> },
  user: string,
  candidate?: string,
): Promise<string | null> {
  const mine = await ctx.mls.identityKey();
  const theirs = candidate ?? (await ctx.mls.pinnedIdentity(user));
  if (mine === null || theirs === null) return null;
  return safetyNumber({ address: ctx.user, identityKey: fromBase64(mine) }, { address: user, identityKey: fromBase64(theirs) });
}

/**
 * Compares the other person's number (typed, or their QR code's text) with ours; remembered on
 * the chat. `candidate`: a new identity key the server lists for them (./contacts) — ours is
 * then computed with it, and only a match pins it in place of the old one.
 */
export async function verifySafetyNumber(
  ctx: TrustContext & { readonly mls: Pick<AppContext["mls"], "identityKey" | "pinnedIdentity" | "repinIdentity"> },
  chatId: string,
  user: string,
  theirs: string,
  candidate?: string,
): Promise<boolean> {
  const ours = await safetyNumberWith(ctx, user, candidate);
  const chat = ctx.store.chats.get(chatId);
  if (ours === null || chat === undefined) return false;
  const match = matchesSafetyNumber(ours, theirs);
  if (match) {
    if (candidate !== undefined) await ctx.mls.repinIdentity(user, candidate);
    chat.verified = ours;
    delete chat.unsafe;
    // Verified again after a key change: sending goes on.
    delete chat.held;
  } else {
    chat.unsafe = ours;
    delete chat.verified;
  }
  await ctx.store.saveChats();
  ctx.emit("chats", chatId);
  return match;
}

/**
 * First contact by a Welcome (or a member someone else added): `user`'s leaves in the chat
 * are checked against the certificates the server lists for them, and their identity key
 * pinned when all are certified by it. A refusal is recorded on the chat.
 */
type MembersContext = Pick<AppContext, "store" | "user" | "domain" | "emit"> & {
  readonly api: Pick<AppContext["api"], "certificatesOf">;
  readonly mls: Pick<AppContext["mls"], "checkMembers">;
};

export async function checkChatMembers(ctx: MembersContext, chatId: string, user: string): Promise<boolean> {
  const listed = await ctx.api.certificatesOf(user);
  const verdict = await ctx.mls.checkMembers(chatId, user, {
    identityKey: listed.identity_key,
    devices: listed.devices.map((d) => ({ clientDeviceId: d.client_device_id, certificate: d.certificate })),
  });
  if (verdict.ok) return true;
  console.warn("talkee: members refused", user, verdict.reason);
  const chat = ctx.store.chats.get(chatId);
  if (chat !== undefined) {
    const who = displayName(user, ctx.domain);
    const text =
      verdict.reason === "identity-changed" || verdict.reason === "identity-removed"
        ? `${who}'s safety number changed.`
        : `A device of ${who} in this chat is not certified by ${who}'s identity key.`;
    addWarning(chat, text);
    await ctx.store.saveChats();
    ctx.emit("chats", chatId);
  }
  return false;
}

type LeafContext = Pick<AppContext, "store" | "domain" | "emit"> & {
  readonly api: Pick<AppContext["api"], "certificatesOf">;
  readonly mls: Pick<AppContext["mls"], "learnCertificates">;
};

function userOfLeaf(identity: string): string {
  const at = identity.lastIndexOf(":");
  return at <= 0 ? identity : identity.slice(0, at);
}

/** What the chat says when a Welcome, Commit or Proposal was refused for its leaves. */
export function leafRefusalText(domain: string, refusals: LeafRefusal[]): string {
  const users = [...new Set(refusals.map((r) => userOfLeaf(r.identity)))].map((u) => displayName(u, domain));
  const whose = users.join(", ");
  return `A change to this chat was refused: it brought in a device of ${whose} that ${users.length === 1 ? `${whose}'s identity key` : "their identity keys"} did not certify.`;
}

/**
 * Runs an MLS step that brings in or changes leaves (someone else's commit, a Welcome) under
 * the worker's credential validator. A leaf of a pinned user whose certificate this device
 * has not seen yet: that user's certificates are fetched (`GET /v1/devices/of/{user}`; the
 * worker verifies each against the pinned identity key when used, so the server can only
 * make the check fail) and the step is tried once more. A step still refused has applied
 * nothing: the chat (when known) gets a warning, "refused" is emitted, and null is returned.
 * Any other error is thrown as it was.
 */
export async function withCertifiedLeaves<T>(
  ctx: LeafContext,
  chatId: string | null,
  step: () => Promise<T>,
  onRefused?: (refusals: LeafRefusal[]) => void,
): Promise<T | null> {
  let refusals: LeafRefusal[] | null;
  try {
    return await step();
  } catch (err) {
    refusals = leafRefusals(err);
    if (refusals === null) throw err;
  }
  const unknown = [...new Set(refusals.filter((r) => r.reason === "uncertified").map((r) => userOfLeaf(r.identity)))];
  let learned = 0;
  for (const user of unknown) {
    try {
      const listed = await ctx.api.certificatesOf(user);
      learned += await ctx.mls.learnCertificates(user, {
        identityKey: listed.identity_key,
        devices: listed.devices.map((d) => ({ clientDeviceId: d.client_device_id, certificate: d.certificate })),
      });
    } catch (err) {
      console.warn("talkee: certificates not fetched", user, err);
    }
  }
  if (learned > 0) {
    try {
      return await step();
    } catch (err) {
      refusals = leafRefusals(err);
      if (refusals === null) throw err;
    }
  }
  console.warn("talkee: MLS change refused for its leaves", chatId, refusals);
  const text = leafRefusalText(ctx.domain, refusals);
  const chat = chatId === null ? undefined : ctx.store.chats.get(chatId);
  if (chat !== undefined) {
    addWarning(chat, text);
    await ctx.store.saveChats();
    ctx.emit("chats", chatId ?? undefined);
  }
  if (chatId !== null) ctx.emit("refused", chatId, text);
  onRefused?.(refusals);
  return null;
}

/**
 * Joined by a Welcome: every other member met through it is checked against the
 * certificates the server lists and pinned now (trust on first use), so that a later commit
 * of theirs bringing in a device is judged against their identity key — the validator waves
 * leaves of a user with nothing pinned through as first contact.
 */
export async function pinWelcomeMembers(
  ctx: MembersContext & { readonly mls: Pick<AppContext["mls"], "pinnedIdentity"> },
  chatId: string,
  members: string[],
): Promise<void> {
  const users = [...new Set(members.map(userOfLeaf))].filter((u) => u !== ctx.user);
  for (const user of users) {
    if ((await ctx.mls.pinnedIdentity(user)) !== null) continue;
    await checkChatMembers(ctx, chatId, user).catch((err: unknown) => console.warn("talkee: certificates not checked", user, err));
  }
}
