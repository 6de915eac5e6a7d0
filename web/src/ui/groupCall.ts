// Group calls on screen: the header's "Group call" button (group chats of 3 or more) and
// the call panel — a grid of participants with their names, mute / camera / hang up.
// The manager (calls/groupCall.ts) is made here, one per Messenger, so app/messenger.ts
// needs no change.
import { GroupCallManager, type GroupCallView, type GroupTile } from "../calls/groupCall";
import { SpeakingMeter } from "../calls/speaking";
import type { Messenger } from "../app/messenger";
import type { ChatRecord } from "../app/store";
import { t } from "../i18n/index";
import { h } from "./dom";
import "./groupCall.css";

const managers = new WeakMap<Messenger, GroupCallManager>();

export function groupCallsOf(messenger: Messenger): GroupCallManager {
  let manager = managers.get(messenger);
  if (manager === undefined) {
    manager = new GroupCallManager({
      credential: messenger.credential,
      ticket: (chatId) => messenger.api.groupCallTicket(chatId),
      group: (chatId) => messenger.mls.group(chatId),
      exportSecret: (chatId, label) => messenger.mls.exportSecret(chatId, label),
      chatKeys: (chatId, epoch) => messenger.mls.chatKeys(chatId, epoch),
      sendSignal: (chatId, payload) => messenger.conn.signal({ type: "call", chat_id: chatId, payload }),
      turn: () => messenger.api.turnCredentials(),
    });
    const group = manager;
    messenger.calls.onGroupSignal = (chatId, payload) => group.onSignal(chatId, payload);
    managers.set(messenger, manager);
  }
  return manager;
}

function userOf(credential: string): string {
  const i = credential.lastIndexOf(":");
  return i < 0 ? credential : credential.slice(0, i);
}

/** The header button; shown in group chats of three or more. */
export function groupCallButton(messenger: Messenger, onError: (text: string) => void): { el: HTMLElement; update(chat: ChatRecord): void } {
  const calls = groupCallsOf(messenger);
  let chatId: string | null = null;
  const el = h("button", { type: "button", class: "call-start group-call-start" }, t("group.call"));
  el.addEventListener("click", () => {
    if (chatId === null) return;
    void calls.join(chatId).catch((err: unknown) => onError(err instanceof Error ? err.message : String(err)));
  });
  const refresh = (chat: ChatRecord | undefined): void => {
    el.hidden = chat === undefined || chat.kind !== "group" || chat.members.length < 3;
    (el as HTMLButtonElement).disabled = chat === undefined || !chat.joined || chat.removed === true || (calls.current !== null && calls.current.phase !== "ended");
  };
  calls.addEventListener("change", () => refresh(chatId === null ? undefined : messenger.store.chats.get(chatId)));
  return {
    el,
    update(chat: ChatRecord): void {
      chatId = chat.id;
      refresh(chat);
    },
  };
}

function stateLine(call: GroupCallView): string {
  if (call.phase === "joining") return t("group.joining");
  if (call.phase === "ended") return call.joined ? t("call.endedBecause", { reason: call.reason }) : t("group.couldNotJoin", { reason: call.reason });
  const n = call.tiles.length;
  return n === 0 ? t("group.waiting") : t("group.inCall", { count: n });
}

