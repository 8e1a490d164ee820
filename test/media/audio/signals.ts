/** Test signals: speech-like tone bursts with a loudness schedule, generated in JS so their timing is exact. */
export const SR = 48_000;

export interface LoudnessSegment {
  fromMs: number;
  toMs: number;
  /** Peak amplitude 0…1 (0 = silence). */
  amplitude: number;
}

export interface ToneBurstOptions {
  freq: number;
  totalMs: number;
  /** Loudness schedule; time outside every segment is silent. */
  segments: LoudnessSegment[];
  /** Tone on / off lengths of each burst (like test/harness/fixtures.ts). Off = 0 gives a steady tone. */
  burstOnMs?: number;
  burstOffMs?: number;
  /** Linear fade on each burst edge (ms). */
  rampMs?: number;
}

/** Mono 48 kHz float PCM of tone bursts; bursts start at t = 0, 250 ms, 500 ms, … (with the defaults). */
export function toneBursts(opts: ToneBurstOptions): Float32Array {
  const { freq, burstOnMs = 180, burstOffMs = 70, rampMs = 5 } = opts;
  const out = new Float32Array(Math.round((opts.totalMs * SR) / 1000));
  const period = burstOnMs + burstOffMs;
  for (const seg of opts.segments) {
    const from = Math.max(0, Math.round((seg.fromMs * SR) / 1000));
    const to = Math.min(out.length, Math.round((seg.toMs * SR) / 1000));
    for (let i = from; i < to; i++) {
      const tMs = (i * 1000) / SR;
      const inBurst = burstOffMs === 0 ? tMs : tMs % period;
      if (burstOffMs > 0 && inBurst >= burstOnMs) continue;
      const env = burstOffMs === 0 ? 1 : Math.min(1, inBurst / rampMs, (burstOnMs - inBurst) / rampMs);
      out[i] = seg.amplitude * env * Math.sin((2 * Math.PI * freq * i) / SR);
    }
  }
  return out;
}

/** Beeps of `beepMs` at the given start times (ms), 1 ms ramps (sharp onsets to time against). */
export function beeps(opts: { freq: number; totalMs: number; atMs: number[]; beepMs: number; amplitude: number }): Float32Array {
  const out = new Float32Array(Math.round((opts.totalMs * SR) / 1000));
  const ramp = SR / 1000;
  for (const at of opts.atMs) {
    const from = Math.round((at * SR) / 1000);
    const len = Math.round((opts.beepMs * SR) / 1000);
    for (let k = 0; k < len && from + k < out.length; k++) {
      const env = Math.min(1, k / ramp, (len - k) / ramp);
      out[from + k] = opts.amplitude * env * Math.sin((2 * Math.PI * opts.freq * k) / SR);
    }
  }
  return out;
}

/** Mono float view of the first channel of interleaved s16 frames. */
export function framesToFloat(frames: ReadonlyArray<{ pcm: Int16Array }>, channels: number): Float32Array {
  const total = frames.reduce((n, f) => n + f.pcm.length / channels, 0);
  const out = new Float32Array(total);
  let o = 0;
  for (const f of frames) {
    for (let i = 0; i < f.pcm.length; i += channels) out[o++] = f.pcm[i]! / 32768;
  }
  return out;
}

/**
 * Speech-like test audio: syllables of 80–300 ms (a harmonic voice at 90–250 Hz with a little breath noise) separated by
 * 40–400 ms pauses. Deterministic for a given seed. For realistic codec load, not for exact analysis.
 */
export function speechLike(seed: number, totalMs: number, amplitude = 0.3): Float32Array {
  let state = seed >>> 0 || 1;
  const rand = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const out = new Float32Array(Math.round((totalMs * SR) / 1000));
  let i = 0;
  while (i < out.length) {
    const len = Math.round(((80 + rand() * 220) * SR) / 1000);
    const f0 = 90 + rand() * 160;
    const glide = (rand() - 0.5) * 0.4;
    let phase = 0;
    for (let k = 0; k < len && i + k < out.length; k++) {
      const env = Math.sin((Math.PI * k) / len);
      phase += (2 * Math.PI * f0 * (1 + (glide * k) / len)) / SR;
      let v = 0;
      for (let h = 1; h <= 12; h++) v += Math.sin(h * phase) / h;
      out[i + k] = amplitude * env * (0.5 * v + 0.05 * (rand() * 2 - 1));
    }
    i += len + Math.round(((40 + rand() * 360) * SR) / 1000);
  }
  return out;
}
