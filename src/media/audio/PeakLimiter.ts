export interface PeakLimiterOptions {
  /** Output peaks never exceed this (full scale = 1). Default 0.95 (-0.45 dBFS). */
  ceiling?: number;
  /** Time for the gain to recover after a peak (ms). Long enough not to follow each cycle of a voice. Default 150. */
  releaseMs?: number;
}

/**
 * Peak limiter for the summed voices: unity gain until the sum would exceed the ceiling, then just enough gain
 * reduction to stay under it (instant attack, exponential release). Unlike dividing by the voice count it leaves single
 * voices untouched, and unlike a clip it cannot wrap or square off the waveform.
 */
export class PeakLimiter {
  private readonly ceiling: number;
  private readonly release: number;
  /** Peak envelope of the input (instant attack, exponential decay). */
  private env = 0;

  constructor(sampleRate: number, opts: PeakLimiterOptions = {}) {
    this.ceiling = opts.ceiling ?? 0.95;
    this.release = Math.exp(-1 / (((opts.releaseMs ?? 150) / 1000) * sampleRate));
  }

  /** Current gain reduction (1 = none). */
  get gain(): number {
    return this.env > this.ceiling ? this.ceiling / this.env : 1;
  }

  /** Limits buf[0, count) in place. */
  process(buf: Float32Array, count = buf.length): void {
    const ceiling = this.ceiling;
    const release = this.release;
    let env = this.env;
    for (let i = 0; i < count; i++) {
      const x = buf[i]!;
      const a = x < 0 ? -x : x;
      // max(|x|, decayed envelope): the envelope never sits below the sample, so |x| * ceiling / env ≤ ceiling.
      env *= release;
      if (a > env) env = a;
      if (env > ceiling) buf[i] = (x * ceiling) / env;
    }
    this.env = env;
  }
}
