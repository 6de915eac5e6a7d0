// A message's reactions, one button per emoji with its count (ours marked); clicking
// one adds or takes back our reaction.
import type { ReactionRecord } from "../../app/store";
import { t } from "../../i18n/index";
import { h } from "../dom";

export function reactionBar(reactions: ReactionRecord[], me: string, react: (emoji: string) => void): HTMLElement | null {
  const counts = new Map<string, { count: number; mine: boolean }>();
  for (const r of reactions) {
    const e = counts.get(r.emoji) ?? { count: 0, mine: false };
    e.count += 1;
    e.mine ||= r.user === me;
    counts.set(r.emoji, e);
  }
  if (counts.size === 0) return null;
  return h(
    "div",
    { class: "reactions" },
    ...[...counts.entries()].map(([emoji, r]) =>
      h("button", { type: "button", class: r.mine ? "reaction mine" : "reaction", "aria-label": t(r.mine ? "reaction.yours" : "reaction.label", { emoji, count: r.count }), onclick: () => react(emoji) }, `${emoji} ${r.count}`),
    ),
  );
}
