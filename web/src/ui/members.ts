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
import { roleName, t } from "../i18n/index";
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
  const list = h("ul", { class: "member-list", "aria-label": t("members.list") });
  for (const member of chat.members) {
    const name = displayName(member.user, messenger.domain);
    // A display name is what the person chose: the address stays beside it, so one who
    // takes another's name is still told apart.
    const chosen = messenger.profiles.nameOf(member.user);
    const devices = h("span", { class: "member-devices muted", "aria-label": t("members.devicesOf", { name }) }, "…");
    const picture = messenger.profiles.avatarOf(member.user);
    const row = h(
      "li",
      {},
      picture === undefined ? null : h("img", { class: "member-picture", src: picture, alt: "" }),
      h("span", { class: "member-name" }, (chosen ?? name) + (member.user === messenger.user ? t("members.you") : ""), chosen === null ? null : h("span", { class: "member-address muted" }, member.user)),
      h("span", { class: "role" }, roleName(member.role)),
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
        { "aria-label": t("members.roleOf", { name }) },
        ...["member", "admin", "owner"].map((r) => h("option", { value: r, selected: r === member.role }, roleName(r))),
      );
      const apply = h("button", { type: "button", "aria-label": t("members.changeRoleOf", { name }) }, t("members.setRole"));
      apply.addEventListener("click", () => act(apply, () => messenger.setRole(chat.id, member.user, role.value)));
      const remove = h("button", { type: "button", class: "danger", "aria-label": t("members.removeName", { name }) }, t("members.remove"));
      remove.addEventListener("click", () => act(remove, () => messenger.removeMember(chat.id, member.user)));
      row.append(role, apply, remove);
    }
    list.append(row);
  }
  const panel = h("div", { class: "members" }, h("div", { class: "panel-head" }, h("h3", {}, t("conv.members")), h("button", { type: "button", class: "icon", "aria-label": t("members.close"), onclick: close }, "✕")), list, error);
  if (manager && chat.kind !== "direct") {
    const who = h("input", { id: "add-member", autocapitalize: "none", spellcheck: "false", placeholder: t("chats.who") });
    const role = h("select", { "aria-label": t("members.newRole") }, h("option", { value: "member" }, roleName("member")), h("option", { value: "admin" }, roleName("admin")));
    const add = h("button", { type: "submit", class: "primary" }, t("members.add"));
    const form = h("form", { class: "add-member" }, h("label", { for: "add-member" }, t("members.addSomeone")), who, role, add);
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
    panel.append(h("p", { class: "muted" }, t("members.onlyManagers")));
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
  const leave = h("button", { type: "button", class: "link danger" }, t("members.leave"));
  const section = h("div", { class: "leave" }, leave);
  const leaveNow = (button: HTMLButtonElement, handOverTo: string | null): void => {
    if (!confirm(t("members.confirmLeave"))) return;
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
  const handOver = h("button", { type: "button", class: "danger" }, t("members.handOver"));
  const form = h(
    "div",
    { class: "hand-over", role: "group", "aria-label": t("members.handOverLabel") },
    h("p", { class: "muted" }, t("members.soleOwner")),
    h("label", { for: "new-owner" }, t("members.newOwner")),
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
  const channel = chat.kind === "channel";
  const input = h("input", { id: "rename-group", maxlength: String(MAX_GROUP_NAME), value: chat.name ?? "", autocomplete: "off" }) as HTMLInputElement;
  const submit = h("button", { type: "submit" }, t(channel ? "members.renameChannel" : "members.renameGroup"));
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "rename-group" }, h("label", { for: "rename-group" }, t(channel ? "members.channelName" : "members.groupName")), input, submit, error);
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
  const digits = h("p", { class: "safety-number", "aria-label": t("safety.yours", { name }) }, "…");
  const badge = h("p", { class: "badge", role: "status", "aria-label": t("safety.verification") });
  const theirs = h("input", { id: "their-safety-number", autocomplete: "off", inputmode: "numeric", spellcheck: "false" });
  const compare = h("button", { type: "submit" }, t("safety.compare"));
  const form = h("form", { class: "safety-compare" }, h("label", { for: "their-safety-number" }, t("safety.theirs", { name })), theirs, compare);
  const qr = h("div", { class: "safety-qr-box" });
  const scan = h("button", { type: "button", class: "primary" }, t("safety.scan", { name }));
  const stopScan = h("button", { type: "button" }, t("safety.stopScan"));
  stopScan.hidden = true;
  const scanArea = h("div", { class: "safety-scan-area" });
  const scanNote = h("p", { class: "muted", role: "status", "aria-label": t("safety.scanner") });
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
    { class: "safety", "aria-label": t("safety.title") },
    h("h4", {}, t("safety.title")),
    digits,
    qr,
    badge,
    h("div", { class: "safety-scan-actions" }, scan, stopScan),
    scanArea,
    scanNote,
    form,
  );
  scan.addEventListener("click", () => {
    scanNote.textContent = t("safety.point");
    scan.hidden = true;
    stopScan.hidden = false;
    startScanner(
      (code) => {
        endScan();
        void messenger.verifySafetyNumber(chat.id, other, safetyQrPayload(code)).then(async (match) => {
          scanNote.textContent = match ? t("safety.match") : t("safety.differ");
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
        scanNote.textContent = t("safety.noCamera");
      });
  });
  stopScan.addEventListener("click", endScan);
  void messenger.safetyNumber(other, chat.id).then((number) => {
    if (number === null) {
      digits.textContent = t("safety.none");
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
      ? t("safety.verified")
      : c.unsafe === number
        ? t("safety.unsafe", { name })
        : t("safety.notVerified");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void messenger.verifySafetyNumber(chat.id, other, theirs.value).then(async () => {
      const number = await messenger.safetyNumber(other);
      if (number !== null) badge.textContent = verdict(chat, number);
    });
  });
  return section;
}
