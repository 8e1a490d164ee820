// A video's steps for bandwidth allocation: 15 fps (the top temporal layer left out) before a lower resolution.
import { describe, expect, it } from 'vitest';
import { allocate, nextStepBudget } from '../../src/sfu/bandwidthAllocation.js';
import { capOf, formatCap, sendingRate, stepOf, videoLadder, wantedStep } from '../../src/sfu/videoLadder.js';

// Chromium 156's 640x480 simulcast camera as measured (test/e2e/temporal.test.ts): per layer q/h/f, the whole layer's
// bitrate and its temporal layers' cumulative ones (TID 0, 0+1, 0+1+2: 7.5, 15, 30 fps).
const TOTAL = [79_000, 211_000, 718_000];
const TEMPORAL = [
  [29_000, 46_000, 79_000],
  [81_000, 124_000, 211_000],
  [258_000, 435_000, 718_000],
];
const ladder = videoLadder(TOTAL, TEMPORAL);
const caps = (shares: ReturnType<typeof allocate>) => shares.map((s) => formatCap(capOf(ladder, s)));

describe('videoLadder', () => {
  it('orders the steps q 15, q 30, h 15, h 30, f 15, f 30 fps, with their measured rates', () => {
    expect(ladder.map((s) => `${formatCap(s)} ${s.rate / 1000}`)).toEqual(['0/t1 46', '0 79', '1/t1 124', '1 211', '2/t1 435', '2 718']);
  });

  it('has no 15 fps steps for a video without temporal layers (or before their rates are known)', () => {
    expect(videoLadder(TOTAL, [[], [], []]).map((s) => formatCap(s))).toEqual(['0', '1', '2']);
    expect(videoLadder([500_000], [[0, 0]]).map((s) => formatCap(s))).toEqual(['0']);
    // One stream with temporal layers (L1T3, no simulcast): 15 fps before a pause.
    expect(videoLadder([718_000], [TEMPORAL[2]!]).map((s) => formatCap(s))).toEqual(['0/t1', '0']);
  });

  it('maps caps to steps and back, a tile’s wanted layer to its 30 fps step', () => {
    expect(wantedStep(ladder, 2)).toBe(5);
    expect(wantedStep(ladder, 1)).toBe(3);
    expect(stepOf(ladder, { spatial: 2, temporal: 1 })).toBe(4);
    expect(stepOf(ladder, { spatial: 1 })).toBe(3);
    expect(stepOf(ladder, 'paused')).toBe('paused');
    expect(capOf(ladder, 4)).toEqual({ spatial: 2, temporal: 1 });
    expect(capOf(ladder, 5)).toEqual({ spatial: 2 });
  });

  it('costs what is sent: the temporal layers in force, or the whole layer', () => {
    expect(sendingRate(TOTAL, TEMPORAL, 2, 1)).toBe(435_000);
    expect(sendingRate(TOTAL, TEMPORAL, 2, 3)).toBe(718_000);
    expect(sendingRate(TOTAL, [], 1, 1)).toBe(211_000);
  });
});

describe('allocation over the ladder: 15 fps before a lower resolution', () => {
  const full = { wanted: wantedStep(ladder, 2), rates: ladder.map((s) => s.rate) };

  it('steps down full 30 → full 15 → half 30 → half 15 → quarter … → paused as the budget shrinks', () => {
    const at = (kbps: number) => caps(allocate(kbps * 1000, [full]))[0];
    expect(at(1000)).toBe('2');
    // 600 kbit/s: the full layer at 30 fps (718) does not fit, at 15 fps (435) it does: resolution kept.
    expect(at(600)).toBe('2/t1');
    expect(at(500)).toBe('2/t1');
    expect(at(400)).toBe('1');
    expect(at(200)).toBe('1/t1');
    expect(at(100)).toBe('0');
    expect(at(50)).toBe('0/t1');
    expect(at(40)).toBe('paused');
  });

  it('two videos: the costliest halves its frame rate first (ties: the later video), then the other', () => {
    expect(caps(allocate(1_250_000, [full, full]))).toEqual(['2', '2/t1']);
    expect(caps(allocate(900_000, [full, full]))).toEqual(['2/t1', '2/t1']);
    expect(caps(allocate(650_000, [full, full]))).toEqual(['2/t1', '1']);
  });

  it('a probe tries one step up: from full 15 fps to full 30 fps', () => {
    expect(nextStepBudget([full], [4])).toBe(718_000);
    expect(nextStepBudget([full], [3])).toBe(435_000);
  });
});