/** The group-call panel, over the app. */
export function groupCallOverlay(messenger: Messenger): HTMLElement {
  const calls = groupCallsOf(messenger);
  const title = h("h2", {}, t("group.call"));
  const state = h("p", { class: "group-state", role: "status", "aria-live": "polite" });
  const grid = h("div", { class: "group-grid" });
  const secure = h("p", { class: "group-secure" });
  const mute = h("button", { type: "button", "aria-pressed": "false", onclick: () => calls.setMuted(!(calls.current?.muted ?? false)) }, t("call.mute"));
  const camera = h("button", { type: "button", "aria-pressed": "false", onclick: () => calls.setCameraOff(!(calls.current?.cameraOff ?? false)) }, t("group.cameraOff"));
  const hangUp = h("button", { type: "button", class: "danger", onclick: () => calls.hangUp() }, t("call.hangUp"));
  const close = h("button", { type: "button", onclick: () => calls.dismiss() }, t("call.close"));
  const notice = h("p", { class: "group-notice", role: "status", "aria-live": "polite" });
  const panel = h("section", { class: "group-call", role: "dialog", "aria-label": t("group.call") }, title, state, notice, grid, secure, h("div", { class: "group-actions" }, mute, camera, hangUp, close));
  panel.hidden = true;
  // Someone started (or is in) a call in one of our chats: join it from here.
  const inviteText = h("p", { class: "group-invite-text" });
  const join = h("button", { type: "button", class: "primary" }, t("group.join"));
  const later = h("button", { type: "button", onclick: () => calls.dismissInvite() }, t("group.notNow"));
  const invite = h("section", { class: "group-call group-invite", role: "dialog", "aria-label": t("group.invitation") }, inviteText, h("div", { class: "group-actions" }, join, later));
  invite.hidden = true;
  join.addEventListener("click", () => {
    const chatId = calls.invite?.chatId;
    if (chatId !== undefined) void calls.join(chatId).catch(() => undefined);
  });
  const tiles = new Map<string, HTMLElement>();

  const tile = (key: string, label: string, stream: MediaStream | null, muted: boolean): HTMLElement => {
    let el = tiles.get(key);
    if (el === undefined) {
      const video = h("video", { autoplay: true, playsinline: true, "aria-label": t("group.videoOf", { name: label }) }) as HTMLVideoElement;
      video.muted = muted;
      el = h("figure", { class: "group-tile" }, video, h("figcaption", {}, label));
      tiles.set(key, el);
    }
    const video = el.querySelector("video")!;
    if (video.srcObject !== stream) video.srcObject = stream;
    el.querySelector("figcaption")!.textContent = label;
    return el;
  };

  // Who speaks: a ring around their tile (and "speaking" in its name for screen readers).
  const meter = new SpeakingMeter((speaking) => {
    for (const [key, el] of tiles) {
      const on = speaking.has(key);
      el.classList.toggle("speaking", on);
      el.dataset["speaking"] = String(on);
      const name = el.querySelector("figcaption")?.textContent ?? "";
      el.setAttribute("aria-label", on ? t("group.speaking", { name }) : name);
    }
  });

  const nameOf = (tile: GroupTile): string => (tile.credential === "" ? t("group.someone") : messenger.nameOf(userOf(tile.credential)));

  const render = (): void => {
    const call = calls.current;
    const asked = calls.invite;
    invite.hidden = asked === null || (call !== null && call.phase !== "ended");
    if (asked !== null) {
      const chat = messenger.store.chats.get(asked.chatId);
      const name = messenger.nameOf(asked.from);
      inviteText.textContent = chat === undefined ? t("group.invite", { name }) : t("group.inviteIn", { name, title: messenger.chatTitle(chat) });
    }
    const news = calls.notice;
    notice.textContent = call !== null && call.phase === "live" && news !== null ? t(news.joined ? "group.joined" : "group.left", { name: messenger.nameOf(news.user) }) : "";
    panel.hidden = call === null;
    if (call === null) return;
    panel.dataset["phase"] = call.phase;
    state.textContent = stateLine(call);
    const live = call.phase !== "ended";
    mute.hidden = camera.hidden = hangUp.hidden = !live;
    close.hidden = live;
    mute.textContent = call.muted ? t("call.unmute") : t("call.mute");
    mute.setAttribute("aria-pressed", String(call.muted));
    camera.textContent = call.cameraOff ? t("group.cameraOn") : t("group.cameraOff");
    camera.setAttribute("aria-pressed", String(call.cameraOff));
    const wanted = live ? [tile("self", t("msg.you"), call.localStream, true), ...call.tiles.map((other) => tile(`feed-${other.feed}`, nameOf(other), other.stream, false))] : [];
    grid.replaceChildren(...wanted);
    for (const key of [...tiles.keys()]) if (!wanted.includes(tiles.get(key)!)) tiles.delete(key);
    if (live) meter.watch(new Map([["self", call.muted ? null : call.localStream], ...call.tiles.map((other) => [`feed-${other.feed}`, other.stream] as const)]));
    else meter.stop();
    renderStats();
  };
  const renderStats = (): void => {
    const call = calls.current;
    if (call === null) return;
    panel.dataset["framesEncrypted"] = String(call.encrypted);
    panel.dataset["epoch"] = String(call.epoch);
    for (const other of call.tiles) {
      const el = tiles.get(`feed-${other.feed}`);
      if (el === undefined) continue;
      el.dataset["leaf"] = String(other.leaf);
      el.dataset["framesDecoded"] = String(other.framesDecoded);
      el.dataset["framesDecrypted"] = String(other.decrypted);
      el.dataset["framesFailed"] = String(other.failed);
    }
    secure.hidden = !call.joined;
    secure.textContent = t("group.e2e", { count: call.encrypted });
  };
  calls.addEventListener("change", render);
  calls.addEventListener("stats", renderStats);
  return h("div", { class: "group-call-layer" }, invite, panel);
}
