// Settings: your profile (ui/profile.ts); change the password; Your devices — every device of this account (label,
// when it was added and last active, which one is this browser, whether it is signed
// in), signing out all the others, revoking one; notifications; blocked people; deleting the account.
import { ApiError, humanError, type DeviceInfo, type PushPreferences } from "../api/client";
import { deviceActivity, deviceAdded } from "../app/format";
import type { Messenger } from "../app/messenger";
import { approvalSection } from "./approval";
import { blockListSection } from "./blockList";
import { deleteAccountSection, type AccountDeletion } from "./deleteAccount";
import { clear, h } from "./dom";
import { profileSection } from "./profile";
import { chooseLanguage, languageChoice, t, type LanguageChoice } from "../i18n/index";
import { chooseTheme, themeChoice, type ThemeChoice } from "./theme";

/** What Settings needs from the device's session (app/session.ts). */
export interface AccountControls extends AccountDeletion {
  changePassword(current: string, next: string, logOutOthers: boolean): Promise<number>;
}

export interface SettingsHandle {
  el: HTMLElement;
  refresh(): void;
}

function deviceName(d: DeviceInfo): string {
  return `${d.label || t("settings.device")} #${d.id}`;
}

export function settingsScreen(messenger: Messenger, account: AccountControls, close: () => void, deleted: () => void): SettingsHandle {
  const list = h("ul", { class: "device-list", "aria-label": t("settings.devices") });
  const error = h("p", { class: "error", role: "alert" });
  const status = h("p", { class: "muted", role: "status" });

  const row = (d: DeviceInfo): HTMLElement => {
    const name = deviceName(d);
    const details = h(
      "span",
      { class: "device-text" },
      h("span", { class: "device-name" }, name, d.current ? h("span", { class: "this-device" }, t("settings.thisDevice")) : null),
      h(
        "span",
        { class: "device-meta" },
        [d.signed_in ? deviceActivity(d.last_seen, Date.now(), d.current) : t("settings.signedOutLast", { activity: deviceActivity(d.last_seen, Date.now(), false) }), deviceAdded(d.created, Date.now())]
          .filter((part) => part !== "")
          .map((part, i) => (i === 0 ? part.charAt(0).toUpperCase() + part.slice(1) : part))
          .join(" · "),
      ),
    );
    const item = h("li", { class: d.current ? "current" : null, "aria-current": d.current ? "true" : null }, details);
    if (!d.current) {
      const revoke = h("button", { type: "button", class: "danger", "aria-label": t("settings.revokeName", { name }) }, t("settings.revoke"));
      revoke.addEventListener("click", () => {
        if (!confirm(t("settings.confirmRevoke", { name }))) return;
        error.textContent = "";
        revoke.disabled = true;
        messenger
          .revokeDevice(d.id)
          .then(() => {
            status.textContent = t("settings.revoked", { name });
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
  const blocked = blockListSection(messenger);
  let loading = 0;
  const refresh = (): void => {
    approvals.refresh();
    blocked.refresh();
    const mine = ++loading;
    messenger
      .ownDevices(true)
      .then((devices) => {
        if (mine !== loading) return;
        clear(list);
        for (const d of devices) list.append(row(d));
        logOutOthers.hidden = !devices.some((d) => !d.current && d.signed_in);
      })
      .catch((err: unknown) => (error.textContent = humanError(err)));
  };
  messenger.addEventListener("change", (ev) => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind === "devices" && !el.hidden) refresh();
  });

  const logOutOthers = h("button", { type: "button", class: "danger" }, t("settings.logOutOthers"));
  logOutOthers.hidden = true;
  logOutOthers.addEventListener("click", () => {
    if (!confirm(t("settings.confirmLogOutOthers"))) return;
    error.textContent = "";
    logOutOthers.disabled = true;
    messenger.api
      .logOutOtherDevices()
      .then(({ signed_out }) => {
        status.textContent = signedOutText(signed_out);
        refresh();
      })
      .catch((err: unknown) => (error.textContent = humanError(err)))
      .finally(() => (logOutOthers.disabled = false));
  });

  const notifications = notificationSettings(messenger);
  const el = h(
    "section",
    { class: "settings", "aria-labelledby": "settings-title" },
    h("div", { class: "panel-head" }, h("h2", { id: "settings-title" }, t("settings.title")), h("button", { type: "button", class: "icon", "aria-label": t("settings.close"), onclick: close }, "✕")),
    approvals.el,
    profileSection(messenger),
    passwordSettings(account, () => refresh()),
    h("h3", {}, t("settings.devices")),
    h("p", { class: "muted" }, t("settings.devicesText")),
    list,
    logOutOthers,
    status,
    error,
    notifications,
    appearanceSettings(),
    languageSettings(),
    blocked.el,
    deleteAccountSection(account, deleted),
  );
  return { el, refresh };
}

/** Settings → Appearance: light, dark, or as the system says (this device only). */
function appearanceSettings(): HTMLElement {
  const select = h(
    "select",
    { id: "theme-choice" },
    h("option", { value: "system" }, t("settings.themeSystem")),
    h("option", { value: "light" }, t("settings.themeLight")),
    h("option", { value: "dark" }, t("settings.themeDark")),
  ) as HTMLSelectElement;
  select.value = themeChoice();
  select.addEventListener("change", () => chooseTheme(select.value as ThemeChoice));
  return h("div", { class: "appearance-settings" }, h("h3", {}, t("settings.appearance")), h("label", { for: "theme-choice" }, t("settings.theme")), select);
}

/**
 * Settings → Language: as the browser's languages say, English or Russian (this device
 * only). The screens are drawn in one language, so the page reloads in the new one (the
 * vault locks on a reload: the password opens it again).
 */
function languageSettings(): HTMLElement {
  const select = h(
    "select",
    { id: "language-choice", "aria-describedby": "language-note" },
    h("option", { value: "system" }, t("settings.languageSystem")),
    // Each language named in itself, as people look for their own.
    h("option", { value: "en", lang: "en" }, "English"),
    h("option", { value: "ru", lang: "ru" }, "Русский"),
  ) as HTMLSelectElement;
  select.value = languageChoice();
  select.addEventListener("change", () => {
    chooseLanguage(select.value as LanguageChoice);
    location.reload();
  });
  return h(
    "div",
    { class: "language-settings" },
    h("h3", {}, t("settings.language")),
    h("label", { for: "language-choice" }, t("settings.languageLabel")),
    select,
    h("p", { class: "muted", id: "language-note" }, t("settings.languageNote")),
  );
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
        ? t("settings.notifyUnsupported")
        : p === "granted"
          ? t("settings.notifyOn")
          : p === "denied"
            ? t("settings.notifyBlocked")
            : t("settings.notifyOff");
    enable.hidden = p === "unsupported" || p === "denied";
  };
  const enable = h("button", { type: "button" }, t("settings.notifyEnable"));
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
  // Stored on the server (it decides whether to push): usable once this device's choices are known.
  const callsMuted = preferenceBox("notify-calls-muted", "calls_when_muted", n, error);
  const mentionsMuted = preferenceBox("notify-mentions-muted", "mentions_when_muted", n, error);
  n.preferences().then(
    (chosen) => {
      for (const [box, name] of [[callsMuted, "calls_when_muted"], [mentionsMuted, "mentions_when_muted"]] as const) {
        box.checked = chosen[name];
        box.disabled = false;
      }
    },
    () => undefined, // offline: they stay disabled
  );
  describe();
  return h(
    "div",
    { class: "notification-settings" },
    h("h3", {}, t("settings.notifications")),
    h("p", { class: "muted" }, t("settings.notifyText")),
    enable,
    h("label", { for: "notify-show-text" }, showText, t("settings.notifyShowText")),
    h("label", { for: "notify-calls-muted" }, callsMuted, t("settings.notifyCalls")),
    h("label", { for: "notify-mentions-muted" }, mentionsMuted, t("settings.notifyMentions")),
    state,
    error,
  );
}

/** A checkbox for one of this device's push choices kept by the server; disabled until they are known. */
function preferenceBox(id: string, name: keyof PushPreferences, n: Messenger["notifications"], error: HTMLElement): HTMLInputElement {
  const box = h("input", { type: "checkbox", id, disabled: true }) as HTMLInputElement;
  box.checked = true;
  box.addEventListener("change", () => {
    const wanted = box.checked;
    error.textContent = "";
    box.disabled = true;
    n.setPreference(name, wanted)
      .then(
        (on) => (box.checked = on),
        (err: unknown) => {
          box.checked = !wanted;
          error.textContent = humanError(err);
        },
      )
      .finally(() => (box.disabled = false));
  });
  return box;
}

function signedOutText(n: number): string {
  return n === 0 ? t("settings.noOtherSignedIn") : t("settings.othersSignedOut", { count: n });
}

/**
 * Settings → Change password: the current one is required (the server checks it); this
 * device's vault is re-wrapped under the new one. Other devices keep their messages and
 * need the new password at their next sign-in; optionally they are all signed out now.
 */
function passwordSettings(account: AccountControls, changed: () => void): HTMLElement {
  const field = (id: string, label: string, autocomplete: string): [HTMLElement, HTMLInputElement] => {
    const input = h("input", { id, type: "password", autocomplete, required: true }) as HTMLInputElement;
    return [h("label", { for: id }, label), input];
  };
  const [currentLabel, current] = field("current-password", t("settings.currentPassword"), "current-password");
  const [nextLabel, next] = field("new-password", t("settings.newPassword"), "new-password");
  const [repeatLabel, repeat] = field("repeat-password", t("settings.newPasswordAgain"), "new-password");
  next.minLength = 10;
  const others = h("input", { type: "checkbox", id: "password-log-out-others" }) as HTMLInputElement;
  const submit = h("button", { type: "submit", class: "primary" }, t("settings.changePassword"));
  const error = h("p", { class: "error", role: "alert" });
  const status = h("p", { class: "muted", role: "status" });
  const form = h(
    "form",
    { class: "password-form", "aria-labelledby": "password-title" },
    h("h3", { id: "password-title" }, t("settings.changePassword")),
    currentLabel,
    current,
    nextLabel,
    next,
    repeatLabel,
    repeat,
    h("label", { for: "password-log-out-others", class: "check" }, others, t("settings.logOutOthersBox")),
    submit,
    status,
    error,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    status.textContent = "";
    if (next.value !== repeat.value) {
      error.textContent = t("settings.newPasswordsDiffer");
      repeat.focus();
      return;
    }
    submit.disabled = true;
    account
      .changePassword(current.value, next.value, others.checked)
      .then((signedOut) => {
        form.reset();
        status.textContent = `${t("settings.passwordChanged")}${signedOut > 0 ? " " + signedOutText(signedOut) : ""}`;
        changed();
      })
      .catch((err: unknown) => {
        error.textContent = err instanceof ApiError && err.code === "wrong_password" ? t("settings.wrongCurrent") : humanError(err);
        if (err instanceof ApiError && err.code === "wrong_password") current.focus();
      })
      .finally(() => (submit.disabled = false));
  });
  return form;
}
