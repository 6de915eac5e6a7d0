// The composer: the reply/edit line, upload rows, attach, the text box, Send, and the
// per-message timer and burn-after-reading. Enter sends, Shift+Enter breaks the line,
// Escape cancels a reply or an edit. What is written goes to `actions`.
import type { SendOptions } from "../../app/outbox";
import type { Draft, LocalMessage } from "../../app/store";
import type { UploadView } from "../../app/uploads";
import { formatSeconds } from "../../app/format";
import { t, type Key } from "../../i18n/index";
import { clear, h } from "../dom";
import { mentionsIn } from "../../app/mentions";
import { senderName } from "./bubble";
import { mentionPicker } from "./mentionPicker";
import { stagedFiles } from "./stagedFiles";

export interface ComposerActions {
  send(text: string, options: SendOptions): void;
  edit(target: LocalMessage, text: string): void;
  upload(file: File, caption: string): void;
  typing(): void;
  dismissUpload(id: string): void;
  /** What is written (or the reply) changed: the draft is kept. */
  changed(): void;
  /** Me and the chat's members, for "@" mentions (null: a direct chat, no picker). */
  mentionables?(): { me: string; members: readonly string[] } | null;
}

export interface ComposerView {
  el: HTMLFormElement;
  /** Another chat: no reply, no edit, nothing written. */
  reset(): void;
  replyTo(m: LocalMessage): void;
  edit(m: LocalMessage): void;
  /** Puts a text that was not sent back (the user chose to verify first). */
  restore(text: string): void;
  /** What is written, as a draft (null while editing a sent message: that is no draft). */
  draft(): Draft | null;
  /** Brings a kept draft back (with the message it replies to, if still here). */
  setDraft(text: string, replyTo: LocalMessage | null): void;
  /** A file to send (dropped or pasted on the conversation): staged with a preview until Send; what is written is its caption. */
  upload(file: File): void;
  renderUploads(list: UploadView[]): void;
  setTimerLabel(label: string): void;
  focus(): void;
}

const PHASES: Record<UploadView["phase"], Key> = {
  encrypting: "upload.encrypting",
  uploading: "upload.uploading",
  waiting: "upload.waiting",
  sending: "upload.sending",
  failed: "upload.failed",
};

