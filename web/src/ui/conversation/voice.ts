// Voice messages on screen: the composer's microphone (tap to record, or hold it on a
// touch screen and let go to send), the recording bar (running time, live levels, Cancel,
// Send), and the player in a bubble (play/pause, a waveform to click or drag to seek,
// 1× / 1.5× / 2×, the duration). The note's duration and waveform travel inside the
// encrypted payload (app/voice.ts); the audio is an encrypted file like any other.
import { humanError } from "../../api/client";
import {
  MAX_VOICE_MS,
  MIN_VOICE_MS,
  formatVoiceDuration,
  microphoneProblem,
  nextSpeed,
  peaks,
  pickVoiceType,
  readVoiceNote,
  type VoiceNote,
} from "../../app/voice";
import type { FileReference } from "../../crypto/payload";
import { t } from "../../i18n/index";
import { clear, h } from "../dom";
import "./voice.css";

/** How often the live level is sampled while recording. */
const LEVEL_MS = 50;
/** Held this long on a touch screen, letting go sends (shorter: it was a tap). */
const HOLD_MS = 400;

/** One bar of a waveform (set through the CSSOM: the CSP allows no style attributes). */
function levelBar(level: number, minPercent: number): HTMLElement {
  const bar = h("span");
  bar.style.height = `${Math.max(minPercent, Math.round(level * 100))}%`;
  return bar;
}

export interface RecorderActions {
  /** A finished recording, to encrypt and send. */
  send(recording: Blob, note: VoiceNote): void;
}

export interface VoiceRecorder {
  /** The microphone button (for the composer's row). */
  button: HTMLButtonElement;
  /** The recording bar and the microphone's problems (above the composer's row). */
  bar: HTMLElement;
  /** Another chat: a recording going on is discarded. */
  cancel(): void;
}

interface Recording {
  stream: MediaStream;
  recorder: MediaRecorder;
  audio: AudioContext;
  chunks: Blob[];
  levels: number[];
  startedAt: number;
  timer: number;
}

