// How a subscriber's bandwidth estimate is split among its videos (audio reserved first), and the budget a probe asks for.
import { describe, expect, it } from 'vitest';
import { allocate, nextStepBudget } from '../../src/sfu/bandwidthAllocation.js';

// A 640x480 camera's three simulcast layers as measured (bit/s), lowest first.
const CAMERA = [70_000, 210_000, 730_000];
const AUDIO = 50_000;
const full = { wanted: 2, rates: CAMERA };

describe('allocate', () => {
  it('gives every video the layer its tile wants when the budget allows', () => {
    expect(allocate(2_000_000, AUDIO, [full, full])).toEqual([2, 2]);
    expect(allocate(400_000, AUDIO, [{ wanted: 1, rates: CAMERA }])).toEqual([1]);
  });

  it('never gives more than the tile wants', () => {
    expect(allocate(10_000_000, AUDIO, [{ wanted: 0, rates: CAMERA }])).toEqual([0]);
  });

  it('lowers a video to the highest layer that fits after the audio', () => {
    // 500 kbit/s: the full layer (730) does not fit, the middle one (210) does.
    expect(allocate(500_000, AUDIO, [full])).toEqual([1]);
    // 250 kbit/s: 210 + 50 audio does not fit; the lowest does.
    expect(allocate(250_000, AUDIO, [full])).toEqual([0]);
  });

  it('pauses a video when not even its lowest layer fits; audio is reserved whatever the budget', () => {
    expect(allocate(100_000, AUDIO, [full])).toEqual(['paused']);
    expect(allocate(10_000, AUDIO, [full, full])).toEqual(['paused', 'paused']);
  });

  it('lowers the costliest video first, so a small tile keeps its picture', () => {
    const small = { wanted: 0, rates: CAMERA };
    // 1 Mbit/s: 730 + 70 + 50 audio = 850 fits.
    expect(allocate(1_000_000, AUDIO, [full, small])).toEqual([2, 0]);
    // 600 kbit/s: the big one gives first (to 210), the small one stays at 70.
    expect(allocate(600_000, AUDIO, [full, small])).toEqual([1, 0]);
    // Two full videos in 600 kbit/s: both step down to 210 (fairly), which fits with audio (470).
    expect(allocate(600_000, AUDIO, [full, full])).toEqual([1, 1]);
    // 300 kbit/s: 210 + 70 + 50 = 330 does not fit, 70 + 70 + 50 = 190 does.
    expect(allocate(300_000, AUDIO, [full, full])).toEqual([0, 0]);
  });

  it('pauses one video at a time, the later one first on ties (the earlier keeps its picture)', () => {
    expect(allocate(150_000, AUDIO, [full, full])).toEqual([0, 'paused']);
  });

  it('a layer whose rate is not known yet costs nothing (it is not sent: nothing to save)', () => {
    expect(allocate(100_000, AUDIO, [{ wanted: 2, rates: [0, 0, 0] }])).toEqual([2]);
  });
});

describe('nextStepBudget', () => {
  it('is what the cheapest one-step raise would need', () => {
    // At the middle layer: the next step is the full one (730 + 50 audio).
    expect(nextStepBudget(AUDIO, [full], [1])).toBe(780_000);
    // Paused: the lowest layer.
    expect(nextStepBudget(AUDIO, [full], ['paused'])).toBe(120_000);
    // Two videos at the lowest: one of them to the middle layer (+140).
    expect(nextStepBudget(AUDIO, [full, full], [0, 0])).toBe(AUDIO + 70_000 + 210_000);
  });

  it('is undefined when every video has what its tile wants', () => {
    expect(nextStepBudget(AUDIO, [full, { wanted: 1, rates: CAMERA }], [2, 1])).toBeUndefined();
  });
});
