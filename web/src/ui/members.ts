// The members panel: who is in the chat and their roles; owners and admins add,
// remove and change roles (the server enforces the rules; refusals are shown).
import { humanError } from "../api/client";
import { MAX_GROUP_NAME, cleanGroupName, displayName } from "../app/format";
import { devicesSummary } from "../app/contacts";
import { formatSafetyNumber, safetyQrPayload } from "../identity/safetyNumber";
import { safetyQrImage, startScanner, type Scanner } from "./safetyQr";
import type { Messenger } from "../app/messenger";
import type { ChatRecord } from "../app/store";
import { blockToggle } from "./blockButton";
import { groupPictureForm } from "./groupPicture";
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
    // A display name is what the person chose: the address stays beside it, so one who
    // takes another's name is still told apart.
    const chosen = messenger.profiles.nameOf(member.user);
    const devices = h("span", { class: "member-devices muted", "aria-label": `Devices of ${name}` }, "…");
    const picture = messenger.profiles.avatarOf(member.user);
    const row = h(
      "li",
      {},
      picture === undefined ? null : h("img", { class: "member-picture", src: picture, alt: "" }),
      h("span", { class: "member-name" }, (chosen ?? name) + (member.user === messenger.user ? " (you)" : ""), chosen === null ? null : h("span", { class: "member-address muted" }, member.user)),
      h("span", { class: "role" }, member.role),
      devices,
    );
    // Each person's certified devices and how new the newest is (a device the server added without a certificate is not counted).
    void messenger
      .certifiedDevicesOf(member.user)
      .then((created) => (devices.textContent = devicesSummary(created, Date.now())))
      .catch(() => (devices.textContent = ""));
    if (member.user !== messenger.user) {
      const block = blockToggle(messenger, (text) => (error.textContent = text));
      block.setUser(member.user);
      row.append(block.el);
    }
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
    panel.append(renameForm(messenger, chat), groupPictureForm(messenger, chat.id), form);
  } else if (chat.kind !== "direct") {
    panel.append(h("p", { class: "muted" }, "Only owners and admins can change who is here."));
  }
  if (chat.kind === "direct") {
    const other = chat.members.find((m) => m.user !== messenger.user)?.user;
    if (other !== undefined) panel.append(safetySection(messenger, chat, other));
  }
  if (chat.kind !== "direct" && !chat.removed) panel.append(leaveSection(messenger, chat, act));
  return panel;
}

/**
 * Leaving a group or channel. The last owner hands ownership to another member first
 * (the server refuses otherwise): the section offers whom, then does both. The owners'
 * and admins' devices then take this device's leaves out of the group (membership.ts).
 */
function leaveSection(messenger: Messenger, chat: ChatRecord, act: (button: HTMLButtonElement, work: () => Promise<void>) => void): HTMLElement {
  const me = messenger.user;
  const others = chat.members.filter((m) => m.user !== me);
  const soleOwner = chat.role === "owner" && !others.some((m) => m.role === "owner");
  const leave = h("button", { type: "button", class: "link danger" }, "Leave this chat");
  const section = h("div", { class: "leave" }, leave);
  const leaveNow = (button: HTMLButtonElement, handOverTo: string | null): void => {
    if (!confirm("Leave this chat? You will no longer receive its messages.")) return;
    act(button, async () => {
      if (handOverTo !== null) await messenger.setRole(chat.id, handOverTo, "owner");
      await messenger.removeMember(chat.id, me);
    });
  };
  if (!soleOwner || others.length === 0) {
    leave.addEventListener("click", () => leaveNow(leave, null));
    return section;
  }
  // The last owner: choose who owns the chat next.
  const heir = h(
    "select",
    { id: "new-owner" },
    ...[...others]
      .sort((a, b) => (a.role === "admin" ? 0 : 1) - (b.role === "admin" ? 0 : 1))
      .map((m) => h("option", { value: m.user }, withAddress(messenger, m.user))),
  ) as HTMLSelectElement;
  const handOver = h("button", { type: "button", class: "danger" }, "Make owner and leave");
  const form = h(
    "div",
    { class: "hand-over", role: "group", "aria-label": "Hand over ownership" },
    h("p", { class: "muted" }, "You are this chat's only owner. Choose who owns it after you leave."),
    h("label", { for: "new-owner" }, "New owner"),
    heir,
    handOver,
  );
  form.hidden = true;
  leave.addEventListener("click", () => {
    form.hidden = false;
    leave.hidden = true;
    heir.focus();
  });
  handOver.addEventListener("click", () => leaveNow(handOver, heir.value));
  section.append(form);
  return section;
}

