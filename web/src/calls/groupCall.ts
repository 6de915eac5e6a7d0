// Group calls (3+ people in a group chat) through the instance's Janus SFU.
//
// The server hands a single-use ticket (POST /v1/chats/{chat}/group-call) for the chat's
// room; the proxy socket on our origin turns it into a Janus session (./janus.ts). We
// publish our camera and microphone to the room and subscribe to every other publisher,
// one peer connection each. Every frame is encrypted end to end with the sender's own key
// from the chat's MLS exporter (./groupKeys.ts) in an RTCRtpScriptTransform worker
// (./groupFrameWorker.ts), so Janus forwards what it cannot read (the room has
// require_e2ee). Janus knows each publisher only by its MLS leaf index (its "display").
// The keys follow the chat's epoch: checked every second, and on a change everyone's keys
// change (the worker keeps the previous ones for a short overlap).
import { GROUP_CALL_EXPORTER_LABEL, epochKeys } from "./groupKeys";
import { JanusConnection, type Jsep, type JanusMessage } from "./janus";
import { iceServers, type TurnGrant } from "./iceServers";
import { openSignal, sealSignal, signalEpoch, type CallSignal, type SignalKeys } from "./signaling";

export interface GroupSummaryLite {
  epoch: number;
  members: string[];
  leaves: number[];
}

export interface GroupCallDeps {
  credential: string;
  ticket(chatId: string): Promise<{ room: number; ticket: string; path: string }>;
  group(chatId: string): Promise<GroupSummaryLite>;
  exportSecret(chatId: string, label: string): Promise<Uint8Array>;
  chatKeys(chatId: string, epoch?: number): Promise<SignalKeys>;
  /** A sealed signal to the chat's members (the socket's `call` frame, as 1:1 calls use). */
  sendSignal(chatId: string, payload: string): void;
  /** The instance's TURN server (./iceServers.ts): the way to Janus for people whose network blocks direct UDP. */
  turn(): Promise<TurnGrant>;
}

/** Someone else's group call in one of our chats, that we may join. */
export interface GroupInvite {
  chatId: string;
  /** user@domain of who joined it */
  from: string;
}

const INVITE_SHOWN_MS = 45_000;

export interface GroupTile {
  feed: number;
  leaf: number;
  /** The sender's MLS credential (user@domain:device), "" when not in our view of the group. */
  credential: string;
  stream: MediaStream;
  framesDecoded: number;
  decrypted: number;
  failed: number;
}

export interface GroupCallView {
  chatId: string;
  phase: "joining" | "live" | "ended";
  /** The call got as far as media (false: it ended while joining). */
  joined: boolean;
  reason: string;
  muted: boolean;
  cameraOff: boolean;
  localStream: MediaStream | null;
  tiles: GroupTile[];
  encrypted: number;
  epoch: number;
}

interface Subscription {
  tile: GroupTile;
  handle: number;
  pc: RTCPeerConnection;
}

const EPOCH_CHECK_MS = 1000;
const VIDEO: MediaTrackConstraints = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } };

function userOfCredential(credential: string): string {
  const i = credential.lastIndexOf(":");
  return i < 0 ? credential : credential.slice(0, i);
}

function wsUrl(path: string): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
}

