// One-to-one calls in a direct chat: WebRTC peer to peer, signalling sealed with the
// chat's MLS signalling key (./signaling.ts) and relayed by the server as opaque
// `call {chat_id, payload}` socket frames, media frames encrypted end to end with the
// chat's MLS media key (./frameCrypto.ts, in an RTCRtpScriptTransform worker).
// Nothing about a call is stored, on the server or here.
import type { ChatKeys } from "../mls/api";
import { openSignal, sealSignal, signalEpoch, type CallSignal } from "./signaling";
import { FrameSealer, frameTransform, importFrameKey, type FrameCounts, type MediaKind } from "./frameCrypto";
import type { CallPhase, CallStats, CallView } from "./callView";
import { iceServers, type TurnGrant } from "./iceServers";
import { cameraTrack, currentCamera, replaceVideo, screenTrack } from "./videoSource";

export type { CallPhase, CallStats, CallView } from "./callView";

export interface CallDeps {
  /** Our MLS credential, user@domain:client_device_id. */
  credential: string;
  chatKeys(chatId: string, epoch?: number): Promise<ChatKeys>;
  /** Members of a direct chat, or null when the chat is not a direct chat we are in. */
  directPeer(chatId: string): string | null;
  sendSignal(chatId: string, payload: string): void;
  turn(): Promise<TurnGrant>;
}

const RING_TIMEOUT_MS = 45_000;
const OFFER_REPEAT_MS = 4000;
const ENDED_SHOWN_MS = 6_000;
const DISCONNECTED_GRACE_MS = 8_000;
// From Accept (or the answer, for the caller) to media flowing. ICE that found no way between
// the two (no relay available, every candidate blocked) never reports "failed" by itself.
const CONNECT_TIMEOUT_MS = 30_000;

function userOf(credential: string): string {
  const i = credential.lastIndexOf(":");
  return i < 0 ? credential : credential.slice(0, i);
}

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

interface ActiveCall extends CallView {
  /** The peer's device once it answered (or the caller's, on the callee's side). */
  peerDevice: string | null;
  epoch: number;
  mediaKey: Uint8Array;
  pc: RTCPeerConnection | null;
  offerSdp: string | null;
  pendingIce: RTCIceCandidateInit[];
  worker: Worker | null;
  counts: FrameCounts;
  timers: ReturnType<typeof setTimeout>[];
}

function emptyStats(): CallStats {
  return { bytesReceivedAudio: 0, bytesReceivedVideo: 0, framesDecoded: 0, encrypted: 0, decrypted: 0, failed: 0, transform: "script" };
}

interface EncodedStreams {
  readable: ReadableStream;
  writable: WritableStream;
}