export function voiceRecorder(actions: RecorderActions): VoiceRecorder {
  const button = h("button", { type: "button", class: "mic", "aria-label": t("voice.record"), title: t("voice.recordTitle") }, "🎤");
  const clock = h("span", { class: "voice-clock", role: "timer", "aria-label": t("voice.time") }, "0:00");
  const meter = h("span", { class: "voice-meter", "aria-hidden": "true" });
  const cancelButton = h("button", { type: "button", class: "link voice-cancel" }, t("voice.cancel"));
  const sendButton = h("button", { type: "button", class: "primary voice-send", "aria-label": t("voice.sendLabel") }, t("voice.send"));
  const live = h("div", { class: "voice-recording" }, h("span", { class: "voice-dot", "aria-hidden": "true" }), h("span", { class: "sr-only" }, t("voice.recording")), clock, meter, cancelButton, sendButton);
  const problem = h("p", { class: "error voice-problem", role: "alert" });
  const bar = h("div", { class: "voice-bar", "aria-label": t("voice.bar") }, live, problem);
  live.hidden = true;
  problem.hidden = true;
  bar.hidden = true;
  const fit = (): void => {
    bar.hidden = live.hidden && problem.hidden;
  };
  let current: Recording | null = null;
  let starting = false;
  let touchStart = 0;
  let touchAt = 0;

  const say = (text: string): void => {
    problem.textContent = text;
    problem.hidden = text === "";
    fit();
  };

  const drawMeter = (levels: number[]): void => {
    clear(meter);
    for (const level of peaks(levels.slice(-400), 24)) meter.append(levelBar(level, 8));
  };

  const release = (r: Recording): void => {
    window.clearInterval(r.timer);
    for (const track of r.stream.getTracks()) track.stop();
    void r.audio.close().catch(() => undefined);
    live.hidden = true;
    fit();
    button.hidden = false;
    button.setAttribute("aria-pressed", "false");
    if (current === r) current = null;
  };

  const start = async (): Promise<void> => {
    if (current !== null || starting) return;
    say("");
    const type = typeof MediaRecorder === "function" ? pickVoiceType((mime) => MediaRecorder.isTypeSupported(mime)) : null;
    if (type === null || navigator.mediaDevices?.getUserMedia === undefined) {
      say(t("voice.impossible"));
      return;
    }
    starting = true;
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      say(microphoneProblem(err));
      return;
    } finally {
      starting = false;
    }
    const recorder = new MediaRecorder(stream, { mimeType: type });
    const audio = new AudioContext();
    const analyser = audio.createAnalyser();
    analyser.fftSize = 1024;
    audio.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const r: Recording = { stream, recorder, audio, chunks: [], levels: [], startedAt: performance.now(), timer: 0 };
    recorder.addEventListener("dataavailable", (ev) => {
      if (ev.data.size > 0) r.chunks.push(ev.data);
    });
    r.timer = window.setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let level = 0;
      for (const s of samples) level = Math.max(level, Math.abs(s));
      r.levels.push(level);
      const elapsed = performance.now() - r.startedAt;
      clock.textContent = formatVoiceDuration(elapsed);
      if (r.levels.length % 4 === 0) drawMeter(r.levels);
      if (elapsed >= MAX_VOICE_MS) finish(true);
    }, LEVEL_MS);
    recorder.start(1000);
    current = r;
    clock.textContent = "0:00";
    clear(meter);
    live.hidden = false;
    fit();
    button.setAttribute("aria-pressed", "true");
    button.hidden = true;
    sendButton.focus();
  };

  const finish = (send: boolean): void => {
    const r = current;
    if (r === null) return;
    const duration = Math.round(performance.now() - r.startedAt);
    current = null;
    window.clearInterval(r.timer);
    r.recorder.addEventListener(
      "stop",
      () => {
        release(r);
        if (!send) return;
        if (duration < MIN_VOICE_MS) {
          say(t("voice.tooShort"));
          return;
        }
        const blob = new Blob(r.chunks, { type: r.recorder.mimeType.split(";")[0] ?? "audio/webm" });
        actions.send(blob, { duration_ms: duration, waveform: peaks(r.levels) });
      },
      { once: true },
    );
    if (r.recorder.state !== "inactive") r.recorder.stop();
    else release(r);
  };

  button.addEventListener("click", () => {
    if (Date.now() - touchAt < 1000) return; // the click that follows a touch was handled there
    void start().catch((err: unknown) => say(humanError(err)));
  });
  // Hold to talk: on a touch screen, pressing starts, letting go after a moment sends.
  button.addEventListener("pointerdown", (ev) => {
    if (ev.pointerType !== "touch") return;
    touchAt = Date.now();
    touchStart = performance.now();
    void start().catch((err: unknown) => say(humanError(err)));
  });
  const letGo = (ev: PointerEvent): void => {
    if (ev.pointerType !== "touch" || touchStart === 0) return;
    touchAt = Date.now();
    const held = performance.now() - touchStart;
    touchStart = 0;
    if (held >= HOLD_MS && current !== null) finish(true);
  };
  window.addEventListener("pointerup", letGo);
  cancelButton.addEventListener("click", () => finish(false));
  sendButton.addEventListener("click", () => finish(true));
  bar.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && current !== null) finish(false);
  });

  return {
    button,
    bar,
    cancel() {
      finish(false);
      say("");
    },
  };
}

// ---- the player ---------------------------------------------------------------------

export interface PlayerActions {
  open(ref: FileReference): Promise<Blob>;
  say(text: string): void;
}

/** One audio plays at a time. */
let playing: HTMLAudioElement | null = null;

/** Players by blob id: the list is drawn again on every change, playback must go on. */
export function voicePlayers(actions: PlayerActions): (ref: FileReference) => HTMLElement | null {
  const players = new Map<string, HTMLElement>();
  return (ref) => {
    const note = readVoiceNote(ref.voice);
    if (note === null) return null;
    let player = players.get(ref.blob_id);
    if (player === undefined) {
      player = voicePlayer(ref, note, actions);
      players.set(ref.blob_id, player);
    }
    return player;
  };
}

