// One message in the list: a bubble (sender, forwarded-from, quote, text or file,
// reactions, time and ticks, errors) and its actions (reply, react, forward, edit, copy,
// delete — on a phone behind a long press or "More actions", ./messageMenu). Notices and
// unreadable, deleted or being-deleted messages are one line. It only renders and reports
// what was clicked.
import { localNoticeText } from "../../app/contacts";
import { displayName, userOf } from "../../app/format";
import type { ChatRecord, LocalMessage } from "../../app/store";
import type { FileReference } from "../../crypto/payload";
import { t, type Key } from "../../i18n/index";
import { clockIcon, formatTime, h } from "../dom";
import { reactionBar } from "./reactions";
import { withMessageMenu } from "./messageMenu";
import { messageText } from "./messageText";
import { formatDuration } from "./timers";

const REACTIONS = ["👍", "❤️", "😂"];
const TICKS: Record<LocalMessage["status"], [string, Key]> = {
  queued: ["", "msg.queued"],
  sent: ["✓", "msg.sent"],
  delivered: ["✓✓", "msg.delivered"],
  read: ["✓✓", "msg.read"],
  failed: ["⚠", "msg.failed"],
};

export interface BubbleContext {
  /** Our user (`alice@domain`) and domain, for names and our own reactions. */
  user: string;
  domain: string;
  /** The display name a person set in their profile (null: none known; their address is shown). */
  nameOf?(user: string): string | null;
  canManage: boolean;
  /** A quoted message, by id. */
  find(id: string): LocalMessage | undefined;
  /** Chats a message can be forwarded to, with their titles. */
  forwardTargets(): { chat: ChatRecord; title: string }[];
  fileCard(ref: FileReference): HTMLElement;
  /** From someone this user blocked and not shown anyway: folded into one line. */
  hidden?(m: LocalMessage): boolean;
  /** Deleted a moment ago, still undoable (./pendingDeletes): folded into one line with "Undo". */
  deleting?(m: LocalMessage): boolean;
}

export interface BubbleActions {
  reply(m: LocalMessage): void;
  edit(m: LocalMessage): void;
  react(m: LocalMessage, emoji: string): void;
  remove(m: LocalMessage): void;
  reveal(m: LocalMessage): void;
  forward(m: LocalMessage, to: ChatRecord, origin: string): void;
  /** The quote of a reply was clicked: show the quoted message (its id). */
  showQuoted(id: string): void;
  /** Show a folded message from a blocked person (on this screen only). */
  unfold?(m: LocalMessage): void;
  /** Take back a deletion within its undo time. */
  undoDelete?(m: LocalMessage): void;
  /** Copy the message's text. */
  copy?(m: LocalMessage): void;
}

/** "You" for ours, else the sender's name. */
export function senderName(m: LocalMessage, domain: string): string {
  return m.mine ? t("msg.you") : displayName(userOf(m.sender), domain);
}

