// How what a subscriber's estimate allows its videos is split among them, and the budget a probe asks for.
import { describe, expect, it } from 'vitest';
import { allocate, nextStepBudget } from '../../src/sfu/bandwidthAllocation.js';

// A 640x480 camera's three simulcast layers as measured (bit/s), lowest first.
const CAMERA = [70_000, 210_000, 730_000];
const full = { wanted: 2, rates: CAMERA };

describe('allocate', () => {
  it('gives every video the layer its tile wants when the budget allows', () => {
    expect(allocate(2_000_000, [full, full])).toEqual([2, 2]);
    expect(allocate(400_000, [{ wanted: 1, rates: CAMERA }])).toEqual([1]);
  });

  it('never gives more than the tile wants', () => {
    expect(allocate(10_000_000, [{ wanted: 0, rates: CAMERA }])).toEqual([0]);
  });

  it('lowers a video to the highest layer that fits', () => {
    // 500 kbit/s: the full layer (730) does not fit, the middle one (210) does.
    expect(allocate(500_000, [full])).toEqual([1]);
    // 200 kbit/s: 210 does not fit; the lowest does.
    expect(allocate(200_000, [full])).toEqual([0]);
  });

  it('pauses a video when not even its lowest layer fits', () => {
    expect(allocate(50_000, [full])).toEqual(['paused']);
    expect(allocate(0, [full, full])).toEqual(['paused', 'paused']);
  });

  it('lowers the costliest video first, so a small tile keeps its picture', () => {
    const small = { wanted: 0, rates: CAMERA };
    // 800 kbit/s: 730 + 70 fits.
    expect(allocate(800_000, [full, small])).toEqual([2, 0]);
    // 600 kbit/s: the big one gives first (to 210), the small one stays at 70.
    expect(allocate(600_000, [full, small])).toEqual([1, 0]);
    // Two full videos in 500 kbit/s: both step down to 210 (fairly): 420 fits.
    expect(allocate(500_000, [full, full])).toEqual([1, 1]);
    // 250 kbit/s: 210 + 70 = 280 does not fit, 70 + 70 does.
    expect(allocate(250_000, [full, full])).toEqual([0, 0]);
  });

  it('pauses one video at a time, the later one first on ties (the earlier keeps its picture)', () => {
    expect(allocate(100_000, [full, full])).toEqual([0, 'paused']);
  });

  it('a layer whose rate is not known yet costs nothing (it is not sent: nothing to save)', () => {
    expect(allocate(50_000, [{ wanted: 2, rates: [0, 0, 0] }])).toEqual([2]);
  });
});

describe('nextStepBudget', () => {
  it('is what the cheapest one-step raise would need', () => {
    // At the middle layer: the next step is the full one.
    expect(nextStepBudget([full], [1])).toBe(730_000);
    // Paused: the lowest layer.
    expect(nextStepBudget([full], ['paused'])).toBe(70_000);
    // Two videos at the lowest: one of them to the middle layer (+140).
    expect(nextStepBudget([full, full], [0, 0])).toBe(70_000 + 210_000);
  });

  it('is undefined when every video has what its tile wants', () => {
    expect(nextStepBudget([full, { wanted: 1, rates: CAMERA }], [2, 1])).toBeUndefined();
  });
});
