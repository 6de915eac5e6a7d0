// The members panel: who is in the chat and their roles; owners and admins add,
// remove and change roles (the server enforces the rules; refusals are shown).
import { humanError } from "../api/client";
import { displayName } from "../app/format";
import type { Messenger } from "../app/messenger";
import type { ChatRecord } from "../app/store";
import { h } from "./dom";

export function membersPanel(messenger: Messenger, chat: ChatRecord, close: () => void): HTMLElement {
  const manager = chat.role === "owner" || chat.role === "admin";
  const error = h("p", { class: "error", role: "alert" });
  const act = (button: HTMLButtonElement, work: () => Promise<void>): void => {
    error.textContent = "";
    button.disabled = true;
    work()
      .catch((err: unknown) => (error.textContent = humanError(err)))
      .finally(() => (button.disabled = false));
  };
  const list = h("ul", { class: "member-list", "aria-label": "Members of this chat" });
  for (const member of chat.members) {
    const name = displayName(member.user, messenger.domain);
    const row = h("li", {}, h("span", { class: "member-name" }, name + (member.user === messenger.user ? " (you)" : "")), h("span", { class: "role" }, member.role));
    if (manager && member.user !== messenger.user && chat.kind !== "direct") {
      const role = h(
        "select",
        { "aria-label": `Role of ${name}` },
        ...["member", "admin", "owner"].map((r) => h("option", { value: r, selected: r === member.role }, r)),
      );
      const apply = h("button", { type: "button", "aria-label": `Change role of ${name}` }, "Set role");
      apply.addEventListener("click", () => act(apply, () => messenger.setRole(chat.id, member.user, role.value)));
      const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove ${name}` }, "Remove");
      remove.addEventListener("click", () => act(remove, () => messenger.removeMember(chat.id, member.user)));
      row.append(role, apply, remove);
    }
    list.append(row);
  }
  const panel = h("div", { class: "members" }, h("div", { class: "panel-head" }, h("h3", {}, "Members"), h("button", { type: "button", class: "icon", "aria-label": "Close members", onclick: close }, "✕")), list, error);
  if (manager && chat.kind !== "direct") {
    const who = h("input", { id: "add-member", autocapitalize: "none", spellcheck: "false", placeholder: "username or name@server" });
    const role = h("select", { "aria-label": "Role for the new member" }, h("option", { value: "member" }, "member"), h("option", { value: "admin" }, "admin"));
    const add = h("button", { type: "submit", class: "primary" }, "Add member");
    const form = h("form", { class: "add-member" }, h("label", { for: "add-member" }, "Add someone"), who, role, add);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (who.value.trim() === "") return;
      act(add, async () => {
        await messenger.addMember(chat.id, who.value, role.value);
        who.value = "";
      });
    });
    panel.append(form);
  } else if (chat.kind !== "direct") {
    panel.append(h("p", { class: "muted" }, "Only owners and admins can change who is here."));
  }
  const leave = chat.kind !== "direct" && !chat.removed ? h("button", { type: "button", class: "link danger" }, "Leave this chat") : null;
  leave?.addEventListener("click", () => act(leave, () => messenger.removeMember(chat.id, messenger.user)));
  if (leave !== null) panel.append(leave);
  return panel;
}