function hasScriptTransform(): boolean {
  return typeof (globalThis as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform === "function";
}

export class CallManager extends EventTarget {
  private call: ActiveCall | null = null;
  /** Signals go out, and are handled, one at a time and in order (an answer before its ICE). */
  private outgoing: Promise<void> = Promise.resolve();
  private incoming: Promise<void> = Promise.resolve();
  private protectedReceivers = new WeakSet<RTCRtpReceiver>();
  /** Signals of chats that are not direct chats (group calls), for ui/groupCall.ts. */
  onGroupSignal?: (chatId: string, payload: string) => Promise<void> | void;

  constructor(private readonly deps: CallDeps) {
    super();
  }

  get current(): CallView | null {
    return this.call;
  }

  private get me(): string {
    return this.deps.credential;
  }

  private changed(): void {
    this.dispatchEvent(new Event("change"));
  }

  private send(call: ActiveCall, signal: Omit<CallSignal, "v" | "from" | "ts" | "callId">): Promise<void> {
    const full: CallSignal = { v: 1, from: this.me, ts: Date.now(), callId: call.callId, ...signal };
    if (full.to === undefined) delete full.to;
    const next = this.outgoing.then(async () => {
      const keys = await this.deps.chatKeys(call.chatId);
      this.deps.sendSignal(call.chatId, await sealSignal(keys, call.chatId, full));
    });
    this.outgoing = next.catch(() => undefined);
    return next;
  }

  // ---- starting, answering, ending --------------------------------------------------

  async start(chatId: string, video: boolean): Promise<void> {
    if (this.call !== null && this.call.phase !== "ended") throw new Error("A call is already going on.");
    const peer = this.deps.directPeer(chatId);
    if (peer === null) throw new Error("Calls are only possible in direct chats.");
    const keys = await this.deps.chatKeys(chatId);
    const call = this.newCall(chatId, randomId(), peer, video, true, keys);
    call.phase = "outgoing";
    this.call = call;
    this.changed();
    try {
      call.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
      const pc = await this.makePeer(call, 0);
      for (const track of call.localStream.getTracks()) this.protectSender(call, pc.addTrack(track, call.localStream), track.kind as MediaKind);
      // The receivers exist already: their transform is set before negotiation (Chromium
      // does not route frames through a receiver transform set later, on the offering side).
      for (const t of pc.getTransceivers()) this.protectReceiver(call, t.receiver, t.receiver.track.kind as MediaKind);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (this.call !== call) return;
      const sdp = pc.localDescription?.sdp ?? offer.sdp ?? "";
      await this.send(call, { kind: "offer", sdp, video });
      // Signals are not stored: a callee whose app was closed hears of the call by a push
      // and connects later, so the offer is repeated while it rings (a device that has it ignores repeats).
      const repeat = (): void => {
        call.timers.push(
          setTimeout(() => {
            if (this.call !== call || (call.phase !== "outgoing" && call.phase !== "ringing")) return;
            void this.send(call, { kind: "offer", sdp, video }).catch(() => undefined);
            repeat();
          }, OFFER_REPEAT_MS),
        );
      };
      repeat();
      call.timers.push(
        setTimeout(() => {
          if (this.call === call && (call.phase === "outgoing" || call.phase === "ringing")) void this.hangUp("No answer");
        }, RING_TIMEOUT_MS),
      );
      this.changed();
    } catch (err) {
      this.finish(call, err instanceof DOMException ? `Could not use the microphone or camera (${err.name}).` : String(err));
      throw err;
    }
  }

  async accept(): Promise<void> {
    const call = this.call;
    if (call === null || call.phase !== "incoming" || call.offerSdp === null) return;
    this.connecting(call);
    try {
      call.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: call.video });
      const pc = await this.makePeer(call, 1);
      await pc.setRemoteDescription({ type: "offer", sdp: call.offerSdp });
      for (const track of call.localStream.getTracks()) this.protectSender(call, pc.addTrack(track, call.localStream), track.kind as MediaKind);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await this.send(call, { kind: "answer", to: call.peerDevice ?? undefined, sdp: pc.localDescription?.sdp ?? answer.sdp ?? "" });
      await this.flushIce(call);
    } catch (err) {
      this.finish(call, err instanceof DOMException ? `Could not use the microphone or camera (${err.name}).` : String(err));
      void this.send(call, { kind: "hangup", to: call.peerDevice ?? undefined });
    }
  }

  async decline(): Promise<void> {
    const call = this.call;
    if (call === null || call.phase !== "incoming") return;
    this.finish(call, "Declined");
    await this.send(call, { kind: "decline", to: call.peerDevice ?? undefined });
  }

  async hangUp(reason = "Call ended"): Promise<void> {
    const call = this.call;
    if (call === null || call.phase === "ended") return;
    if (call.phase === "incoming") return this.decline();
    this.finish(call, reason);
    await this.send(call, { kind: "hangup", to: call.peerDevice ?? undefined });
  }

  /** The server refused our signal: the other person blocked us. An outgoing call ends, saying so. */
  refused(chatId: string): void {
    if (this.call?.chatId === chatId && this.call.outgoing) this.finish(this.call, "Not accepted: this person does not take calls from you");
  }

  /** A video call sends the screen instead of the camera (back to the camera when it ends), or the camera again. */
  async shareScreen(on: boolean): Promise<void> {
    const call = this.call;
    if (call?.phase !== "connected" || call.sharing === on) return;
    const track = on ? await screenTrack() : await cameraTrack();
    await replaceVideo(call, track);
    call.sharing = on;
    if (on) track.addEventListener("ended", () => void (this.call === call && call.sharing && this.shareScreen(false)));
    this.changed();
  }

  /** A video call sends the device's next camera. */
  async switchCamera(): Promise<void> {
    const call = this.call;
    if (call?.phase !== "connected" || call.sharing) return;
    await replaceVideo(call, await cameraTrack(currentCamera(call)));
    this.changed();
  }

  setMuted(muted: boolean): void {
    const call = this.call;
    if (call === null) return;
    call.muted = muted;
    for (const track of call.localStream?.getAudioTracks() ?? []) track.enabled = !muted;
    this.changed();
  }

  /** The panel of an ended call goes away (also by itself after a few seconds). */
  dismiss(): void {
    if (this.call?.phase === "ended") {
      this.call = null;
      this.changed();
    }
  }

  stop(): void {
    if (this.call !== null && this.call.phase !== "ended") void this.hangUp();
  }

  private newCall(chatId: string, callId: string, peer: string, video: boolean, outgoing: boolean, keys: ChatKeys): ActiveCall {
    return {
      chatId,
      callId,
      peer,
      video,
      outgoing,
      phase: "outgoing",
      reason: "",
      muted: false,
      sharing: false,
      remoteStream: null,
      localStream: null,
      stats: emptyStats(),
      peerDevice: null,
      epoch: keys.epoch,
      mediaKey: keys.mediaFrameKey,
      pc: null,
      offerSdp: null,
      pendingIce: [],
      worker: null,
      counts: { encrypted: 0, decrypted: 0, failed: 0 },
      timers: [],
    };
  }

  private finish(call: ActiveCall, reason: string): void {
    if (call.phase === "ended") return;
    call.phase = "ended";
    call.reason = reason;
    for (const t of call.timers) clearTimeout(t);
    call.timers = [];
    call.pc?.close();
    for (const track of call.localStream?.getTracks() ?? []) track.stop();
    call.worker?.terminate();
    call.worker = null;
    call.timers.push(setTimeout(() => this.call === call && this.dismiss(), ENDED_SHOWN_MS));
    this.changed();
  }

  /** Accepted (or answered): connecting, for at most CONNECT_TIMEOUT_MS. */
  private connecting(call: ActiveCall): void {
    call.phase = "connecting";
    call.timers.push(
      setTimeout(() => {
        if (this.call !== call || call.phase !== "connecting") return;
        this.finish(call, "Could not connect");
        void this.send(call, { kind: "hangup", to: call.peerDevice ?? undefined, failed: true }).catch(() => undefined);
      }, CONNECT_TIMEOUT_MS),
    );
    this.changed();
  }

  // ---- the peer connection ----------------------------------------------------------

  private async makePeer(call: ActiveCall, role: 0 | 1): Promise<RTCPeerConnection> {
    const useScript = hasScriptTransform();
    const config: RTCConfiguration & { encodedInsertableStreams?: boolean } = { iceServers: await iceServers(() => this.deps.turn()) };
    if (!useScript) config.encodedInsertableStreams = true;
    const pc = new RTCPeerConnection(config);
    call.pc = pc;
    call.stats.transform = useScript ? "script" : "encoded-streams";
    if (useScript) {
      const worker = new Worker(new URL("./frameWorker.ts", import.meta.url), { type: "module", name: "talkee-frames" });
      worker.postMessage({ type: "key", key: call.mediaKey, role });
      worker.onmessage = (ev: MessageEvent<{ type: string } & FrameCounts>) => {
        if (ev.data.type === "counts") call.counts = { encrypted: ev.data.encrypted, decrypted: ev.data.decrypted, failed: ev.data.failed };
      };
      call.worker = worker;
    } else {
      const key = await importFrameKey(call.mediaKey);
      (call as ActiveCall & { pageKey?: { key: CryptoKey; sealer: FrameSealer } }).pageKey = { key, sealer: new FrameSealer(key, role) };
    }
    pc.onicecandidate = (ev) => {
      if (this.call !== call || call.phase === "ended") return;
      void this.send(call, { kind: "ice", to: call.peerDevice ?? undefined, candidate: ev.candidate === null ? null : ev.candidate.toJSON() });
    };
    pc.ontrack = (ev) => {
      this.protectReceiver(call, ev.receiver, ev.track.kind as MediaKind);
      if (call.remoteStream === null) call.remoteStream = ev.streams[0] ?? new MediaStream();
      if (!call.remoteStream.getTracks().includes(ev.track)) call.remoteStream.addTrack(ev.track);
      this.changed();
    };
    pc.onconnectionstatechange = () => {
      if (this.call !== call || call.phase === "ended") return;
      if (pc.connectionState === "connected") {
        call.phase = "connected";
        this.changed();
      } else if (pc.connectionState === "failed") {
        this.finish(call, "The connection failed");
        void this.send(call, { kind: "hangup", to: call.peerDevice ?? undefined });
      } else if (pc.connectionState === "disconnected") {
        // The other side went away without a hangup (tab closed, network gone): give it a
        // few seconds to come back before ending the call here.
        call.timers.push(
          setTimeout(() => {
            if (this.call === call && call.phase !== "ended" && pc.connectionState === "disconnected") {
              this.finish(call, "The connection was lost");
            }
          }, DISCONNECTED_GRACE_MS),
        );
      }
    };
    call.timers.push(setInterval(() => void this.pollStats(call), 1000));
    return pc;
  }

  private protectSender(call: ActiveCall, sender: RTCRtpSender, kind: MediaKind): void {
    if (call.worker !== null) {
      sender.transform = new RTCRtpScriptTransform(call.worker, { direction: "encrypt", kind });
      return;
    }
    const page = (call as ActiveCall & { pageKey?: { key: CryptoKey; sealer: FrameSealer } }).pageKey!;
    const streams = (sender as RTCRtpSender & { createEncodedStreams(): EncodedStreams }).createEncodedStreams();
    void streams.readable.pipeThrough(frameTransform("encrypt", kind, page.key, page.sealer, call.counts)).pipeTo(streams.writable);
  }

  private protectReceiver(call: ActiveCall, receiver: RTCRtpReceiver, kind: MediaKind): void {
    if (this.protectedReceivers.has(receiver)) return;
    this.protectedReceivers.add(receiver);
    if (call.worker !== null) {
      receiver.transform = new RTCRtpScriptTransform(call.worker, { direction: "decrypt", kind });
      return;
    }
    const page = (call as ActiveCall & { pageKey?: { key: CryptoKey; sealer: FrameSealer } }).pageKey!;
    const streams = (receiver as RTCRtpReceiver & { createEncodedStreams(): EncodedStreams }).createEncodedStreams();
    void streams.readable.pipeThrough(frameTransform("decrypt", kind, page.key, null, call.counts)).pipeTo(streams.writable);
  }

  private async pollStats(call: ActiveCall): Promise<void> {
    if (call.pc === null || call.phase === "ended") return;
    const report = await call.pc.getStats();
    let audio = 0;
    let video = 0;
    let decoded = 0;
    report.forEach((s: { type: string; kind?: string; bytesReceived?: number; framesDecoded?: number }) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "audio") audio += s.bytesReceived ?? 0;
      if (s.kind === "video") {
        video += s.bytesReceived ?? 0;
        decoded += s.framesDecoded ?? 0;
      }
    });
    call.stats = { ...call.stats, bytesReceivedAudio: audio, bytesReceivedVideo: video, framesDecoded: decoded, ...call.counts };
    this.dispatchEvent(new Event("stats"));
  }

  private async flushIce(call: ActiveCall): Promise<void> {
    const pc = call.pc;
    if (pc === null || pc.remoteDescription === null) return;
    const queued = call.pendingIce;
    call.pendingIce = [];
    for (const candidate of queued) {
      try {
        await pc.addIceCandidate(candidate);
      } catch {
        // A candidate the browser cannot use: ignore it (others may work).
      }
    }
  }

  // ---- signals from the socket ------------------------------------------------------

  onSignal(chatId: string, payload: string): Promise<void> {
    const next = this.incoming.then(() => this.handle(chatId, payload));
    this.incoming = next.catch((err: unknown) => console.warn("talkee: call signal", err));
    return this.incoming;
  }

  private async handle(chatId: string, payload: string): Promise<void> {
    const peerUser = this.deps.directPeer(chatId);
    if (peerUser === null) return this.onGroupSignal?.(chatId, payload); // group calls: calls/groupCall.ts
    let signal: CallSignal;
    try {
      const keys = await this.deps.chatKeys(chatId, signalEpoch(payload));
      signal = await openSignal(keys, chatId, payload);
    } catch {
      return; // another epoch we no longer hold, altered, stale: dropped
    }
    if (signal.from === this.me) return; // our own, echoed by the chat's fan-out
    const fromUser = userOf(signal.from);
    const mine = userOf(this.me);
    if (fromUser !== peerUser && fromUser !== mine) return; // only the chat's two people
    const call = this.call;

    if (fromUser === mine) {
      // Another device of ours answered or declined: stop ringing here.
      if (call !== null && call.phase === "incoming" && call.callId === signal.callId && (signal.kind === "answer" || signal.kind === "decline")) {
        this.finish(call, signal.kind === "answer" ? "Answered on another device" : "Declined on another device");
      }
      return;
    }
    if (signal.to !== undefined && signal.to !== this.me) {
      // Meant for another device of ours; a hangup to it still ends our ringing.
      if (call !== null && call.callId === signal.callId && call.phase === "incoming" && signal.kind === "hangup") this.finish(call, "Missed call");
      return;
    }

    if (signal.kind === "offer") {
      if (call !== null && call.callId === signal.callId) return; // a repeat of an offer we had (or ended)
      if (call !== null && call.phase !== "ended") {
        if (call.callId !== signal.callId) {
          const busy = this.newCall(chatId, signal.callId, peerUser, false, false, await this.deps.chatKeys(chatId));
          busy.peerDevice = signal.from;
          await this.send(busy, { kind: "decline", to: signal.from });
        }
        return;
      }
      const keys = await this.deps.chatKeys(chatId, signalEpoch(payload));
      const incoming = this.newCall(chatId, signal.callId, peerUser, signal.video === true, false, keys);
      incoming.phase = "incoming";
      incoming.peerDevice = signal.from;
      incoming.offerSdp = signal.sdp ?? null;
      this.call = incoming;
      incoming.timers.push(
        setTimeout(() => {
          if (this.call === incoming && incoming.phase === "incoming") this.finish(incoming, "Missed call");
        }, RING_TIMEOUT_MS + 5000),
      );
      this.changed();
      await this.send(incoming, { kind: "ringing", to: signal.from });
      return;
    }
    if (call === null || call.callId !== signal.callId || call.phase === "ended") return;
    if (call.peerDevice !== null && call.peerDevice !== signal.from) return; // another of their devices, after one answered

    switch (signal.kind) {
      case "ringing":
        if (call.phase === "outgoing") {
          call.phase = "ringing";
          this.changed();
        }
        return;
      case "answer":
        if (!call.outgoing || call.pc === null || call.peerDevice !== null || signal.sdp === undefined) return;
        call.peerDevice = signal.from;
        this.connecting(call);
        await call.pc.setRemoteDescription({ type: "answer", sdp: signal.sdp });
        await this.flushIce(call);
        return;
      case "ice":
        if (signal.candidate === null || signal.candidate === undefined) return;
        if (call.outgoing && call.peerDevice === null) return; // not answered yet: no device chosen
        call.pendingIce.push(signal.candidate);
        await this.flushIce(call);
        return;
      case "decline":
        if (call.outgoing && call.peerDevice === null) {
          // One of their devices declined; with several, the others may still answer.
          this.finish(call, "Declined");
        }
        return;
      case "hangup":
        if (call.phase === "connecting" && signal.failed === true) this.finish(call, "Could not connect");
        else this.finish(call, call.phase === "incoming" ? "Missed call" : "Call ended");
        return;
    }
  }
}
