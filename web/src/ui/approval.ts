// Approving a new device of this account (issue 20): a device that signed in without the
// recovery phrase has no certificate, so nobody's client adds it to a chat. It shows its
// approval code (from its own keys); another of the person's devices shows the code of
// the keys the server lists for it, and approves only if the two match. Or the new device
// approves itself with the recovery phrase. The new device's QR code carries its id and
// keys: scanned, the approving device compares every bit with the server's list.
import QRCode from "qrcode";
import { humanError, type DeviceInfo } from "../api/client";
import type { Messenger } from "../app/messenger";
import { parseApprovalQr, type ApprovalQr } from "../identity/approvalCode";
import { t } from "../i18n/index";
import { clear, h } from "./dom";
import { startQrScanner, type Scanner } from "./safetyQr";

export interface ApprovalHandle {
  el: HTMLElement;
  refresh(): void;
}

function deviceName(d: DeviceInfo): string {
  return `${d.label || t("settings.device")} #${d.id}`;
}

function codeBlock(code: string, label: string): HTMLElement {
  return h("p", { class: "approval-code", "aria-label": label }, code);
}

/** Settings → the devices waiting for approval (or this device, waiting). */
export function approvalSection(messenger: Messenger): ApprovalHandle {
  const el = h("section", { class: "approvals", "aria-label": t("approval.label") });
  let loading = 0;

  let scanner: Scanner | null = null;
  const stopScanner = (): void => {
    scanner?.stop();
    scanner = null;
  };

  const waitingHere = async (): Promise<HTMLElement> => {
    const { code, qr } = await messenger.approvals.ownCode();
    const qrUrl = await QRCode.toDataURL(qr, { errorCorrectionLevel: "M", margin: 2, scale: 4 });
    const phrase = h("textarea", { id: "approve-phrase", rows: 2, autocomplete: "off", spellcheck: false });
    const error = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "button", class: "primary" }, t("approval.withPhrase"));
    submit.addEventListener("click", () => {
      error.textContent = "";
      submit.disabled = true;
      messenger
        .approvals.certifyWithPhrase(phrase.value)
        .catch((err: unknown) => (error.textContent = err instanceof Error && !("code" in err) ? t("approval.notPhrase") : humanError(err)))
        .finally(() => (submit.disabled = false));
    });
    return h(
      "div",
      { class: "approval waiting" },
      h("h3", {}, t("approval.waitingTitle")),
      h("p", {}, t("approval.waitingText")),
      h("img", { class: "approval-qr", src: qrUrl, width: "200", height: "200", alt: t("approval.qrAlt", { code }) }),
      codeBlock(code, t("approval.ownCode")),
      h("label", { for: "approve-phrase" }, t("approval.orPhrase")),
      phrase,
      submit,
      error,
    );
  };

  const pendingRow = async (d: DeviceInfo, canApprove: boolean): Promise<HTMLElement> => {
    const name = deviceName(d);
    const code = await messenger.approvals.codeOf(d);
    const error = h("p", { class: "error", role: "alert" });
    const status = h("p", { class: "muted", role: "status", "aria-label": t("approval.scanning", { name }) });
    const camera = h("div", { class: "approval-camera" });
    const approve = h("button", { type: "button", class: "primary", "aria-label": t("approval.approveName", { name }), disabled: !canApprove }, t("approval.approve"));
    const doApprove = (): void => {
      error.textContent = "";
      approve.disabled = true;
      messenger
        .approveDevice(d.id)
        .then(() => refresh())
        .catch((err: unknown) => {
          error.textContent = humanError(err);
          approve.disabled = false;
        });
    };
    approve.addEventListener("click", doApprove);
    const scan = h("button", { type: "button", "aria-label": t("approval.scanName", { name }), disabled: !canApprove }, t("approval.scan"));
    scan.addEventListener("click", () => {
      stopScanner();
      error.textContent = "";
      status.textContent = t("approval.hold");
      const matches = (seen: ApprovalQr): boolean =>
        seen.clientDeviceId === d.client_device_id && seen.ed25519Pub === d.ed25519_pub && seen.x25519Pub === d.x25519_pub;
      startQrScanner(parseApprovalQr, (seen) => {
        camera.replaceChildren();
        scanner = null;
        if (matches(seen)) {
          status.textContent = t("approval.matches");
          doApprove();
        } else {
          status.textContent = "";
          error.textContent = t("approval.mismatch");
        }
      }, (text) => (status.textContent = text), t("approval.notDevice"))
        .then((started) => {
          scanner = started;
          camera.replaceChildren(started.el);
        })
        .catch((err: unknown) => {
          status.textContent = "";
          error.textContent = t("approval.noCamera", { error: err instanceof Error ? err.message : String(err) });
        });
    });
    return h(
      "li",
      { class: "approval pending" },
      h("p", {}, h("strong", {}, name), t("approval.wantsToJoin")),
      h("p", {}, t("approval.onlyIf")),
      codeBlock(code, t("approval.codeOf", { name })),
      canApprove ? null : h("p", { class: "muted" }, t("approval.cannot")),
      h("div", { class: "approval-actions" }, approve, scan),
      camera,
      status,
      error,
    );
  };

  const refresh = (): void => {
    const mine = ++loading;
    stopScanner();
    void (async () => {
      try {
        const devices = await messenger.ownDevices(true);
        const current = devices.find((d) => d.current);
        const parts: HTMLElement[] = [];
        if (current !== undefined && current.certificate === null) {
          parts.push(await waitingHere());
        } else {
          const pending = devices.filter((d) => !d.current && d.certificate === null);
          if (pending.length > 0) {
            const canApprove = await messenger.approvals.canApprove();
            const rows = await Promise.all(pending.map((d) => pendingRow(d, canApprove)));
            parts.push(h("h3", {}, t("approval.yours")), h("ul", { class: "approval-list" }, ...rows));
          }
        }
        if (mine !== loading) return;
        clear(el);
        el.append(...parts);
        el.hidden = parts.length === 0;
      } catch (err) {
        console.warn("talkee: device approvals not loaded", err);
      }
    })();
  };
  return { el, refresh };
}

/**
 * Above the chats: "A new device wants to join your account" (or "This device is waiting
 * for approval") with a way to Settings, whenever it is so.
 */
export function approvalNotice(messenger: Messenger, openSettings: () => void): HTMLElement {
  const text = h("span", {});
  const el = h(
    "div",
    { class: "approval-notice", role: "status", "aria-label": t("approval.label") },
    text,
    h("button", { type: "button", onclick: openSettings }, t("approval.review")),
  );
  el.hidden = true;
  let loading = 0;
  const render = (): void => {
    const mine = ++loading;
    messenger
      .ownDevices(true)
      .then((devices) => {
        if (mine !== loading) return;
        const current = devices.find((d) => d.current);
        const waiting = current !== undefined && current.certificate === null;
        const others = devices.filter((d) => !d.current && d.certificate === null).length;
        el.hidden = !waiting && others === 0;
        text.textContent = waiting
          ? t("approval.thisWaits")
          : t("approval.newDevices", { count: others });
      })
      .catch(() => undefined);
  };
  messenger.addEventListener("change", (ev) => {
    if ((ev as CustomEvent<{ kind: string }>).detail.kind === "devices") render();
  });
  render();
  return el;
}
