// The gate every device passes before this client adds it to a group from a KeyPackage
// the server handed out (membership.addDevices, devices.commitChange): the worker checks
// its certificate against the identity key pinned for its user (src/mls/trust.ts). A
// refused device gets no Welcome and no commit naming it, and the chat says why.
import type { ClaimedKeyPackage } from "../api/client";
import { fromBase64 } from "../crypto/encoding";
import type { DeviceVerdict } from "../mls/trust";
import type { AppContext } from "./context";
import { displayName } from "./format";

type TrustContext = Pick<AppContext, "store" | "user" | "domain" | "emit"> & { readonly mls: Pick<AppContext["mls"], "checkDevice"> };

function refusalText(user: string, domain: string, verdict: Extract<DeviceVerdict, { ok: false }>): string {
  const who = displayName(user, domain);
  if (verdict.reason === "identity-changed" || verdict.reason === "identity-removed") {
    return `${who}'s safety number changed: their new devices are not added until you check it.`;
  }
  return `A device the server announced for ${who} was not added: ${who}'s identity key did not certify it.`;
}

/**
 * Whether this claimed device may be added to `chatId` (a device without a KeyPackage is
 * still checked: a refusal is recorded on the chat either way).
 */
export async function admitDevice(ctx: TrustContext, chatId: string, user: string, entry: ClaimedKeyPackage): Promise<boolean> {
  const verdict = await ctx.mls.checkDevice({
    user,
    clientDeviceId: entry.client_device_id,
    identityKey: entry.identity_key ?? null,
    certificate: entry.certificate ?? null,
    keyPackage: entry.keypackage === null ? null : fromBase64(entry.keypackage),
  });
  // The same rule for our own account's devices: one the server announces for us without a
  // certificate (signed in without the recovery phrase, or a ghost) is not added by our
  // siblings either. Approving a new device from an existing one is not built yet.
  if (verdict.ok) return true;
  console.warn("talkee: device refused", user, entry.client_device_id, verdict.reason);
  const chat = ctx.store.chats.get(chatId);
  if (chat !== undefined) {
    const text = refusalText(user, ctx.domain, verdict);
    chat.warnings = [...(chat.warnings ?? []).filter((w) => w !== text), text];
    await ctx.store.saveChats();
    ctx.emit("chats", chatId);
    ctx.emit("refused", chatId, text);
  }
  return false;
}
