// One conversation: messages (sender from inside the payload), ticks, reply,
// forward, edit/delete, reactions, typing and presence, timers, infinite scroll.
import { humanError } from "../api/client";
import { displayName, formatSeconds, lastSeenText, userOf } from "../app/format";
import type { Messenger } from "../app/messenger";
import type { ChatRecord, LocalMessage } from "../app/store";
import type { UploadView } from "../app/uploads";
import { clear, clockIcon, formatTime, h } from "./dom";
import { callButtons } from "./call";
import { membersPanel } from "./members";

const REACTIONS = ["👍", "❤️", "😂"];
/** Messages rendered per page of the infinite scroll. */
const PAGE = 40;
const TICKS: Record<LocalMessage["status"], [string, string]> = {
  queued: ["", "Queued for delivery"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  failed: ["⚠", "Not sent"],
};

/** Choices for a chat's self-destruct default (seconds; null = off). */
const CHAT_TIMERS: [number | null, string][] = [
  [null, "off"],
  [10, "10 s"],
  [60, "1 min"],
  [3600, "1 hour"],
  [86400, "1 day"],
  [604800, "1 week"],
];

export function formatDuration(seconds: number): string {
  const known = CHAT_TIMERS.find(([v]) => v === seconds);
  return known !== undefined ? known[1] : formatSeconds(seconds);
}

export interface ConversationHandle {
  el: HTMLElement;
  show(chatId: string | null): void;
}

export function conversation(messenger: Messenger, back: () => void): ConversationHandle {
  const el = h("section", { class: "conversation", "aria-label": "Conversation" });
  let chatId: string | null = null;
  let replyTo: LocalMessage | null = null;
  let editing: LocalMessage | null = null;
  let panelOpen = false;
  let loadingOlder = false;
  let exhausted = false;
  let lastPostable = true;
  let shown = PAGE; // how many of the newest messages are rendered

  const title = h("h2", { class: "conv-title" });
  const status = h("p", { class: "conv-status", "aria-live": "polite" });
  const membersButton = h("button", { type: "button", "aria-expanded": "false" }, "Members");
  const favButton = h("button", { type: "button", class: "icon" });
  const chatTimer = h(
    "select",
    { class: "chat-timer", "aria-label": "Timer for this chat" },
    ...CHAT_TIMERS.map(([v, label]) => h("option", { value: v === null ? "" : String(v) }, `Self-destruct: ${label}`)),
  );
  const notice = h("p", { class: "error", role: "alert" });
  const call = callButtons(messenger, (text) => (notice.textContent = text));
  const header = h(
    "header",
    { class: "conv-header" },
    h("button", { type: "button", class: "icon back", "aria-label": "Back to chats", onclick: back }, "‹"),
    h("div", { class: "conv-heading" }, title, status),
    call.el,
    chatTimer,
    favButton,
    membersButton,
  );
  const log = h("ol", { class: "messages", role: "log", "aria-label": "Messages", "aria-live": "polite", tabindex: 0 });
  const context = h("div", { class: "composer-context" });
  const input = h("textarea", { id: "composer", rows: 1, placeholder: "Write a message", "aria-label": "Message" });
  const ttl = h(
    "select",
    { "aria-label": "Self-destruct timer" },
    h("option", { value: "" }, "No timer"),
    h("option", { value: "10" }, "10 s"),
    h("option", { value: "30" }, "30 s"),
    h("option", { value: "300" }, "5 min"),
    h("option", { value: "3600" }, "1 hour"),
    h("option", { value: "86400" }, "1 day"),
  );
  const burnBox = h("input", { type: "checkbox", id: "burn" });
  const sendButton = h("button", { type: "submit", class: "primary" }, "Send");
  const fileInput = h("input", { type: "file", id: "attach", class: "sr-only" });
  const attach = h("label", { for: "attach", class: "attach", title: "Attach a file" }, h("span", { "aria-hidden": "true" }, "+"), h("span", { class: "sr-only" }, "Attach file"));
  const uploadRow = h("div", { class: "upload-rows", role: "status", "aria-label": "Uploads" });
  uploadRow.hidden = true;
  const burnLabel = h("label", { for: "burn", class: "check", title: "The message is deleted for everyone once it has been read" }, burnBox, " Burn after reading");
  const composer = h(
    "form",
    { class: "composer", "aria-label": "Write a message" },
    context,
    uploadRow,
    h("div", { class: "composer-row" }, attach, fileInput, input, sendButton),
    h("div", { class: "composer-options" }, ttl, burnLabel),
  );
  const readOnly = h("p", { class: "read-only" }, "Only the channel's owners and admins can post here.");
  const panel = h("aside", { class: "members-panel", "aria-label": "Members" });
  panel.hidden = true;
  const body = h("div", { class: "conv-body" }, h("div", { class: "conv-main" }, log, notice, composer, readOnly), panel);
  const empty = h("div", { class: "conv-empty" }, h("p", {}, "Pick a chat, or start one with a username."));
  el.append(header, body, empty);

  const chat = (): ChatRecord | undefined => (chatId === null ? undefined : messenger.store.chats.get(chatId));
  const isManager = (): boolean => chat()?.role === "owner" || chat()?.role === "admin";

  const setContext = (): void => {
    clear(context);
    if (editing !== null) {
      context.append(h("span", {}, "Editing your message"), h("button", { type: "button", class: "link", onclick: () => { editing = null; input.value = ""; setContext(); } }, "Cancel edit"));
    } else if (replyTo !== null) {
      context.append(h("span", { class: "quote" }, `Replying to ${nameOf(replyTo)}: ${replyTo.text.slice(0, 80)}`), h("button", { type: "button", class: "link", onclick: () => { replyTo = null; setContext(); } }, "Cancel reply"));
    }
  };

  const nameOf = (m: LocalMessage): string => (m.mine ? "You" : displayName(userOf(m.sender), messenger.domain));

  const submit = (): void => {
    const id = chatId;
    const text = input.value.trim();
    if (id === null || text === "") return;
    notice.textContent = "";
    if (editing !== null) {
      const target = editing;
      editing = null;
      input.value = "";
      setContext();
      messenger.edit(id, target, text).catch((err: unknown) => (notice.textContent = humanError(err)));
      return;
    }
    const options: Parameters<Messenger["send"]>[2] = {};
    if (replyTo?.id != null) options.replyTo = String(replyTo.id);
    if (ttl.value !== "") options.ttlSeconds = Number(ttl.value);
    if (burnBox.checked) options.burn = true;
    replyTo = null;
    input.value = "";
    burnBox.checked = false;
    setContext();
    messenger.send(id, text, options).catch((err: unknown) => (notice.textContent = humanError(err)));
  };
  composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submit();
    } else if (ev.key === "Escape" && (editing !== null || replyTo !== null)) {
      editing = null;
      replyTo = null;
      setContext();
    }
  });
  input.addEventListener("input", () => {
    if (chatId !== null) messenger.typingIn(chatId);
  });
  const upload = (file: File): void => {
    const id = chatId;
    if (id === null) return;
    notice.textContent = "";
    const caption = input.value.trim();
    input.value = "";
    // Progress, waiting for the link and refusals show in the upload rows (renderUploads).
    messenger.sendFile(id, file, caption).catch((err: unknown) => {
      if (messenger.uploads.inChat(id).length === 0) notice.textContent = humanError(err);
    });
  };
  const PHASES: Record<UploadView["phase"], string> = {
    encrypting: "encrypting",
    uploading: "uploading",
    waiting: "waiting for the connection",
    sending: "sending",
    failed: "not sent",
  };
  const renderUploads = (): void => {
    clear(uploadRow);
    const list = chatId === null ? [] : messenger.uploads.inChat(chatId);
    uploadRow.hidden = list.length === 0;
    for (const u of list) {
      if (u.phase === "failed") {
        uploadRow.append(
          h("div", { class: "upload-row failed" }, h("span", { class: "error" }, u.error ?? `${u.name} was not sent.`), h("button", { type: "button", class: "link", onclick: () => messenger.uploads.dismiss(u.id) }, "Dismiss")),
        );
        continue;
      }
      const percent = Math.round(u.progress * 100);
      uploadRow.append(
        h(
          "div",
          { class: "upload-row" },
          h("progress", { class: "upload", max: 100, value: percent, "aria-label": `Upload progress of ${u.name}` }),
          h("span", { class: "upload-text" }, `${u.name}: ${percent}% · ${PHASES[u.phase]}`),
        ),
      );
    }
  };
  fileInput.addEventListener("change", () => {
    const file = fileInput.files?.[0];
    fileInput.value = "";
    if (file !== undefined) upload(file);
  });
  const carriesFiles = (ev: DragEvent): boolean => ev.dataTransfer?.types.includes("Files") ?? false;
  el.addEventListener("dragover", (ev) => {
    if (chatId === null || composer.hidden || !carriesFiles(ev)) return;
    ev.preventDefault();
    el.classList.add("dropping");
  });
  el.addEventListener("dragleave", (ev) => {
    if (ev.relatedTarget === null || !el.contains(ev.relatedTarget as Node)) el.classList.remove("dropping");
  });
  el.addEventListener("drop", (ev) => {
    el.classList.remove("dropping");
    if (chatId === null || composer.hidden) return;
    ev.preventDefault();
    for (const file of ev.dataTransfer?.files ?? []) upload(file);
  });

  chatTimer.addEventListener("change", () => {
    const c = chat();
    if (c === undefined) return;
    const value = chatTimer.value === "" ? null : Number(chatTimer.value);
    notice.textContent = "";
    messenger.setChatTimer(c.id, value).catch((err: unknown) => {
      notice.textContent = humanError(err);
      renderHeader(); // back to what the chat really has
    });
  });
  membersButton.addEventListener("click", () => {
    panelOpen = !panelOpen;
    renderPanel();
  });
  favButton.addEventListener("click", () => {
    const c = chat();
    if (c !== undefined) messenger.setFavourite(c.id, !c.favourite).catch((err: unknown) => (notice.textContent = humanError(err)));
  });
  log.addEventListener("scroll", () => {
    if (log.scrollTop >= 40 || chatId === null || loadingOlder) return;
    const id = chatId;
    const height = log.scrollHeight;
    const keepPlace = (): void => {
      log.scrollTop = log.scrollHeight - height;
    };
    const total = messenger.store.messagesOf(id).length;
    if (shown < total) {
      // Older messages this device already holds: render another page of them.
      shown = Math.min(total, shown + PAGE);
      renderMessages();
      keepPlace();
      return;
    }
    if (exhausted) return;
    loadingOlder = true;
    messenger
      .loadOlder(id)
      .then((n) => {
        if (n === 0) exhausted = true;
        else {
          shown += n;
          renderMessages();
          keepPlace();
        }
      })
      .catch(() => undefined)
      .finally(() => (loadingOlder = false));
  });

  const renderHeader = (): void => {
    const c = chat();
    if (c === undefined) return;
    const name = messenger.chatTitle(c);
    title.textContent = name;
    if (c.kind !== "direct") title.prepend(h("span", { class: `kind ${c.kind}` }, c.kind === "channel" ? "Channel" : "Group"), " ");
    favButton.textContent = c.favourite ? "★" : "☆";
    favButton.setAttribute("aria-label", c.favourite ? "Remove from favourites" : "Add to favourites");
    favButton.setAttribute("aria-pressed", String(c.favourite));
    const typing = messenger.typingUsers(c.id).map((u) => displayName(u, messenger.domain));
    if (typing.length > 0) {
      status.textContent = `${typing.join(", ")} ${typing.length === 1 ? "is" : "are"} typing…`;
    } else if (c.kind === "direct") {
      const other = c.members.find((m) => m.user !== messenger.user);
      const p = other === undefined ? undefined : messenger.presence.get(other.user);
      status.textContent = p === undefined ? "" : p.state === "online" ? "online" : lastSeenText(p, Date.now());
    } else {
      status.textContent = `${c.members.length} members · ${c.role ?? "member"}`;
    }
    renderTimer(c);
    call.update(c);
    const canPost = c.joined && !c.removed && (c.kind !== "channel" || isManager());
    composer.hidden = !canPost;
    readOnly.hidden = canPost;
    readOnly.textContent = c.removed
      ? "You are no longer a member of this chat."
      : !c.joined
        ? "Waiting for the encryption keys of this chat…"
        : "Only the channel's owners and admins can post here.";
  };

  /** The chat's timer, visible to every member; changeable by whom the server allows. */
  const renderTimer = (c: ChatRecord): void => {
    const value = c.ttlSeconds === null ? "" : String(c.ttlSeconds);
    if (![...chatTimer.options].some((o) => o.value === value)) {
      chatTimer.append(h("option", { value }, `Self-destruct: ${formatDuration(c.ttlSeconds ?? 0)}`));
    }
    chatTimer.value = value;
    const allowed = !c.removed && (c.kind === "direct" || isManager());
    chatTimer.disabled = !allowed;
    chatTimer.title = allowed
      ? "Messages sent from now on disappear for everyone after this time"
      : "Only the chat's owners and admins can change the timer";
    chatTimer.dataset["on"] = String(c.ttlSeconds !== null);
    const defaultOption = ttl.options[0];
    if (defaultOption !== undefined) defaultOption.textContent = c.ttlSeconds === null ? "No timer" : `Chat timer (${formatDuration(c.ttlSeconds)})`;
  };

  const renderPanel = (): void => {
    membersButton.setAttribute("aria-expanded", String(panelOpen));
    panel.hidden = !panelOpen;
    clear(panel);
    const c = chat();
    if (panelOpen && c !== undefined) panel.append(membersPanel(messenger, c, () => { panelOpen = false; renderPanel(); }));
  };

  const renderMessages = (): void => {
    const c = chat();
    if (c === undefined) return;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    clear(log);
    const all = messenger.store.messagesOf(c.id);
    if (atBottom && all.length > shown && all.length - shown <= 5) shown = all.length; // new arrivals at the bottom
    const list = all.slice(Math.max(0, all.length - shown));
    if (list.length === 0) log.append(h("li", { class: "empty" }, "No messages yet. Say hello — it is end-to-end encrypted."));
    if (list.length < all.length) log.append(h("li", { class: "msg system" }, "Scroll up for older messages"));
    for (const m of list) if (!(m.notice !== undefined && m.deleted)) log.append(messageItem(m, c));
    if (atBottom || list.length < 30) log.scrollTop = log.scrollHeight;
  };

  const messageItem = (m: LocalMessage, c: ChatRecord): HTMLElement => {
    const who = nameOf(m);
    if (m.unavailable) return h("li", { class: "msg system" }, "🔒 A message from before this device joined");
    if (m.notice !== undefined) {
      const what = m.notice.timer === null ? "turned off the self-destruct timer" : `set the self-destruct timer to ${formatDuration(m.notice.timer)}`;
      return h("li", { class: "msg system notice" }, `${m.mine ? "You" : who} ${what}`);
    }
    const refused = m.changeError === undefined ? null : h("p", { class: "error change-error" }, m.changeError);
    if (m.deleted) return h("li", { class: `msg ${m.mine ? "mine" : ""} deleted` }, h("p", { class: "text" }, m.expired ? "Message expired" : "Message deleted"), refused);
    const parts: (Node | null)[] = [];
    if (c.kind !== "direct" && !m.mine) parts.push(h("p", { class: "sender" }, who));
    if (m.forwardOf !== undefined) parts.push(h("p", { class: "forwarded" }, `Forwarded from ${displayName(m.forwardOf, messenger.domain)}`));
    if (m.replyTo !== undefined) {
      const quoted = messenger.store.findById(c.id, m.replyTo);
      parts.push(h("blockquote", { class: "quote" }, quoted === undefined ? "Earlier message" : `${nameOf(quoted)}: ${quoted.deleted ? "Message deleted" : quoted.text.slice(0, 120)}`));
    }
    if (m.burn && !m.mine && !m.revealed) {
      parts.push(h("button", { type: "button", class: "reveal", onclick: () => { void messenger.burn(c.id, m); } }, "Show message (burns after reading)"));
    } else {
      if (m.file !== undefined) parts.push(fileCard(m.file));
      if (m.text !== "" || m.file === undefined) parts.push(h("p", { class: "text" }, m.text));
    }
    const reactions = new Map<string, { count: number; mine: boolean }>();
    for (const r of m.reactions ?? []) {
      const e = reactions.get(r.emoji) ?? { count: 0, mine: false };
      e.count += 1;
      e.mine ||= r.user === messenger.user;
      reactions.set(r.emoji, e);
    }
    if (reactions.size > 0) {
      parts.push(
        h(
          "div",
          { class: "reactions" },
          ...[...reactions.entries()].map(([emoji, r]) =>
            h("button", { type: "button", class: r.mine ? "reaction mine" : "reaction", "aria-label": `${emoji} ${r.count}${r.mine ? ", yours" : ""}`, onclick: () => act(() => messenger.react(c.id, m, emoji)) }, `${emoji} ${r.count}`),
          ),
        ),
      );
    }
    const [tick, tickLabel] = TICKS[m.status];
    const meta = h(
      "p",
      { class: "meta" },
      m.expiresAt ? h("span", { class: "flag", title: "Self-destructs", "aria-label": "Self-destructs" }, "timer · ") : null,
      m.burn ? h("span", { class: "flag", title: "Burns after reading", "aria-label": "Burns after reading" }, "burns · ") : null,
      m.edited ? h("span", { class: "edited" }, "edited · ") : null,
      h("time", {}, formatTime(m.at)),
      m.mine ? h("span", { class: `tick ${m.status}`, role: "img", "aria-label": tickLabel, title: m.error ?? tickLabel }, " ", m.status === "queued" ? clockIcon() : tick) : null,
    );
    parts.push(meta);
    if (m.status === "failed" && m.error) parts.push(h("p", { class: "error" }, m.error));
    if (refused !== null) parts.push(refused);
    const actions = h("div", { class: "actions", role: "group", "aria-label": `Actions for message from ${who}` });
    if (m.id !== null && c.joined && !c.removed) {
      actions.append(h("button", { type: "button", "aria-label": "Reply", onclick: () => { replyTo = m; editing = null; setContext(); input.focus(); } }, "↩"));
      for (const emoji of REACTIONS) actions.append(h("button", { type: "button", "aria-label": `React ${emoji}`, onclick: () => act(() => messenger.react(c.id, m, emoji)) }, emoji));
      actions.append(h("button", { type: "button", "aria-label": "Forward", onclick: () => forwardPicker(m, c, actions) }, "↪"));
      if (m.mine) actions.append(h("button", { type: "button", "aria-label": "Edit", onclick: () => { editing = m; replyTo = null; input.value = m.text; setContext(); input.focus(); } }, "✎"));
      if (m.mine || isManager()) actions.append(h("button", { type: "button", "aria-label": "Delete", onclick: () => act(() => messenger.remove(c.id, m)) }, "✕"));
    }
    return h("li", { class: `msg ${m.mine ? "mine" : "theirs"}`, "data-status": m.status }, h("div", { class: "bubble" }, ...parts), actions);
  };

  const previews = new Map<string, string>();
  const fileCard = (ref: NonNullable<LocalMessage["file"]>): HTMLElement => {
    const card = h("div", { class: "file" });
    const size = ref.size < 1024 * 1024 ? `${Math.max(1, Math.round(ref.size / 1024))} KB` : `${(ref.size / 1024 / 1024).toFixed(1)} MB`;
    const download = h("button", { type: "button", "aria-label": `Download ${ref.name}` }, "Download");
    download.addEventListener("click", () => {
      download.disabled = true;
      messenger
        .openFile(ref)
        .then((blob) => {
          const url = URL.createObjectURL(blob);
          const a = h("a", { href: url, download: ref.name });
          document.body.append(a);
          a.click();
          a.remove();
          window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
        })
        .catch((err: unknown) => (notice.textContent = humanError(err)))
        .finally(() => (download.disabled = false));
    });
    if (ref.mime.startsWith("image/") && ref.size <= 8 * 1024 * 1024) {
      const img = h("img", { alt: ref.name, class: "preview" });
      const cached = previews.get(ref.blob_id);
      if (cached !== undefined) img.src = cached;
      else
        void messenger
          .openFile(ref)
          .then((blob) => {
            const url = URL.createObjectURL(blob);
            previews.set(ref.blob_id, url);
            img.src = url;
          })
          .catch(() => img.replaceWith(h("span", { class: "muted" }, "Preview unavailable")));
      card.append(img);
    }
    card.append(h("span", { class: "file-name" }, ref.name), h("span", { class: "file-size" }, size), download);
    return card;
  };

  const forwardPicker = (m: LocalMessage, from: ChatRecord, host: HTMLElement): void => {
    const existing = host.querySelector(".forward");
    if (existing !== null) {
      existing.remove();
      return;
    }
    const targets = [...messenger.store.chats.values()].filter((c) => c.joined && !c.removed);
    const box = h("div", { class: "forward", role: "group", "aria-label": "Forward to" });
    for (const t of targets) {
      box.append(
        h("button", { type: "button", onclick: () => { box.remove(); const origin = m.forwardOf ?? (m.mine ? messenger.user : userOf(m.sender)); act(() => messenger.send(t.id, m.text, { forwardOf: origin })); } }, `Forward to ${messenger.chatTitle(t)}`),
      );
    }
    void from;
    host.append(box);
  };

  const act = (work: () => Promise<void>): void => {
    notice.textContent = "";
    work().catch((err: unknown) => (notice.textContent = humanError(err)));
  };

  messenger.addEventListener("change", (ev) => {
    const detail = (ev as CustomEvent<{ kind: string; chatId?: string; text?: string }>).detail;
    if (chatId === null) return;
    if (detail.kind === "refused" && detail.chatId === chatId && detail.text !== undefined) {
      notice.textContent = detail.text; // a change the chat's home refused (also on the message)
    } else if (detail.kind === "messages" && detail.chatId === chatId) {
      renderMessages();
      if (document.visibilityState === "visible") void messenger.open(chatId);
    } else if (detail.kind === "chats") {
      const c = chat();
      const postable = c !== undefined && c.joined && !c.removed;
      if (postable !== lastPostable) {
        lastPostable = postable;
        renderMessages();
      }
      renderHeader();
      if (panelOpen && !panel.contains(document.activeElement)) renderPanel();
    } else if (detail.kind === "uploads" && detail.chatId === chatId) {
      renderUploads();
    } else if (detail.kind === "typing" || detail.kind === "presence") {
      renderHeader();
    }
  });

  return {
    el,
    show(id: string | null): void {
      if (id !== chatId) {
        replyTo = null;
        editing = null;
        panelOpen = false;
        exhausted = false;
        shown = PAGE;
        input.value = "";
        notice.textContent = "";
        setContext();
      }
      chatId = id;
      el.classList.toggle("has-chat", id !== null);
      body.hidden = id === null;
      header.hidden = id === null;
      empty.hidden = id !== null;
      if (id === null) return;
      renderHeader();
      renderPanel();
      renderMessages();
      renderUploads();
      log.scrollTop = log.scrollHeight;
      void messenger.open(id);
      input.focus();
    },
  };
}
