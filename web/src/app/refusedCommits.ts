// A commit the server ordered but this client refused (it brings in a leaf without a valid
// device certificate: trust.ts withCertifiedLeaves). Nothing of it was applied, so the group
// stays in its MLS epoch while the server's epoch counter moved past it. Every honest member
// refuses the same commit (the validator is deterministic), so they all "void" that server
// epoch alike: from then on a commit they make is labelled with the server's epoch (ours plus
// the voided ones), and one from the server is read against ours the same way. The first
// honest commit after a refusal takes the committing device out (removal with a fresh
// UpdatePath): the offender and the device it slipped in stay in their fork, whose epoch
// nothing honest builds on, and read nothing sent after it.
import type { LeafRefusal } from "../mls/api";
import type { AppContext } from "./context";
import { displayName, userOf } from "./format";
import { addWarning, removeWarning, type ChatRecord } from "./store";
import { leafRefusalText } from "./trust";
import type { MadeCommit } from "./membership";

/** The server's epoch label for a commit made from our MLS epoch `mlsEpoch`. */
export function serverEpoch(chat: Pick<ChatRecord, "voidedEpochs"> | undefined, mlsEpoch: number): number {
  return mlsEpoch + (chat?.voidedEpochs ?? 0);
}

/** Our MLS epoch a server epoch label stands for. */
export function mlsEpochOf(chat: Pick<ChatRecord, "voidedEpochs"> | undefined, label: number): number {
  return label - (chat?.voidedEpochs ?? 0);
}

/** The device whose commit brought the refused leaves in (the same for all of them), if named. */
export function committerOf(refusals: LeafRefusal[]): string | undefined {
  return refusals.find((r) => r.by !== undefined)?.by;
}

/** The chat's warning: who committed it, whose device it brought in, and what happens next. */
export function refusedCommitText(domain: string, committer: string, refusals: LeafRefusal[]): string {
  const who = displayName(userOf(committer), domain);
  const users = [...new Set(refusals.map((r) => userOf(r.identity)))].map((u) => displayName(u, domain));
  const whose = users.join(", ");
  const keys = users.length === 1 ? `${whose}'s identity key` : "their identity keys";
  return `${who}'s device committed a change that brings in a device of ${whose} that ${keys} did not certify: refused, and that device of ${who} is taken out of this chat.`;
}

type RefusedContext = Pick<AppContext, "store" | "domain" | "emit"> & {
  readonly mls: Pick<AppContext["mls"], "group" | "removeMembers">;
};

/**
 * The ordered commit `label` (a server epoch) was refused: the epoch is voided when it is
 * the one we were at (a replay of an older refusal changes nothing), the committer named in
 * the chat, and its device taken out through `commit` (the membership's usual path: on 409
 * the winner — another honest member's removal — is caught up and `make` answers null).
 */
export async function voidRefusedCommit(
  ctx: RefusedContext,
  chat: ChatRecord,
  label: number,
  refusals: LeafRefusal[],
  commit: (make: () => Promise<MadeCommit>) => Promise<boolean>,
): Promise<void> {
  const group = await ctx.mls.group(chat.id);
  if (mlsEpochOf(chat, label) !== group.epoch) return;
  chat.voidedEpochs = (chat.voidedEpochs ?? 0) + 1;
  const committer = committerOf(refusals);
  if (committer !== undefined) {
    // One warning that names the committer, in place of the one that could not.
    removeWarning(chat, leafRefusalText(ctx.domain, refusals));
    addWarning(chat, refusedCommitText(ctx.domain, committer, refusals));
  }
  await ctx.store.saveChats();
  ctx.emit("chats", chat.id);
  console.warn("talkee: commit refused; its epoch voided", chat.id, label, committer);
  if (committer === undefined) return;
  try {
    await commit(async () => {
      const now = await ctx.mls.group(chat.id);
      return now.members.includes(committer) ? ctx.mls.removeMembers(chat.id, [committer]) : null;
    });
  } catch (err) {
    // (Our own leaf cannot be removed by us; the others take it out.)
    console.warn("talkee: the refused commit's device was not taken out", chat.id, err);
  }
}
