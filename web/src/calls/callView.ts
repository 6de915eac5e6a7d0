// What the call screen shows of a one-to-one call (./call.ts keeps the rest).

export type CallPhase = "outgoing" | "ringing" | "incoming" | "connecting" | "connected" | "ended";

export interface CallStats {
  bytesReceivedAudio: number;
  bytesReceivedVideo: number;
  framesDecoded: number;
  encrypted: number;
  decrypted: number;
  failed: number;
  /** How the frames are transformed: RTCRtpScriptTransform or createEncodedStreams. */
  transform: "script" | "encoded-streams";
}

export interface CallView {
  chatId: string;
  callId: string;
  /** The other person (user@domain). */
  peer: string;
  video: boolean;
  outgoing: boolean;
  phase: CallPhase;
  /** Why it ended, in words. */
  reason: string;
  muted: boolean;
  /** The screen is sent instead of the camera (./videoSource.ts). */
  sharing: boolean;
  remoteStream: MediaStream | null;
  localStream: MediaStream | null;
  stats: CallStats;
}
