// Calls on screen: the header's Call / Video call buttons, the incoming-call prompt
// (Accept / Decline) and the in-call panel (remote video, mute, share the screen, switch
// camera, hang up, a state line).
import type { CallView } from "../calls/call";
import { canShareScreen, videoInputs } from "../calls/videoSource";
import type { Messenger } from "../app/messenger";
import type { ChatRecord } from "../app/store";
import { t, type Key } from "../i18n/index";
import { h } from "./dom";

/** The calls layer (calls/call.ts) ends a call with one of these English reasons; shown in the interface's language. */
const REASONS: Record<string, Key> = {
  "No answer": "reason.noAnswer",
  Declined: "reason.declined",
  "Not accepted: this person does not take calls from you": "reason.notAccepted",
  "Could not connect": "reason.couldNotConnect",
  "The connection failed": "reason.failed",
  "The connection was lost": "reason.lost",
  "Answered on another device": "reason.answeredElsewhere",
  "Declined on another device": "reason.declinedElsewhere",
  "Missed call": "reason.missed",
};

function reasonText(reason: string): string {
  const key = REASONS[reason];
  return key === undefined ? reason : t(key);
}

export function stateLine(call: CallView): string {
  switch (call.phase) {
    case "outgoing":
      return t("call.calling");
    case "ringing":
      return t("call.ringing");
    case "incoming":
      return t("call.ringing");
    case "connecting":
      return t("call.connecting");
    case "connected":
      return t("call.connected");
    case "ended":
      // The reason comes from the calls layer in English ("Call ended" is its plain end).
      return call.reason === "" || call.reason === "Call ended" ? t("call.ended") : t("call.endedBecause", { reason: reasonText(call.reason) });
  }
}

/** The two header buttons; shown in direct chats only. */
export function callButtons(messenger: Messenger, onError: (text: string) => void): { el: HTMLElement; update(chat: ChatRecord): void } {
  let chatId: string | null = null;
  const start = (video: boolean): void => {
    if (chatId === null) return;
    void messenger.calls.start(chatId, video).catch((err: unknown) => onError(err instanceof Error ? err.message : String(err)));
  };
  const voice = h("button", { type: "button", class: "call-start", onclick: () => start(false) }, t("call.call"));
  const video = h("button", { type: "button", class: "call-start", onclick: () => start(true) }, t("call.videoCall"));
  const el = h("div", { class: "call-buttons" }, voice, video);
  const refresh = (chat: ChatRecord | undefined): void => {
    const busy = messenger.calls.current !== null && messenger.calls.current.phase !== "ended";
    const usable = chat !== undefined && chat.kind === "direct" && chat.joined && !chat.removed;
    el.hidden = chat === undefined || chat.kind !== "direct";
    voice.disabled = !usable || busy;
    video.disabled = !usable || busy;
  };
  messenger.calls.addEventListener("change", () => refresh(chatId === null ? undefined : messenger.store.chats.get(chatId)));
  return {
    el,
    update(chat: ChatRecord): void {
      chatId = chat.id;
      refresh(chat);
    },
  };
}

