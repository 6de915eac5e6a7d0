// Voice messages: what travels with the recording (inside the encrypted payload's file
// reference, never in a server column) and the pure helpers around it — the waveform's
// peaks, how a duration reads, which recording format this browser has, and reading a
// received note defensively (it comes from another client).
//
// The recording itself is an ordinary encrypted file (./uploads.ts); ../ui/conversation/voice.ts
// records (MediaRecorder + an AnalyserNode for the live levels) and plays it.
import type { FileReference } from "../crypto/payload";

/** Peaks kept per note: enough for a bar per ~4 px at the player's width. */
export const WAVEFORM_PEAKS = 56;
/** Longest recording: a voice note, not a podcast (and a file far below the upload limit). */
export const MAX_VOICE_MS = 10 * 60 * 1000;
/** Shorter than this is taken for a slip of the finger and not sent. */
export const MIN_VOICE_MS = 500;

/** The voice part of a file reference: duration and waveform (0…1 per peak). */
export type VoiceNote = NonNullable<FileReference["voice"]>;

/** Opus in WebM, else in Ogg (Firefox), else whatever the browser records audio in. */
export const VOICE_TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/ogg", "audio/mp4"];

export function pickVoiceType(isSupported: (type: string) => boolean): string | null {
  return VOICE_TYPES.find((t) => isSupported(t)) ?? null;
}

/** The file name a note gets (only inside the encrypted payload): by its container. */
export function voiceFileName(mime: string): string {
  const ext = mime.startsWith("audio/ogg") ? "ogg" : mime.startsWith("audio/mp4") ? "m4a" : "webm";
  return `voice-message.${ext}`;
}

/**
 * `count` peaks of a series (the recorder's levels, or decoded samples): each is the
 * largest absolute value in its share of the series, scaled so the loudest is 1 (a quiet
 * note still shows its shape). Fewer values than `count` are spread out, not padded.
 */
export function peaks(values: ArrayLike<number>, count: number = WAVEFORM_PEAKS): number[] {
  const n = values.length;
  if (n === 0 || count <= 0) return [];
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = Math.floor((i * n) / count);
    const end = Math.max(start + 1, Math.floor(((i + 1) * n) / count));
    let peak = 0;
    for (let j = start; j < end && j < n; j++) peak = Math.max(peak, Math.abs(values[j] ?? 0));
    out.push(peak);
  }
  const loudest = Math.max(...out);
  // Rounded to 2 places: the payload stays small and a peak carries no more than a bar shows.
  return out.map((p) => (loudest > 0 ? Math.round((p / loudest) * 100) / 100 : 0));
}

/** 2_300 ms → "0:02", 65_000 → "1:05" (whole seconds, rounded down like a running clock). */
export function formatVoiceDuration(ms: number): string {
  const total = Math.max(0, Math.floor((Number.isFinite(ms) ? ms : 0) / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return `${minutes}:${String(seconds).padStart(2, "0")}`;
}

/** A received note as this client will use it, or null when it is not a sound one. */
export function readVoiceNote(value: unknown): VoiceNote | null {
  if (typeof value !== "object" || value === null) return null;
  const record = value as Record<string, unknown>;
  const duration = record["duration_ms"];
  const waveform = record["waveform"];
  if (typeof duration !== "number" || !Number.isFinite(duration) || duration <= 0 || duration > MAX_VOICE_MS * 2) return null;
  const bars = Array.isArray(waveform) ? waveform.slice(0, 256) : [];
  return {
    duration_ms: Math.round(duration),
    waveform: bars.map((b) => (typeof b === "number" && Number.isFinite(b) ? Math.min(1, Math.max(0, b)) : 0)),
  };
}

/** Where a click at `x` on a waveform `width` wide seeks to, in seconds. */
export function seekTime(x: number, width: number, durationSeconds: number): number {
  if (width <= 0 || !Number.isFinite(durationSeconds) || durationSeconds <= 0) return 0;
  return Math.min(1, Math.max(0, x / width)) * durationSeconds;
}

/** The playback speeds offered, in order; the button goes round them. */
export const SPEEDS = [1, 1.5, 2];

export function nextSpeed(current: number): number {
  const i = SPEEDS.indexOf(current);
  return SPEEDS[(i + 1) % SPEEDS.length] ?? 1;
}

/** What to tell people when the microphone cannot be used (getUserMedia's error name). */
export function microphoneProblem(err: unknown): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Talkee may not use your microphone. Allow the microphone for this site in your browser's settings (the icon next to the address), then tap the microphone again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Connect one and tap the microphone again.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone is busy or could not be started (another app may be using it).";
    default:
      return "Recording is not possible in this browser.";
  }
}

/** The recording as the file that is encrypted and sent. */
export function voiceFile(recording: Blob): File {
  return new File([recording], voiceFileName(recording.type), { type: recording.type || "audio/webm" });
}
