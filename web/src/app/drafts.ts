// Drafts: what the person started writing in each chat, kept on this device only — in
// the vault's sealed `drafts` row like every other app row (never plaintext storage,
// never the server). Switching chats or reloading brings the text (and the reply) back;
// sending clears it.
import type { AppContext } from "./context";
import { t } from "../i18n/index";
import type { Draft } from "./store";

/** The chat list's line for a chat with a draft: its first line, shortened. */
export function draftPreview(draft: Draft): string {
  const line = draft.text.trim().split("\n")[0] ?? "";
  return t("drafts.preview", { text: line.length > 80 ? `${line.slice(0, 80)}…` : line });
}

/** True when there is nothing worth keeping (no text, the reply alone is not a draft). */
export function isEmptyDraft(draft: Draft | null): boolean {
  return draft === null || draft.text.trim() === "";
}

export class Drafts {
  constructor(private readonly ctx: Pick<AppContext, "store" | "emit">) {}

  of(chatId: string): Draft | undefined {
    return this.ctx.store.drafts.get(chatId);
  }

  /** Keeps `draft` for the chat (null or blank: forgets it), sealed into the vault. */
  async set(chatId: string, draft: Draft | null): Promise<void> {
    const { store } = this.ctx;
    const before = store.drafts.get(chatId);
    if (isEmptyDraft(draft)) {
      if (before === undefined) return;
      store.drafts.delete(chatId);
    } else {
      const next: Draft = { text: draft!.text };
      if (draft!.replyTo !== undefined) next.replyTo = draft!.replyTo;
      if (before !== undefined && before.text === next.text && before.replyTo === next.replyTo) return;
      store.drafts.set(chatId, next);
    }
    await store.saveDrafts();
    this.ctx.emit("chats"); // the chat list shows "Draft: …" for it
  }
}
