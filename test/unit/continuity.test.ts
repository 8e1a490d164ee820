import { describe, expect, it } from 'vitest';
import { voiceContinuity } from '../harness/continuity.js';

const SR = 48_000;
const FREQ = 660;

/** A voice's own track: 180 ms tone bursts every 250 ms (as the fixtures talk), `seconds` long. */
function burstTrack(seconds: number): Float32Array {
  const pcm = new Float32Array(seconds * SR);
  for (let i = 0; i < pcm.length; i++) if (i % (SR / 4) < 0.18 * SR) pcm[i] = 0.3 * Math.sin((2 * Math.PI * FREQ * i) / SR);
  return pcm;
}

/**
 * The mix as the recorder's timeline makes it: the track placed at `placementMs(t)` (ms, may change over time), with
 * the track's samples in `holes` (ms ranges of track time) missing.
 */
function mixOf(track: Float32Array, placementMs: (trackMs: number) => number, holes: Array<[number, number]> = []): Float32Array {
  const mix = new Float32Array(track.length + SR);
  for (let i = 0; i < track.length; i++) {
    const ms = (i * 1000) / SR;
    if (holes.some(([a, b]) => ms >= a && ms < b)) continue;
    const j = Math.round(i + (placementMs(ms) * SR) / 1000);
    if (j >= 0 && j < mix.length) mix[j] = track[i]!;
  }
  return mix;
}

/** 100 ms for the first 10 s, then slewed to 25 ms at the mixer's 2 % (75 ms in 3.75 s). */
const slewed = (ms: number) => (ms < 10_000 ? 100 : Math.max(25, 100 - (ms - 10_000) * 0.02));

describe('voiceContinuity', () => {
  it('follows a placement the mixer slews (2 %) without reporting holes', () => {
    const track = burstTrack(24);
    const r = voiceContinuity(mixOf(track, slewed), { id: 'v', freq: FREQ, trackPcm: track, trackOffsetMs: 100 });
    expect(r.judgedCells).toBeGreaterThan(700);
    expect(r.missingCells).toBe(0);
    expect(r.localAlignmentsMs[0]).toBe(0);
    expect(Math.abs(r.localAlignmentsMs.at(-1)! + 75)).toBeLessThanOrEqual(4);
  });

  it('still finds holes of one cell and of 300 ms during a slew', () => {
    const track = burstTrack(24);
    // Inside bursts: 20 ms at 11.04 s (during the slew), 40 ms at 3.02 s, and 300 ms from 16 s (bursts and the gaps between).
    const mix = mixOf(track, slewed, [[11_040, 11_060], [3_020, 3_060], [16_000, 16_300]]);
    const r = voiceContinuity(mix, { id: 'v', freq: FREQ, trackPcm: track, trackOffsetMs: 100 });
    expect(r.missingCells).toBeGreaterThanOrEqual(1 + 2 + 5);
    expect(r.holes.some((h) => Math.abs(h.atMs - (11_040 + slewed(11_040))) < 40)).toBe(true);
    expect(r.holes.some((h) => Math.abs(h.atMs - 3_120) < 40)).toBe(true);
  });

  it('reports a voice that is not in the mix at all', () => {
    const track = burstTrack(8);
    const r = voiceContinuity(new Float32Array(track.length), { id: 'v', freq: FREQ, trackPcm: track, trackOffsetMs: 0 });
    expect(r.missingShare).toBe(1);
  });
});
