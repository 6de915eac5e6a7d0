// Who is speaking in a call: each stream's audio level, measured in this page with Web Audio
// (nothing about it leaves the device or reaches the SFU, which forwards frames it cannot
// read). A stream counts as speaking while it was louder than THRESHOLD within HOLD_MS.

/** Root mean square of the samples over which a voice counts (about -34 dBFS). */
export const THRESHOLD = 0.02;
export const HOLD_MS = 600;
const SAMPLE_MS = 150;

/** RMS of a block of samples in [-1, 1]. */
export function rms(samples: Float32Array): number {
  let sum = 0;
  for (const x of samples) sum += x * x;
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length);
}

interface Meter {
  track: string;
  source: MediaStreamAudioSourceNode;
  analyser: AnalyserNode;
  buffer: Float32Array<ArrayBuffer>;
  loudAt: number;
}

export class SpeakingMeter {
  private context: AudioContext | null = null;
  private meters = new Map<string, Meter>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private speaking = new Set<string>();

  /** `changed` gets the keys speaking now, whenever that set changes. */
  constructor(private readonly changed: (speaking: ReadonlySet<string>) => void) {}

  /** Measures these streams, by key (a stream without audio yet is taken once it has some); others are dropped. */
  watch(streams: ReadonlyMap<string, MediaStream | null>): void {
    for (const [key, meter] of this.meters) {
      const track = streams.get(key)?.getAudioTracks()[0];
      if (track?.id !== meter.track) this.drop(key);
    }
    for (const [key, stream] of streams) {
      const track = stream?.getAudioTracks()[0];
      if (stream === null || track === undefined || this.meters.has(key)) continue;
      this.context ??= new AudioContext();
      const source = this.context.createMediaStreamSource(new MediaStream([track]));
      const analyser = this.context.createAnalyser();
      analyser.fftSize = 512;
      source.connect(analyser);
      this.meters.set(key, { track: track.id, source, analyser, buffer: new Float32Array(analyser.fftSize), loudAt: -Infinity });
    }
    this.timer ??= setInterval(() => this.sample(), SAMPLE_MS);
  }

  stop(): void {
    for (const key of [...this.meters.keys()]) this.drop(key);
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    void this.context?.close();
    this.context = null;
    if (this.speaking.size > 0) this.changed((this.speaking = new Set()));
  }

  private drop(key: string): void {
    this.meters.get(key)?.source.disconnect();
    this.meters.delete(key);
  }

  private sample(): void {
    const now = performance.now();
    const speaking = new Set<string>();
    for (const [key, meter] of this.meters) {
      meter.analyser.getFloatTimeDomainData(meter.buffer);
      if (rms(meter.buffer) > THRESHOLD) meter.loudAt = now;
      if (now - meter.loudAt < HOLD_MS) speaking.add(key);
    }
    if (speaking.size !== this.speaking.size || [...speaking].some((k) => !this.speaking.has(k))) {
      this.speaking = speaking;
      this.changed(speaking);
    }
  }
}