/** The prompt and panel, over the app; one call at a time. */
export function callOverlay(messenger: Messenger): HTMLElement {
  const calls = messenger.calls;
  const who = h("h2", { class: "call-who" });
  const state = h("p", { class: "call-state", role: "status", "aria-live": "polite" });
  const remote = h("video", { class: "call-remote", autoplay: true, playsinline: true, "aria-label": t("call.remoteVideo") });
  const local = h("video", { class: "call-local", autoplay: true, playsinline: true, "aria-label": t("call.yourCamera") });
  local.muted = true;
  const secure = h("p", { class: "call-secure" });
  const accept = h("button", { type: "button", class: "primary call-accept", onclick: () => void calls.accept() }, t("call.accept"));
  const decline = h("button", { type: "button", class: "danger call-decline", onclick: () => void calls.decline() }, t("call.decline"));
  const mute = h("button", { type: "button", "aria-pressed": "false", onclick: () => calls.setMuted(!(calls.current?.muted ?? false)) }, t("call.mute"));
  const hangUp = h("button", { type: "button", class: "danger call-hangup", onclick: () => void calls.hangUp() }, t("call.hangUp"));
  const close = h("button", { type: "button", onclick: () => calls.dismiss() }, t("call.close"));
  const failed = (what: string) => (err: unknown) => {
    if (!(err instanceof DOMException && err.name === "NotAllowedError")) state.textContent = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  };
  const share = h("button", { type: "button", "aria-pressed": "false", onclick: () => void calls.shareScreen(!(calls.current?.sharing ?? false)).catch(failed(t("call.screenNotShared"))) }, t("call.shareScreen"));
  const camera = h("button", { type: "button", onclick: () => void calls.switchCamera().catch(failed(t("call.cameraNotSwitched"))) }, t("call.switchCamera"));
  // Switching needs a second camera: counted once per call (the browser lists them after the first was allowed).
  const cameras = { callId: "", count: 0 };
  const countCameras = (callId: string): void => {
    if (cameras.callId === callId) return;
    Object.assign(cameras, { callId, count: 0 });
    void videoInputs().then((inputs) => {
      if (cameras.callId !== callId) return;
      cameras.count = inputs.length;
      render();
    });
  };
  const media = h("div", { class: "call-media" }, remote, local);
  const actions = h("div", { class: "call-actions" }, accept, decline, mute, share, camera, hangUp, close);
  const panel = h("section", { class: "call-panel", role: "dialog", "aria-label": t("call.dialog") }, who, state, media, secure, actions);
  panel.hidden = true;

  const render = (): void => {
    const call = calls.current;
    panel.hidden = call === null;
    if (call === null) return;
    const name = messenger.nameOf(call.peer);
    who.textContent =
      call.phase === "incoming"
        ? t(call.video ? "call.isCallingVideo" : "call.isCalling", { name })
        : t(call.video ? "call.videoCallWith" : "call.callWith", { name });
    state.textContent = stateLine(call);
    panel.dataset["phase"] = call.phase;
    const live = call.phase !== "incoming" && call.phase !== "ended";
    accept.hidden = call.phase !== "incoming";
    decline.hidden = call.phase !== "incoming";
    mute.hidden = !live;
    const sending = call.phase === "connected" && call.video;
    share.hidden = !sending || !canShareScreen();
    share.textContent = call.sharing ? t("call.stopSharing") : t("call.shareScreen");
    share.setAttribute("aria-pressed", String(call.sharing));
    if (sending) countCameras(call.callId);
    camera.hidden = !sending || call.sharing || cameras.count < 2;
    hangUp.hidden = !live;
    close.hidden = call.phase !== "ended";
    mute.textContent = call.muted ? t("call.unmute") : t("call.mute");
    mute.setAttribute("aria-pressed", String(call.muted));
    media.hidden = !live;
    remote.hidden = !call.video;
    local.hidden = !call.video;
    if (remote.srcObject !== call.remoteStream) remote.srcObject = call.remoteStream;
    if (local.srcObject !== call.localStream) local.srcObject = call.localStream;
    if (!live) {
      remote.srcObject = null;
      local.srcObject = null;
    }
    renderStats();
  };
  const renderStats = (): void => {
    const call = calls.current;
    if (call === null) return;
    const s = call.stats;
    // For people: that the media is end-to-end encrypted, and that it flows.
    secure.textContent =
      call.phase === "connected"
        ? `${t("call.e2eStats", { sent: s.encrypted, received: s.decrypted })}${s.failed > 0 ? t("call.dropped", { count: s.failed }) : ""}`
        : t("call.e2e");
    panel.dataset["framesEncrypted"] = String(s.encrypted);
    panel.dataset["framesDecrypted"] = String(s.decrypted);
    panel.dataset["framesFailed"] = String(s.failed);
    panel.dataset["bytesReceivedAudio"] = String(s.bytesReceivedAudio);
    panel.dataset["bytesReceivedVideo"] = String(s.bytesReceivedVideo);
    panel.dataset["framesDecoded"] = String(s.framesDecoded);
    panel.dataset["transform"] = s.transform;
  };
  calls.addEventListener("change", render);
  calls.addEventListener("stats", renderStats);
  return panel;
}