/** "Alice Liddell (alice)" for someone with a display name, else the address. */
function withAddress(messenger: Messenger, user: string): string {
  const address = displayName(user, messenger.domain);
  const chosen = messenger.profiles.nameOf(user);
  return chosen === null ? address : `${chosen} (${address})`;
}

/** Owners and admins rename a group or channel; every member sees who renamed it to what. */
function renameForm(messenger: Messenger, chat: ChatRecord): HTMLElement {
  const what = chat.kind === "channel" ? "channel" : "group";
  const input = h("input", { id: "rename-group", maxlength: String(MAX_GROUP_NAME), value: chat.name ?? "", autocomplete: "off" }) as HTMLInputElement;
  const submit = h("button", { type: "submit" }, `Rename ${what}`);
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "rename-group" }, h("label", { for: "rename-group" }, `Name of the ${what}`), input, submit, error);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    if (cleanGroupName(input.value) === "" || cleanGroupName(input.value) === chat.name) return;
    submit.disabled = true;
    messenger
      .renameGroup(chat.id, input.value)
      .catch((err: unknown) => (error.textContent = humanError(err)))
      .finally(() => (submit.disabled = false));
  });
  return form;
}

/**
 * The safety number of a direct chat (identity/safetyNumber.ts): both people see the same
 * 60 digits unless someone swapped an identity key. Typing the other's number (or their
 * QR code's text) marks the chat verified.
 */
function safetySection(messenger: Messenger, chat: ChatRecord, other: string): HTMLElement {
  const name = displayName(other, messenger.domain);
  const digits = h("p", { class: "safety-number", "aria-label": `Your safety number with ${name}` }, "…");
  const badge = h("p", { class: "badge", role: "status", "aria-label": "Verification" });
  const theirs = h("input", { id: "their-safety-number", autocomplete: "off", inputmode: "numeric", spellcheck: "false" });
  const compare = h("button", { type: "submit" }, "Compare");
  const form = h("form", { class: "safety-compare" }, h("label", { for: "their-safety-number" }, `${name}'s safety number`), theirs, compare);
  const qr = h("div", { class: "safety-qr-box" });
  const scan = h("button", { type: "button", class: "primary" }, `Scan ${name}'s code`);
  const stopScan = h("button", { type: "button" }, "Stop scanning");
  stopScan.hidden = true;
  const scanArea = h("div", { class: "safety-scan-area" });
  const scanNote = h("p", { class: "muted", role: "status", "aria-label": "Scanner" });
  let scanner: Scanner | null = null;
  const endScan = (): void => {
    scanner?.stop();
    scanner = null;
    scanArea.replaceChildren();
    stopScan.hidden = true;
    scan.hidden = false;
  };
  const section = h(
    "section",
    { class: "safety", "aria-label": "Safety number" },
    h("h4", {}, "Safety number"),
    digits,
    qr,
    badge,
    h("div", { class: "safety-scan-actions" }, scan, stopScan),
    scanArea,
    scanNote,
    form,
  );
  scan.addEventListener("click", () => {
    scanNote.textContent = "Point the camera at the code on their screen.";
    scan.hidden = true;
    stopScan.hidden = false;
    startScanner(
      (code) => {
        endScan();
        void messenger.verifySafetyNumber(chat.id, other, safetyQrPayload(code)).then(async (match) => {
          scanNote.textContent = match ? "The codes match." : "The codes differ.";
          const number = await messenger.safetyNumber(other);
          if (number !== null) badge.textContent = verdict(chat, number);
        });
      },
      (text) => (scanNote.textContent = text),
    )
      .then((s) => {
        scanner = s;
        scanArea.append(s.el);
      })
      .catch(() => {
        endScan();
        scanNote.textContent = "The camera could not be opened. Compare the numbers instead.";
      });
  });
  stopScan.addEventListener("click", endScan);
  void messenger.safetyNumber(other, chat.id).then((number) => {
    if (number === null) {
      digits.textContent = "No safety number here yet: sign in on this device with your recovery phrase.";
      form.hidden = true;
      scan.hidden = true;
      return;
    }
    digits.textContent = formatSafetyNumber(number);
    badge.textContent = verdict(chat, number);
    void safetyQrImage(number, name).then((img) => qr.replaceChildren(img));
  });
  const verdict = (c: ChatRecord, number: string): string =>
    c.verified === number
      ? "Verified"
      : c.unsafe === number
        ? `Unsafe: the numbers differ, someone may be reading this chat. Do not trust it until you and ${name} find out why.`
        : "Not verified";
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void messenger.verifySafetyNumber(chat.id, other, theirs.value).then(async () => {
      const number = await messenger.safetyNumber(other);
      if (number !== null) badge.textContent = verdict(chat, number);
    });
  });
  return section;
}
