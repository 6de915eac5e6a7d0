// One conversation: header, message list, composer, members panel. This module holds
// the open chat and wires the dumb components (./header, ./messageList, ./bubble,
// ./reactions, ./fileCard, ./composer) to the messenger; they render and report clicks.
import { humanError } from "../../api/client";
import type { Messenger } from "../../app/messenger";
import type { SendOptions } from "../../app/outbox";
import { userOf } from "../../app/format";
import type { ChatRecord } from "../../app/store";
import { firstUnreadKey } from "../../app/unread";
import { clear, h } from "../dom";
import { membersPanel } from "../members";
import { messageItem, type BubbleActions, type BubbleContext } from "./bubble";
import { composer as makeComposer } from "./composer";
import { fileCards } from "./fileCard";
import { conversationHeader } from "./header";
import { messageList } from "./messageList";
import { pendingDeletes } from "./pendingDeletes";
import { t } from "../../i18n/index";
import { defaultTimerLabel } from "./timers";
import { voicePlayers, voiceRecorder } from "./voice";

/** How long typing pauses before the draft is sealed into the vault. */
const DRAFT_DELAY_MS = 400;

export interface ConversationHandle {
  el: HTMLElement;
  show(chatId: string | null): void;
  /** Brings a message of the open chat into view (a search result); false if this device does not hold it. */
  reveal(messageId: number): boolean;
}

