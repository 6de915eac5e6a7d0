// What a video call sends as its picture: one of the device's cameras, or the screen. The
// picture changes by replacing the track on the call's video sender — no renegotiation, and
// the frame encryption stays on (it belongs to the sender, not to the track: ./frameCrypto.ts).

/** The part of a call this needs. */
export interface VideoCall {
  pc: RTCPeerConnection | null;
  localStream: MediaStream | null;
  /** The screen is being sent instead of a camera. */
  sharing: boolean;
}

/** The device's cameras, in the browser's order. */
export async function videoInputs(): Promise<MediaDeviceInfo[]> {
  return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
}

/** Whether this browser can send its screen (phones' browsers cannot). */
export function canShareScreen(): boolean {
  return typeof navigator.mediaDevices?.getDisplayMedia === "function";
}

/** Puts `track` on the call's video sender and in the local preview; the old picture's track stops. */
export async function replaceVideo(call: VideoCall, track: MediaStreamTrack): Promise<void> {
  const sender = call.pc?.getSenders().find((s) => s.track?.kind === "video");
  if (sender === undefined || call.localStream === null) {
    track.stop();
    throw new Error("This call sends no video.");
  }
  await sender.replaceTrack(track);
  for (const old of call.localStream.getVideoTracks()) {
    call.localStream.removeTrack(old);
    old.stop();
  }
  call.localStream.addTrack(track);
}

/** The screen (or a window or tab: the browser asks which), as a video track. */
export async function screenTrack(): Promise<MediaStreamTrack> {
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  const track = stream.getVideoTracks()[0];
  if (track === undefined) throw new Error("Nothing to share was chosen.");
  return track;
}

/** A camera's track: the one after `current` in the device's list (round), or the first. */
export async function cameraTrack(current?: string): Promise<MediaStreamTrack> {
  const inputs = await videoInputs();
  const at = inputs.findIndex((d) => d.deviceId === current);
  const next = inputs[(at + 1) % Math.max(inputs.length, 1)];
  const stream = await navigator.mediaDevices.getUserMedia({ video: next === undefined ? true : { deviceId: { exact: next.deviceId } } });
  const track = stream.getVideoTracks()[0];
  if (track === undefined) throw new Error("No camera.");
  return track;
}

/** The camera the call sends now (undefined: the screen, or none). */
export function currentCamera(call: VideoCall): string | undefined {
  if (call.sharing) return undefined;
  return call.localStream?.getVideoTracks()[0]?.getSettings().deviceId;
}
