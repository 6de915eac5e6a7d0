// Settings → Your devices: every device signed in to this account (label, when it
// was added and last seen, which one is this browser), and revoking the others.
import { humanError, type DeviceInfo } from "../api/client";
import type { Messenger } from "../app/messenger";
import { approvalSection } from "./approval";
import { clear, formatTime, h } from "./dom";

export interface SettingsHandle {
  el: HTMLElement;
  refresh(): void;
}

function deviceName(d: DeviceInfo): string {
  return `${d.label || "Device"} #${d.id}`;
}

export function settingsScreen(messenger: Messenger, close: () => void): SettingsHandle {
  const list = h("ul", { class: "device-list", "aria-label": "Your devices" });
  const error = h("p", { class: "error", role: "alert" });
  const status = h("p", { class: "muted", role: "status" });

  const row = (d: DeviceInfo): HTMLElement => {
    const name = deviceName(d);
    const details = h(
      "span",
      { class: "device-text" },
      h("span", { class: "device-name" }, name, d.current ? h("span", { class: "this-device" }, "This device") : null),
      h("span", { class: "device-meta" }, `Added ${formatTime(Date.parse(d.created))} · last seen ${formatTime(Date.parse(d.last_seen))}`),
    );
    const item = h("li", { class: d.current ? "current" : null, "aria-current": d.current ? "true" : null }, details);
    if (!d.current) {
      const revoke = h("button", { type: "button", class: "danger", "aria-label": `Revoke ${name}` }, "Revoke");
      revoke.addEventListener("click", () => {
        if (!confirm(`Revoke ${name}? It is signed out at once and can no longer read new messages.`)) return;
        error.textContent = "";
        revoke.disabled = true;
        messenger
          .revokeDevice(d.id)
          .then(() => {
            status.textContent = `${name} was revoked.`;
            refresh();
          })
          .catch((err: unknown) => {
            error.textContent = humanError(err);
            revoke.disabled = false;
          });
      });
      item.append(revoke);
    }
    return item;
  };

  const approvals = approvalSection(messenger);
  let loading = 0;
  const refresh = (): void => {
    approvals.refresh();
    const mine = ++loading;
    messenger
      .ownDevices(true)
      .then((devices) => {
        if (mine !== loading) return;
        clear(list);
        for (const d of devices) list.append(row(d));
      })
      .catch((err: unknown) => (error.textContent = humanError(err)));
  };
  messenger.addEventListener("change", (ev) => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind === "devices" && !el.hidden) refresh();
  });

  const notifications = notificationSettings(messenger);
  const el = h(
    "section",
    { class: "settings", "aria-labelledby": "settings-title" },
    h("div", { class: "panel-head" }, h("h2", { id: "settings-title" }, "Settings"), h("button", { type: "button", class: "icon", "aria-label": "Close settings", onclick: close }, "✕")),
    approvals.el,
    h("h3", {}, "Your devices"),
    h("p", { class: "muted" }, "Each browser where you signed in has its own keys. Revoke one you no longer use or have lost: it is signed out at once, and it cannot read anything sent afterwards."),
    list,
    status,
    error,
    notifications,
  );
  return { el, refresh };
}

/** Settings → Notifications: permission only after a tap, and whether an unlocked tab shows the text. */
function notificationSettings(messenger: Messenger): HTMLElement {
  const n = messenger.notifications;
  const state = h("p", { class: "muted", role: "status" });
  const error = h("p", { class: "error", role: "alert" });
  const describe = (): void => {
    const p = n.permission;
    state.textContent =
      p === "unsupported"
        ? "This browser cannot show notifications (on iPhone and iPad: add Talkee to the home screen first)."
        : p === "granted"
          ? "Notifications are on for this device."
          : p === "denied"
            ? "Notifications are blocked in this browser's site settings."
            : "Notifications are off.";
    enable.hidden = p === "unsupported" || p === "denied";
  };
  const enable = h("button", { type: "button" }, "Turn on notifications");
  enable.addEventListener("click", () => {
    error.textContent = "";
    enable.disabled = true;
    n.enable()
      .then(describe, (err: unknown) => (error.textContent = humanError(err)))
      .finally(() => (enable.disabled = false));
  });
  const showText = h("input", { type: "checkbox", id: "notify-show-text" }) as HTMLInputElement;
  showText.checked = n.showText;
  showText.addEventListener("change", () => (n.showText = showText.checked));
  // Stored on the server (it decides whether to push): usable once this device's choice is known.
  const callsMuted = h("input", { type: "checkbox", id: "notify-calls-muted", disabled: true }) as HTMLInputElement;
  callsMuted.checked = true;
  n.callsWhenMuted().then(
    (ring) => {
      callsMuted.checked = ring;
      callsMuted.disabled = false;
    },
    () => undefined, // offline: it stays disabled
  );
  callsMuted.addEventListener("change", () => {
    const wanted = callsMuted.checked;
    error.textContent = "";
    callsMuted.disabled = true;
    n.setCallsWhenMuted(wanted)
      .then(
        (ring) => (callsMuted.checked = ring),
        (err: unknown) => {
          callsMuted.checked = !wanted;
          error.textContent = humanError(err);
        },
      )
      .finally(() => (callsMuted.disabled = false));
  });
  describe();
  return h(
    "div",
    { class: "notification-settings" },
    h("h3", {}, "Notifications"),
    h(
      "p",
      { class: "muted" },
      "The push service only learns that something arrived: no text, sender or chat name. While Talkee is locked, a notification just says “New message” or “Incoming call”.",
    ),
    enable,
    h("label", { for: "notify-show-text" }, showText, " Show message text when unlocked"),
    h("label", { for: "notify-calls-muted" }, callsMuted, " Calls ring in muted chats"),
    state,
    error,
  );
}
