/** Levels are floored here (dBFS) so digital silence stays a finite, JSON-friendly number. */
export const LEVEL_FLOOR_DB = -100;

export interface LoudnessMeterOptions {
  /** Length of each frame passed to push() (ms). */
  frameMs: number;
  /** RMS window (ms): long enough to span a syllable, short enough to follow turn-taking. Default 200. */
  windowMs?: number;
  /** A peak of the window level is held this long before it starts to fall (bridges gaps between words). Default 300. */
  peakHoldMs?: number;
  /** How fast the held level falls after the hold (dB per second). Default 40. */
  releaseDbPerSec?: number;
}

/**
 * Short-window loudness of one voice from its decoded PCM: RMS over the last ~200 ms, then peak-held and released
 * slowly, so the gaps in speech (or in 180 ms on / 70 ms off tone bursts) do not make the level, and so the speaker
 * set, flap. dBFS here is 20·log10(RMS) with full scale = 1.0 (a full-scale sine reads -3 dBFS).
 */
export class LoudnessMeter {
  private readonly energies: Float64Array;
  private readonly frameMs: number;
  private readonly peakHoldMs: number;
  private readonly releasePerFrame: number;
  private next = 0;
  private window = LEVEL_FLOOR_DB;
  private held = LEVEL_FLOOR_DB;
  private holdLeftMs = 0;

  constructor(opts: LoudnessMeterOptions) {
    this.frameMs = opts.frameMs;
    this.energies = new Float64Array(Math.max(1, Math.round((opts.windowMs ?? 200) / opts.frameMs)));
    this.peakHoldMs = opts.peakHoldMs ?? 300;
    this.releasePerFrame = ((opts.releaseDbPerSec ?? 40) * opts.frameMs) / 1000;
  }

  /** Short-window RMS level without hold (dBFS). */
  get windowDb(): number {
    return this.window;
  }

  /** Smoothed level used for speaker selection (dBFS). */
  get levelDb(): number {
    return this.held;
  }

  /** Adds one frame of mono PCM; returns the new smoothed level. */
  push(frame: Float32Array): number {
    let sum = 0;
    for (let i = 0; i < frame.length; i++) sum += frame[i]! * frame[i]!;
    this.energies[this.next] = sum;
    this.next = (this.next + 1) % this.energies.length;
    // Frames not seen yet count as silence, so a voice's level rises over the first window instead of jumping.
    let total = 0;
    for (let i = 0; i < this.energies.length; i++) total += this.energies[i]!;
    this.window = toDb(Math.sqrt(total / (frame.length * this.energies.length)));

    if (this.window >= this.held) {
      this.held = this.window;
      this.holdLeftMs = this.peakHoldMs;
    } else if (this.holdLeftMs > 0) {
      this.holdLeftMs -= this.frameMs;
    } else {
      this.held = Math.max(this.window, this.held - this.releasePerFrame);
    }
    return this.held;
  }
}

export function toDb(rms: number): number {
  return rms > 0 ? Math.max(LEVEL_FLOOR_DB, 20 * Math.log10(rms)) : LEVEL_FLOOR_DB;
}
