// A message's text as DOM: web addresses and e-mail addresses become links (found by
// linkifyjs; only http, https and mailto, so never `javascript:` or `data:`), mentions
// are highlighted (more strongly when they name me). Built from text nodes and elements,
// never from HTML, so nothing in a message can add markup. Nothing is fetched: no previews.
import { find } from "linkifyjs";
import { labelSpans } from "../../app/mentions";
import { t } from "../../i18n/index";
import { h } from "../dom";

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** A run of a message's text: plain, a link, or a mention (of me, or of someone else). */
export type TextPiece =
  | { kind: "text"; text: string }
  | { kind: "link"; text: string; href: string }
  | { kind: "mention"; text: string; user: string; me: boolean };

/** The href linkifyjs made for a match, if it is one we link to (else null: plain text). */
export function safeHref(href: string): string | null {
  try {
    const url = new URL(href);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** Links in a text: where they stand and where they lead (safe ones only). */
export function linksIn(text: string): { start: number; end: number; href: string; label: string }[] {
  const out: { start: number; end: number; href: string; label: string }[] = [];
  for (const match of find(text)) {
    if (!match.isLink || (match.type !== "url" && match.type !== "email")) continue;
    const href = safeHref(match.href);
    if (href !== null) out.push({ start: match.start, end: match.end, href, label: match.value });
  }
  return out;
}

/** A text cut into plain runs, safe links and mentions (a mention inside an address stays part of it). */
export function textPieces(text: string, mentions: readonly string[] | undefined, me: string, domain: string): TextPiece[] {
  const marks: { start: number; end: number; piece: TextPiece }[] = linksIn(text).map((l) => ({ start: l.start, end: l.end, piece: { kind: "link", text: l.label, href: l.href } }));
  for (const span of labelSpans(text, mentions ?? [], domain)) {
    if (marks.some((m) => span.start < m.end && m.start < span.end)) continue;
    marks.push({ start: span.start, end: span.end, piece: { kind: "mention", text: text.slice(span.start, span.end), user: span.user, me: span.user === me } });
  }
  marks.sort((a, b) => a.start - b.start);
  const out: TextPiece[] = [];
  let at = 0;
  for (const m of marks) {
    if (m.start > at) out.push({ kind: "text", text: text.slice(at, m.start) });
    out.push(m.piece);
    at = m.end;
  }
  if (at < text.length) out.push({ kind: "text", text: text.slice(at) });
  return out;
}

function pieceNode(piece: TextPiece): Node {
  if (piece.kind === "link") return h("a", { href: piece.href, target: "_blank", rel: "noopener noreferrer", class: "msg-link" }, piece.text);
  if (piece.kind === "mention") return h("span", { class: piece.me ? "mention mention-me" : "mention", "data-user": piece.user, title: piece.me ? t("mention.you") : piece.user }, piece.text);
  return document.createTextNode(piece.text);
}

/** The `<p class="text">` of a bubble. */
export function messageText(text: string, mentions: readonly string[] | undefined, me: string, domain: string): HTMLElement {
  return h("p", { class: "text" }, ...textPieces(text, mentions, me, domain).map(pieceNode));
}