export function composer(domain: string, actions: ComposerActions): ComposerView {
  let replyTo: LocalMessage | null = null;
  let editing: LocalMessage | null = null;
  const context = h("div", { class: "composer-context" });
  const input = h("textarea", { id: "composer", rows: 1, placeholder: t("conv.placeholder"), "aria-label": t("conv.message") });
  const people = (): { me: string; members: readonly string[] } | null => actions.mentionables?.() ?? null;
  // Its keys come first: Enter picks a member while the list is open.
  const picker = mentionPicker(input, domain, people, () => actions.changed());
  const ttl = h(
    "select",
    { "aria-label": t("conv.timer") },
    h("option", { value: "" }, t("timers.none")),
    ...[10, 30, 300, 3600, 86400].map((s) => h("option", { value: String(s) }, formatSeconds(s))),
  );
  const burnBox = h("input", { type: "checkbox", id: "burn" });
  const sendButton = h("button", { type: "submit", class: "primary" }, t("conv.send"));
  const fileInput = h("input", { type: "file", id: "attach", class: "sr-only" });
  const attach = h("label", { for: "attach", class: "attach", title: t("conv.attachTitle") }, h("span", { "aria-hidden": "true" }, "+"), h("span", { class: "sr-only" }, t("conv.attach")));
  const staged = stagedFiles((count) => {
    sendButton.textContent = count === 0 ? t("conv.send") : t("conv.sendFiles", { count });
    input.placeholder = count === 0 ? t("conv.placeholder") : t("conv.caption");
  });
  const uploadRow = h("div", { class: "upload-rows", role: "status", "aria-label": t("conv.uploads") });
  uploadRow.hidden = true;
  const burnLabel = h("label", { for: "burn", class: "check", title: t("conv.burnTitle") }, burnBox, t("conv.burn"));
  const el = h(
    "form",
    { class: "composer", "aria-label": t("conv.write") },
    context,
    uploadRow,
    staged.el,
    picker.el,
    h("div", { class: "composer-row" }, attach, fileInput, input, sendButton),
    h("div", { class: "composer-options" }, ttl, burnLabel),
  );

  const setContext = (): void => {
    clear(context);
    if (editing !== null) {
      context.append(h("span", {}, t("conv.editing")), h("button", { type: "button", class: "link", onclick: () => { editing = null; input.value = ""; setContext(); } }, t("conv.cancelEdit")));
    } else if (replyTo !== null) {
      context.append(h("span", { class: "quote" }, t("conv.replyingTo", { name: senderName(replyTo, domain), text: replyTo.text.slice(0, 80) })), h("button", { type: "button", class: "link", onclick: () => { replyTo = null; setContext(); actions.changed(); } }, t("conv.cancelReply")));
    }
  };

  const submit = (): void => {
    if (staged.files.length > 0 && editing === null) {
      // The text is the caption, on the first file.
      const [first, ...rest] = staged.take();
      const caption = input.value.trim();
      input.value = "";
      actions.upload(first!, caption);
      for (const file of rest) actions.upload(file, "");
      return;
    }
    const text = input.value.trim();
    if (text === "") return;
    if (editing !== null) {
      const target = editing;
      editing = null;
      input.value = "";
      setContext();
      actions.edit(target, text);
      return;
    }
    const options: SendOptions = {};
    if (replyTo?.id != null) options.replyTo = String(replyTo.id);
    if (ttl.value !== "") options.ttlSeconds = Number(ttl.value);
    if (burnBox.checked) options.burn = true;
    // Every member whose "@name" is in the text, picked or typed (sealed in the payload).
    const who = people();
    if (who !== null) {
      const mentions = mentionsIn(text, who.members.filter((u) => u !== who.me), domain);
      if (mentions.length > 0) options.mentions = mentions;
    }
    replyTo = null;
    input.value = "";
    burnBox.checked = false;
    setContext();
    actions.send(text, options);
  };
  const upload = (file: File): void => {
    staged.add(file);
    input.focus();
  };

  el.addEventListener("submit", (ev) => {
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
      actions.changed();
    }
  });
  input.addEventListener("input", () => {
    actions.typing();
    actions.changed();
  });
  fileInput.addEventListener("change", () => {
    const file = fileInput.files?.[0];
    fileInput.value = "";
    if (file !== undefined) upload(file);
  });

  return {
    el,
    reset() {
      picker.close();
      staged.clear();
      replyTo = null;
      editing = null;
      input.value = "";
      setContext();
    },
    replyTo(m) {
      replyTo = m;
      editing = null;
      setContext();
      input.focus();
      actions.changed();
    },
    restore(text) {
      if (input.value === "") input.value = text;
      actions.changed();
    },
    draft() {
      if (editing !== null) return null;
      const draft: Draft = { text: input.value };
      if (replyTo?.id != null) draft.replyTo = String(replyTo.id);
      return draft;
    },
    setDraft(text, to) {
      editing = null;
      replyTo = to;
      input.value = text;
      setContext();
    },
    edit(m) {
      editing = m;
      replyTo = null;
      input.value = m.text;
      setContext();
      input.focus();
    },
    upload,
    renderUploads(list) {
      clear(uploadRow);
      uploadRow.hidden = list.length === 0;
      for (const u of list) {
        if (u.phase === "failed") {
          uploadRow.append(
            h("div", { class: "upload-row failed" }, h("span", { class: "error" }, u.error ?? t("conv.notSent", { name: u.name })), h("button", { type: "button", class: "link", onclick: () => actions.dismissUpload(u.id) }, t("conv.dismiss"))),
          );
          continue;
        }
        const percent = Math.round(u.progress * 100);
        uploadRow.append(
          h(
            "div",
            { class: "upload-row" },
            h("progress", { class: "upload", max: 100, value: percent, "aria-label": t("conv.uploadProgress", { name: u.name }) }),
            h("span", { class: "upload-text" }, `${u.name}: ${percent}% · ${t(PHASES[u.phase])}`),
          ),
        );
      }
    },
    setTimerLabel(label) {
      const defaultOption = ttl.options[0];
      if (defaultOption !== undefined) defaultOption.textContent = label;
    },
    focus() {
      input.focus();
    },
  };
}