export function conversation(messenger: Messenger, back: () => void, searchIn?: (chatId: string) => void): ConversationHandle {
  const el = h("section", { class: "conversation", "aria-label": t("conv.conversation") });
  let chatId: string | null = null;
  let panelOpen = false;
  let lastPostable = true;

  const notice = h("p", { class: "error", role: "alert" });
  // Devices this client refused to add (no certificate by the user's identity key): they stay.
  const warnings = h("div", { class: "security-warnings", role: "alert", "aria-label": t("conv.warnings") });
  const say = (text: string): void => {
    notice.textContent = text;
  };
  // What happened, for screen readers (not an error): copied, deleted, kept.
  const polite = h("p", { class: "sr-only", role: "status" });
  const tell = (text: string): void => {
    polite.textContent = text;
  };
  const act = (work: () => Promise<void>): void => {
    say("");
    work().catch((err: unknown) => say(humanError(err)));
  };
  const chat = (): ChatRecord | undefined => (chatId === null ? undefined : messenger.store.chats.get(chatId));
  const isManager = (): boolean => chat()?.role === "owner" || chat()?.role === "admin";

  const header = conversationHeader(messenger, {
    back,
    say,
    setTimer: (value) => {
      const c = chat();
      if (c === undefined) return;
      say("");
      messenger.setChatTimer(c.id, value).catch((err: unknown) => {
        say(humanError(err));
        renderHeader(); // back to what the chat really has
      });
    },
    toggleMembers: () => {
      panelOpen = !panelOpen;
      renderPanel();
    },
    toggleFavourite: () => {
      const c = chat();
      if (c !== undefined) messenger.setFavourite(c.id, !c.favourite).catch((err: unknown) => say(humanError(err)));
    },
    ...(searchIn === undefined ? {} : { search: () => chatId !== null && searchIn(chatId) }),
  });
  // A verified chat whose other person's identity key changed: the message waits here
  // until the user sends it anyway (accepting the new key) or verifies again.
  const heldText = h("p", { class: "held-text" });
  const sendAnyway = h("button", { type: "button", class: "danger" }, t("conv.sendAnyway"));
  const verifyAgain = h("button", { type: "button", class: "primary" }, t("conv.verifyAgain"));
  const held = h("div", { class: "send-held", role: "alertdialog", "aria-label": t("conv.keyChanged") }, heldText, h("div", { class: "held-actions" }, sendAnyway, verifyAgain));
  held.hidden = true;
  let waiting: { text: string; options: SendOptions } | null = null;
  sendAnyway.addEventListener("click", () => {
    const id = chatId;
    const message = waiting;
    held.hidden = true;
    waiting = null;
    if (id === null) return;
    act(async () => {
      await messenger.acknowledgeKeyChange(id);
      if (message !== null) await messenger.send(id, message.text, message.options);
    });
  });
  verifyAgain.addEventListener("click", () => {
    const c = chat();
    held.hidden = true;
    // The message is not sent: it goes back into the composer for after the check.
    if (waiting !== null) composer.restore(waiting.text);
    waiting = null;
    if (c === undefined || c.held === undefined) return;
    // The panel shows the number with the new key; only a match accepts it.
    panelOpen = true;
    renderPanel();
  });
  const composer = makeComposer(messenger.domain, {
    send: (text, options) => {
      if (chatId === null) return;
      const prompt = messenger.sendPrompt(chatId);
      if (prompt !== null) {
        waiting = { text, options };
        heldText.textContent = `${prompt} Your message waits until you choose.`;
        held.hidden = false;
        sendAnyway.focus();
        return;
      }
      forgetDraft();
      act(() => messenger.send(chatId!, text, options));
    },
    edit: (target, text) => {
      if (chatId === null) return;
      act(() => messenger.edit(chatId!, target, text));
    },
    upload: (file, caption) => {
      const id = chatId;
      if (id === null) return;
      say("");
      forgetDraft(); // what was written went as the caption
      // Progress, waiting for the link and refusals show in the upload rows.
      messenger.sendFile(id, file, caption).catch((err: unknown) => {
        if (messenger.uploads.inChat(id).length === 0) say(humanError(err));
      });
    },
    typing: () => {
      if (chatId !== null) messenger.typingIn(chatId);
    },
    dismissUpload: (id) => messenger.uploads.dismiss(id),
    mentionables: () => {
      const c = chat();
      return c === undefined || c.kind === "direct" ? null : { me: messenger.user, members: c.members.map((m) => m.user) };
    },
    changed: () => {
      if (draftTimer !== null) globalThis.clearTimeout(draftTimer);
      draftTimer = globalThis.setTimeout(keepDraft, DRAFT_DELAY_MS);
    },
  });
  // Voice messages: the microphone sits in the composer's row, the recording bar above it.
  const recorder = voiceRecorder({
    send: (recording, note) => {
      const id = chatId;
      if (id === null) return;
      say("");
      messenger.sendVoice(id, recording, note).catch((err: unknown) => {
        if (messenger.uploads.inChat(id).length === 0) say(humanError(err));
      });
    },
  });
  const row = composer.el.querySelector(".composer-row");
  row?.insertBefore(recorder.button, row.querySelector("button[type=submit]"));
  composer.el.prepend(recorder.bar);
  // The open chat's draft, sealed into the vault a moment after typing stops (and at once
  // when another chat is opened); sending forgets it.
  let draftTimer: ReturnType<typeof setTimeout> | null = null;
  function keepDraft(): void {
    if (draftTimer !== null) globalThis.clearTimeout(draftTimer);
    draftTimer = null;
    const draft = composer.draft();
    if (chatId === null || draft === null) return;
    messenger.drafts.set(chatId, draft).catch((err: unknown) => console.warn("talkee: draft not kept", err));
  }
  function forgetDraft(): void {
    if (draftTimer !== null) globalThis.clearTimeout(draftTimer);
    draftTimer = null;
    if (chatId !== null) messenger.drafts.set(chatId, null).catch((err: unknown) => console.warn("talkee: draft not cleared", err));
  }
  function restoreDraft(id: string): void {
    const draft = messenger.drafts.of(id);
    if (draft === undefined) return;
    const replyTo = draft.replyTo === undefined ? undefined : messenger.store.findById(id, draft.replyTo);
    composer.setDraft(draft.text, replyTo ?? null);
  }
  /** Unread messages of the open chat (the count goes to zero when it is read): "New messages" before the first. */
  const markUnread = (): void => {
    const c = chat();
    if (c === undefined || c.unread === 0 || list.hasDivider()) return;
    const key = firstUnreadKey(messenger.store.messagesOf(c.id), c.unread);
    if (key !== null) list.markUnread(key);
  };
  const fileCard = fileCards({ open: (ref, progress) => messenger.openFile(ref, progress), say });
  // Messages of blocked people the person chose to see anyway (this screen only).
  const unfolded = new Set<string>();
  const voicePlayer = voicePlayers({ open: (ref) => messenger.openFile(ref), say });
  const deletes = pendingDeletes(() => list.render());
  const bubbleActions: BubbleActions = {
    reply: (m) => composer.replyTo(m),
    edit: (m) => composer.edit(m),
    react: (m, emoji) => act(() => messenger.react(chatId!, m, emoji)),
    remove: (m) => {
      const id = chatId!;
      deletes.start(m.key, () => act(() => messenger.remove(id, m)));
      tell(t("conv.deletedUndo"));
    },
    undoDelete: (m) => {
      deletes.undo(m.key);
      tell(t("conv.kept"));
    },
    copy: (m) => {
      navigator.clipboard.writeText(m.text).then(
        () => tell(t("conv.copied")),
        () => say(t("conv.noCopy")),
      );
    },
    reveal: (m) => void messenger.burn(chatId!, m),
    forward: (m, to, origin) => act(() => messenger.send(to.id, m.text, { forwardOf: origin })),
    showQuoted: (id) => {
      if (!list.reveal(Number(id))) say(t("conv.quotedGone"));
    },
    unfold: (m) => {
      unfolded.add(m.key);
      list.render();
    },
  };
  const list = messageList({
    messages: () => (chatId === null || chat() === undefined ? null : messenger.store.messagesOf(chatId)),
    loadOlder: () => messenger.loadOlder(chatId!),
    item: (m) => {
      const c = chat()!;
      const view: BubbleContext = {
        user: messenger.user,
        domain: messenger.domain,
        nameOf: (user) => messenger.nameOf(user),
        canManage: isManager(),
        find: (id) => messenger.store.findById(c.id, id),
        forwardTargets: () =>
          [...messenger.store.chats.values()].filter((other) => other.joined && !other.removed).map((other) => ({ chat: other, title: messenger.chatTitle(other) })),
        fileCard: (ref) => voicePlayer(ref) ?? fileCard(ref),
        hidden: (msg) => messenger.blocks.has(userOf(msg.sender)) && !unfolded.has(msg.key),
        deleting: (msg) => deletes.has(msg.key),
      };
      return messageItem(m, c, view, bubbleActions);
    },
  });

  const readOnly = h("p", { class: "read-only" }, t("conv.readOnly"));
  const panel = h("aside", { class: "members-panel", "aria-label": t("conv.members") });
  panel.hidden = true;
  const body = h("div", { class: "conv-body" }, h("div", { class: "conv-main" }, warnings, list.frame, notice, polite, held, composer.el, readOnly), panel);
  const empty = h("div", { class: "conv-empty" }, h("p", {}, t("conv.empty")));
  el.append(header.el, body, empty);

  const carriesFiles = (ev: DragEvent): boolean => ev.dataTransfer?.types.includes("Files") ?? false;
  el.addEventListener("dragover", (ev) => {
    if (chatId === null || composer.el.hidden || !carriesFiles(ev)) return;
    ev.preventDefault();
    el.classList.add("dropping");
  });
  el.addEventListener("dragleave", (ev) => {
    if (ev.relatedTarget === null || !el.contains(ev.relatedTarget as Node)) el.classList.remove("dropping");
  });
  el.addEventListener("drop", (ev) => {
    el.classList.remove("dropping");
    if (chatId === null || composer.el.hidden) return;
    ev.preventDefault();
    for (const file of ev.dataTransfer?.files ?? []) composer.upload(file);
  });
  // A picture (or any file) pasted anywhere in the conversation is sent like a dropped one.
  el.addEventListener("paste", (ev) => {
    const files = [...(ev.clipboardData?.files ?? [])];
    if (chatId === null || composer.el.hidden || files.length === 0) return;
    ev.preventDefault();
    for (const file of files) composer.upload(file);
  });

  const renderHeader = (): void => {
    const c = chat();
    if (c === undefined) return;
    header.render(c, isManager());
    clear(warnings);
    for (const text of c.warnings ?? []) warnings.append(h("p", { class: "error" }, text));
    warnings.hidden = (c.warnings ?? []).length === 0;
    composer.setTimerLabel(defaultTimerLabel(c.ttlSeconds));
    const canPost = c.joined && !c.removed && (c.kind !== "channel" || isManager());
    composer.el.hidden = !canPost;
    readOnly.hidden = canPost;
    readOnly.textContent = c.removed
      ? t("conv.removed")
      : !c.joined
        ? t("conv.waitingKeys")
        : t("conv.readOnly");
  };

  const renderPanel = (): void => {
    header.setMembersOpen(panelOpen);
    panel.hidden = !panelOpen;
    clear(panel);
    const c = chat();
    if (panelOpen && c !== undefined) panel.append(membersPanel(messenger, c, () => { panelOpen = false; renderPanel(); }));
  };

  const renderUploads = (): void => composer.renderUploads(chatId === null ? [] : messenger.uploads.inChat(chatId));

  messenger.addEventListener("change", (ev) => {
    const detail = (ev as CustomEvent<{ kind: string; chatId?: string; text?: string }>).detail;
    if (chatId === null) return;
    if (detail.kind === "refused" && detail.chatId === chatId && detail.text !== undefined) {
      say(detail.text); // a change the chat's home refused (also on the message)
    } else if (detail.kind === "messages" && detail.chatId === chatId) {
      markUnread(); // arrived while the page was hidden
      list.render();
      if (document.visibilityState === "visible") void messenger.open(chatId);
    } else if (detail.kind === "chats") {
      const c = chat();
      const postable = c !== undefined && c.joined && !c.removed;
      if (postable !== lastPostable) {
        lastPostable = postable;
        list.render();
      }
      renderHeader();
      if (panelOpen && !panel.contains(document.activeElement)) renderPanel();
    } else if (detail.kind === "uploads" && detail.chatId === chatId) {
      renderUploads();
    } else if (detail.kind === "typing" || detail.kind === "presence") {
      renderHeader();
    } else if (detail.kind === "blocks") {
      list.render();
    }
  });

  return {
    el,
    reveal(messageId) {
      const shown = list.reveal(messageId);
      if (!shown) say(t("conv.messageGone"));
      return shown;
    },
    show(id: string | null): void {
      const switching = id !== chatId;
      if (switching) {
        keepDraft(); // the chat being left keeps what was written
        panelOpen = false;
        held.hidden = true;
        waiting = null;
        list.reset();
        composer.reset();
        recorder.cancel();
        say("");
      }
      chatId = id;
      el.classList.toggle("has-chat", id !== null);
      body.hidden = id === null;
      header.el.hidden = id === null;
      empty.hidden = id !== null;
      if (id === null) {
        // Back to the list (phones): nothing is on screen any more — new messages are unread, receipts say delivered.
        void messenger.open(null);
        return;
      }
      if (switching) restoreDraft(id);
      renderHeader();
      renderPanel();
      markUnread();
      list.render();
      renderUploads();
      list.scrollToFirstUnread();
      void messenger.open(id);
      composer.focus();
    },
  };
}