function voicePlayer(ref: FileReference, note: VoiceNote, actions: PlayerActions): HTMLElement {
  const total = note.duration_ms / 1000;
  const audio = h("audio", { preload: "none" });
  const play = h("button", { type: "button", class: "voice-play", "aria-label": t("voice.play") }, "▶");
  const bars = h("div", { class: "voice-wave", "aria-hidden": "true" });
  for (const peak of note.waveform.length > 0 ? note.waveform : [0.3]) bars.append(levelBar(peak, 14));
  const seek = h("input", { type: "range", class: "voice-seek", min: 0, max: Math.round(note.duration_ms), step: 10, value: 0, "aria-label": t("voice.position") });
  const wave = h("div", { class: "voice-track" }, bars, seek);
  const time = h("span", { class: "voice-time" }, formatVoiceDuration(note.duration_ms));
  const speed = h("button", { type: "button", class: "voice-speed", "aria-label": t("voice.speed", { rate: 1 }) }, "1×");
  const el = h("div", { class: "voice", "data-duration-ms": String(note.duration_ms) }, play, wave, time, speed, audio);
  let loading: Promise<boolean> | null = null;

  const position = (): number => (Number.isFinite(audio.currentTime) ? audio.currentTime : 0);
  const show = (): void => {
    const at = position();
    seek.value = String(Math.round(at * 1000));
    const fraction = total > 0 ? Math.min(1, at / total) : 0;
    const lit = Math.round(fraction * bars.children.length);
    [...bars.children].forEach((bar, i) => bar.classList.toggle("played", i < lit));
    time.textContent = audio.paused && at === 0 ? formatVoiceDuration(note.duration_ms) : `${formatVoiceDuration(at * 1000)} / ${formatVoiceDuration(note.duration_ms)}`;
  };
  const showPaused = (paused: boolean): void => {
    play.textContent = paused ? "▶" : "⏸";
    play.setAttribute("aria-label", paused ? t("voice.play") : t("voice.pause"));
    el.classList.toggle("playing", !paused);
  };

  /** Decrypts the note once; the audio then plays from an object URL. */
  const load = (): Promise<boolean> => {
    loading ??= actions
      .open(ref)
      .then(async (blob) => {
        audio.src = URL.createObjectURL(blob);
        await new Promise<void>((resolve, reject) => {
          audio.addEventListener("loadedmetadata", () => resolve(), { once: true });
          audio.addEventListener("error", () => reject(new Error(t("voice.cannotPlay"))), { once: true });
          audio.load();
        });
        return true;
      })
      .catch((err: unknown) => {
        loading = null;
        actions.say(humanError(err));
        return false;
      });
    return loading;
  };

  play.addEventListener("click", () => {
    if (!audio.paused) {
      audio.pause();
      return;
    }
    void load().then((ok) => {
      if (!ok) return;
      if (playing !== null && playing !== audio) playing.pause();
      playing = audio;
      audio.play().catch((err: unknown) => actions.say(humanError(err)));
    });
  });
  seek.addEventListener("input", () => {
    const to = Number(seek.value) / 1000;
    void load().then((ok) => {
      if (!ok) return;
      audio.currentTime = Math.min(to, Math.max(0, total - 0.05));
      show();
    });
  });
  speed.addEventListener("click", () => {
    const rate = nextSpeed(audio.playbackRate);
    audio.playbackRate = rate;
    audio.defaultPlaybackRate = rate;
    speed.textContent = `${rate}×`;
    speed.setAttribute("aria-label", t("voice.speed", { rate }));
  });
  audio.addEventListener("timeupdate", show);
  audio.addEventListener("play", () => showPaused(false));
  audio.addEventListener("pause", () => showPaused(true));
  audio.addEventListener("ended", () => {
    audio.currentTime = 0;
    showPaused(true);
    show();
  });
  return el;
}