export function messageItem(m: LocalMessage, c: ChatRecord, view: BubbleContext, actions: BubbleActions): HTMLElement {
  const who = (m.mine ? null : view.nameOf?.(userOf(m.sender))) ?? senderName(m, view.domain);
  if (m.unavailable) return h("li", { class: "msg system" }, t("msg.beforeJoined"));
  if (m.local !== undefined) {
    const warn = m.local.kind === "identity-changed";
    return h("li", { class: `msg system notice${warn ? " warning" : ""}` }, `${warn ? "⚠ " : ""}${localNoticeText(m.local, view.domain)}`);
  }
  if (m.notice !== undefined) {
    // Whole sentences: a language puts the person and the verb together its own way.
    const you = m.mine;
    const channel = c.kind === "channel";
    const text =
      "renamed" in m.notice
        ? t(channel ? (you ? "notice.youRenamedChannel" : "notice.renamedChannel") : you ? "notice.youRenamedGroup" : "notice.renamedGroup", { who, name: m.notice.renamed })
        : "picture" in m.notice
          ? t(m.notice.picture === "set" ? (you ? "notice.youChangedPicture" : "notice.changedPicture") : you ? "notice.youRemovedPicture" : "notice.removedPicture", {
              who,
              group: t(channel ? "notice.channelOf" : "notice.groupOf"),
            })
          : m.notice.timer === null
            ? t(you ? "notice.youTimerOff" : "notice.timerOff", { who })
            : t(you ? "notice.youTimerSet" : "notice.timerSet", { who, duration: formatDuration(m.notice.timer) });
    return h("li", { class: "msg system notice" }, text);
  }
  if (!m.mine && view.hidden?.(m) === true) {
    return h(
      "li",
      { class: "msg system blocked-message", "data-id": m.id },
      t("msg.blocked"),
      h("button", { type: "button", class: "link", "aria-label": t("msg.showBlocked"), onclick: () => actions.unfold?.(m) }, t("msg.show")),
    );
  }
  if (view.deleting?.(m) === true) {
    return h(
      "li",
      { class: "msg system deleting", "data-id": m.id },
      t("msg.youDeleted"),
      h("button", { type: "button", class: "link", "aria-label": t("msg.undoLabel"), onclick: () => actions.undoDelete?.(m) }, t("msg.undo")),
    );
  }
  const refused = m.changeError === undefined ? null : h("p", { class: "error change-error" }, m.changeError);
  if (m.deleted) return h("li", { class: `msg ${m.mine ? "mine" : ""} deleted`, "data-id": m.id }, h("p", { class: "text" }, m.expired ? t("msg.expired") : t("msg.deleted")), refused);
  const parts: (Node | null)[] = [];
  if (c.kind !== "direct" && !m.mine) parts.push(h("p", { class: "sender" }, who));
  if (m.forwardOf !== undefined) parts.push(h("p", { class: "forwarded" }, t("msg.forwardedFrom", { name: displayName(m.forwardOf, view.domain) })));
  if (m.replyTo !== undefined) {
    const quoted = view.find(m.replyTo);
    const replyTo = m.replyTo;
    // A click on the quote brings the quoted message into view (when this device holds it).
    parts.push(
      h(
        "blockquote",
        { class: "quote" },
        quoted === undefined
          ? t("msg.earlier")
          : h(
              "button",
              { type: "button", class: "quote-jump", title: t("msg.showQuoted"), onclick: () => actions.showQuoted(replyTo) },
              `${senderName(quoted, view.domain)}: ${quoted.deleted ? t("msg.deleted") : quoted.text.slice(0, 120)}`,
            ),
      ),
    );
  }
  if (m.burn && !m.mine && !m.revealed) {
    parts.push(h("button", { type: "button", class: "reveal", onclick: () => actions.reveal(m) }, t("msg.reveal")));
  } else {
    if (m.file !== undefined) parts.push(view.fileCard(m.file));
    if (m.text !== "" || m.file === undefined) parts.push(messageText(m.text, m.mentions, view.user, view.domain));
  }
  const bar = reactionBar(m.reactions ?? [], view.user, (emoji) => actions.react(m, emoji));
  if (bar !== null) parts.push(bar);
  const [tick, tickLabel] = TICKS[m.status];
  parts.push(
    h(
      "p",
      { class: "meta" },
      m.expiresAt ? h("span", { class: "flag", title: t("msg.selfDestructs"), "aria-label": t("msg.selfDestructs") }, t("msg.timerFlag")) : null,
      m.burn ? h("span", { class: "flag", title: t("msg.burns"), "aria-label": t("msg.burns") }, t("msg.burnsFlag")) : null,
      m.edited ? h("span", { class: "edited" }, t("msg.editedFlag")) : null,
      h("time", {}, formatTime(m.at)),
      m.mine ? h("span", { class: `tick ${m.status}`, role: "img", "aria-label": t(tickLabel), title: m.error ?? t(tickLabel) }, " ", m.status === "queued" ? clockIcon() : tick) : null,
    ),
  );
  if (m.status === "failed" && m.error) parts.push(h("p", { class: "error" }, m.error));
  if (refused !== null) parts.push(refused);
  const bubbleActions = h("div", { class: "actions", role: "group", "aria-label": t("msg.actionsFor", { name: who }) });
  if (m.id !== null && c.joined && !c.removed) {
    bubbleActions.append(h("button", { type: "button", "aria-label": t("msg.reply"), onclick: () => actions.reply(m) }, "↩"));
    for (const emoji of REACTIONS) bubbleActions.append(h("button", { type: "button", "aria-label": t("msg.react", { emoji }), onclick: () => actions.react(m, emoji) }, emoji));
    bubbleActions.append(h("button", { type: "button", "aria-label": t("msg.forward"), onclick: () => forwardPicker(m, bubbleActions, view, actions) }, "↪"));
    if (m.mine) bubbleActions.append(h("button", { type: "button", "aria-label": t("msg.edit"), onclick: () => actions.edit(m) }, "✎"));
    if (m.text !== "" && actions.copy !== undefined) bubbleActions.append(h("button", { type: "button", "aria-label": t("msg.copy"), onclick: () => actions.copy?.(m) }, "📋"));
    if (m.mine || view.canManage) bubbleActions.append(h("button", { type: "button", "aria-label": t("msg.delete"), onclick: () => actions.remove(m) }, "✕"));
  }
  const bubble = h("div", { class: "bubble" }, ...parts);
  const item = h("li", { class: `msg ${m.mine ? "mine" : "theirs"}`, "data-status": m.status, "data-id": m.id }, bubble, bubbleActions);
  if (bubbleActions.childElementCount > 0) withMessageMenu(item, m.key, bubble, bubbleActions);
  return item;
}

/** The chats to forward to, under the message's actions (a second click closes it). */
function forwardPicker(m: LocalMessage, host: HTMLElement, view: BubbleContext, actions: BubbleActions): void {
  const existing = host.querySelector(".forward");
  if (existing !== null) {
    existing.remove();
    return;
  }
  const box = h("div", { class: "forward", role: "group", "aria-label": t("msg.forwardTo") });
  for (const target of view.forwardTargets()) {
    box.append(
      h(
        "button",
        {
          type: "button",
          onclick: () => {
            box.remove();
            actions.forward(m, target.chat, m.forwardOf ?? (m.mine ? view.user : userOf(m.sender)));
          },
        },
        t("msg.forwardToChat", { title: target.title }),
      ),
    );
  }
  host.append(box);
}