export class GroupCallManager extends EventTarget {
  private call: (GroupCallView & { room: number; leaf: number }) | null = null;
  private conn: JanusConnection | null = null;
  private worker: Worker | null = null;
  private publisher: { handle: number; pc: RTCPeerConnection } | null = null;
  private iceServers: RTCIceServer[] = [];
  private subs = new Map<number, Subscription>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private members: GroupSummaryLite = { epoch: -1, members: [], leaves: [] };
  /** A call going on in one of our chats (from a sealed "group-join" signal), while we are not in it. */
  invite: GroupInvite | null = null;
  /** The last join / leave in our call: who (user@domain) and which. */
  notice: { user: string; joined: boolean } | null = null;
  private inviteTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly deps: GroupCallDeps) {
    super();
  }

  get current(): GroupCallView | null {
    return this.call;
  }

  private changed(): void {
    this.dispatchEvent(new Event("change"));
  }

  async join(chatId: string): Promise<void> {
    if (this.call !== null && this.call.phase !== "ended") throw new Error("A group call is already going on.");
    const call: GroupCallView & { room: number; leaf: number } = { chatId, phase: "joining", joined: false, reason: "", muted: false, cameraOff: false, localStream: null, tiles: [], encrypted: 0, epoch: -1, room: 0, leaf: -1 };
    this.call = call;
    this.changed();
    try {
      const grant = await this.deps.ticket(chatId);
      call.room = grant.room;
      this.iceServers = await iceServers(() => this.deps.turn());
      await this.rekey(chatId);
      if (call.leaf < 0) throw new Error("This device is not in the chat's group.");
      this.conn = await JanusConnection.open(wsUrl(grant.path), grant.ticket);
      this.conn.onEvent = (m) => void this.onEvent(m);
      this.conn.onClose = () => this.end("The group-call connection closed");
      const handle = await this.conn.attach();
      const joined = await this.conn.message(handle, { request: "join", ptype: "publisher", room: grant.room, display: String(call.leaf) });
      const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: VIDEO });
      call.localStream = local;
      await this.publish(handle, local);
      call.phase = "live";
      call.joined = true;
      if (this.invite?.chatId === chatId) this.invite = null;
      this.changed();
      void this.announce(chatId, "group-join");
      for (const p of this.publishersIn(joined)) void this.subscribe(p.id, p.display);
      this.timers.push(setInterval(() => void this.rekey(chatId).catch(() => undefined), EPOCH_CHECK_MS));
      this.timers.push(setInterval(() => void this.pollStats(), 1000));
    } catch (err) {
      this.end(err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  /** Our keys (and everyone's) for the chat's current epoch, to the worker. */
  private async rekey(chatId: string): Promise<void> {
    const call = this.call;
    if (call === null || call.phase === "ended") return;
    const group = await this.deps.group(chatId);
    if (group.epoch === call.epoch) return;
    const exporter = await this.deps.exportSecret(chatId, GROUP_CALL_EXPORTER_LABEL);
    const again = await this.deps.group(chatId);
    if (again.epoch !== group.epoch) return; // moved on meanwhile: the next check takes it
    const keys = await epochKeys(exporter, String(call.room), group.epoch, group.leaves);
    this.members = group;
    call.epoch = group.epoch;
    call.leaf = group.leaves[group.members.indexOf(this.deps.credential)] ?? -1;
    if (this.worker === null) {
      this.worker = new Worker(new URL("./groupFrameWorker.ts", import.meta.url), { type: "module", name: "talkee-group-frames" });
      this.worker.onmessage = (ev: MessageEvent<{ type: string; encrypted: number; bySender: Record<string, { decrypted: number; failed: number }> }>) => {
        if (ev.data.type !== "counts" || this.call === null) return;
        this.call.encrypted = ev.data.encrypted;
        for (const sub of this.subs.values()) {
          const c = ev.data.bySender[String(sub.tile.leaf)];
          if (c !== undefined) Object.assign(sub.tile, c);
        }
      };
    }
    this.worker.postMessage({ type: "keys", epoch: group.epoch, self: call.leaf, keys: [...keys.entries()] });
    for (const sub of this.subs.values()) sub.tile.credential = this.credentialOf(sub.tile.leaf);
    this.changed();
  }

  private credentialOf(leaf: number): string {
    const i = this.members.leaves.indexOf(leaf);
    return i < 0 ? "" : (this.members.members[i] ?? "");
  }

  private newPeer(handle: number): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.onicecandidate = (ev) => this.conn?.trickle(handle, ev.candidate === null ? null : ev.candidate.toJSON());
    return pc;
  }

  private async publish(handle: number, stream: MediaStream): Promise<void> {
    const pc = this.newPeer(handle);
    this.publisher = { handle, pc };
    for (const track of stream.getTracks()) {
      const sender = pc.addTrack(track, stream);
      sender.transform = new RTCRtpScriptTransform(this.worker!, { direction: "encrypt", kind: track.kind });
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const jsep: Jsep = { type: "offer", sdp: pc.localDescription?.sdp ?? offer.sdp ?? "", e2ee: true };
    const answer = await this.conn!.message(handle, { request: "configure", audio: true, video: true }, jsep);
    if (answer.jsep === undefined) throw new Error("Janus did not accept our media.");
    await pc.setRemoteDescription({ type: "answer", sdp: answer.jsep.sdp });
  }

  private publishersIn(m: JanusMessage): Array<{ id: number; display: string }> {
    const list = m.plugindata?.data["publishers"];
    if (!Array.isArray(list)) return [];
    return list.filter((p): p is { id: number; display: string } => typeof p === "object" && p !== null && typeof (p as { id?: unknown }).id === "number");
  }

  private async subscribe(feed: number, display: string): Promise<void> {
    const call = this.call;
    const conn = this.conn;
    if (call === null || conn === null || this.subs.has(feed)) return;
    const leaf = Number.parseInt(display, 10);
    if (!Number.isInteger(leaf) || leaf < 0 || leaf === call.leaf) return;
    const handle = await conn.attach();
    const pc = this.newPeer(handle);
    const tile: GroupTile = { feed, leaf, credential: this.credentialOf(leaf), stream: new MediaStream(), framesDecoded: 0, decrypted: 0, failed: 0 };
    this.subs.set(feed, { tile, handle, pc });
    pc.ontrack = (ev) => {
      ev.receiver.transform = new RTCRtpScriptTransform(this.worker!, { direction: "decrypt", kind: ev.track.kind, leaf });
      tile.stream.addTrack(ev.track);
      this.changed();
    };
    const offer = await conn.message(handle, { request: "join", ptype: "subscriber", room: call.room, streams: [{ feed }] });
    if (offer.jsep === undefined) throw new Error("Janus sent no offer for a subscription.");
    await pc.setRemoteDescription({ type: "offer", sdp: offer.jsep.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await conn.message(handle, { request: "start" }, { type: "answer", sdp: pc.localDescription?.sdp ?? answer.sdp ?? "", e2ee: true });
    call.tiles = [...this.subs.values()].map((s) => s.tile);
    this.changed();
  }

  private unsubscribe(feed: number): void {
    const sub = this.subs.get(feed);
    if (sub === undefined || this.call === null) return;
    sub.pc.close();
    this.conn?.detach(sub.handle);
    this.subs.delete(feed);
    this.call.tiles = [...this.subs.values()].map((s) => s.tile);
    this.changed();
  }

  private async onEvent(m: JanusMessage): Promise<void> {
    const data = m.plugindata?.data;
    if (data === undefined) return;
    for (const p of this.publishersIn(m)) await this.subscribe(p.id, p.display);
    for (const key of ["leaving", "unpublished"]) {
      const feed = data[key];
      if (typeof feed === "number") this.unsubscribe(feed);
    }
  }

  private async pollStats(): Promise<void> {
    for (const sub of this.subs.values()) {
      const report = await sub.pc.getStats();
      report.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
        if (s.type === "inbound-rtp" && s.kind === "video") sub.tile.framesDecoded = s.framesDecoded ?? 0;
      });
    }
    this.dispatchEvent(new Event("stats"));
  }

  setMuted(muted: boolean): void {
    if (this.call === null) return;
    this.call.muted = muted;
    for (const t of this.call.localStream?.getAudioTracks() ?? []) t.enabled = !muted;
    this.changed();
  }

  setCameraOff(off: boolean): void {
    if (this.call === null) return;
    this.call.cameraOff = off;
    for (const t of this.call.localStream?.getVideoTracks() ?? []) t.enabled = !off;
    this.changed();
  }

  hangUp(): void {
    const call = this.call;
    if (call !== null && call.phase !== "ended") void this.announce(call.chatId, "group-leave");
    this.end("You left the call");
  }

  /** Tells the chat's members (sealed, like 1:1 call signals) that we joined or left. */
  private async announce(chatId: string, kind: "group-join" | "group-leave"): Promise<void> {
    const signal: CallSignal = { v: 1, kind, callId: String(this.call?.room ?? 0), from: this.deps.credential, ts: Date.now() };
    const keys = await this.deps.chatKeys(chatId);
    this.deps.sendSignal(chatId, await sealSignal(keys, chatId, signal));
  }

  /** A sealed signal of a group chat (from the socket, through CallManager). */
  async onSignal(chatId: string, payload: string): Promise<void> {
    let signal: CallSignal;
    try {
      signal = await openSignal(await this.deps.chatKeys(chatId, signalEpoch(payload)), chatId, payload);
    } catch {
      return; // another epoch we no longer hold, altered, stale: dropped
    }
    if (signal.from === this.deps.credential || (signal.kind !== "group-join" && signal.kind !== "group-leave")) return;
    const who = userOfCredential(signal.from);
    const call = this.call;
    if (call !== null && call.phase !== "ended" && call.chatId === chatId) {
      this.notice = { user: who, joined: signal.kind === "group-join" };
      this.changed();
      return;
    }
    if (signal.kind === "group-join") {
      this.invite = { chatId, from: who };
      if (this.inviteTimer !== null) clearTimeout(this.inviteTimer);
      this.inviteTimer = setTimeout(() => this.dismissInvite(), INVITE_SHOWN_MS);
      this.changed();
    }
  }

  dismissInvite(): void {
    if (this.invite === null) return;
    this.invite = null;
    this.changed();
  }

  dismiss(): void {
    if (this.call?.phase === "ended") {
      this.call = null;
      this.changed();
    }
  }

  private end(reason: string): void {
    const call = this.call;
    if (call === null || call.phase === "ended") return;
    call.phase = "ended";
    call.reason = reason;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const sub of this.subs.values()) sub.pc.close();
    this.subs.clear();
    call.tiles = [];
    this.publisher?.pc.close();
    this.publisher = null;
    for (const t of call.localStream?.getTracks() ?? []) t.stop();
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) {
      conn.onClose = () => undefined;
      conn.close();
    }
    this.worker?.terminate();
    this.worker = null;
    this.changed();
  }
}
