import { describe, expect, it } from 'vitest';
import { StallCatchUp, type ArrivingVoice } from '../../src/recording/StallCatchUp.js';

// A 5 s stall from t = 10 s to 15 s (our clock = timeline here): the backlog is read over the following ticks.
const voice = (lastArrivalAt: number, lastTimelineMs: number): ArrivingVoice => ({ lastArrivalAt, lastTimelineMs });

describe('StallCatchUp', () => {
  it('holds until every voice that was sending has had a packet from the stall end read, however long that takes', () => {
    const a = voice(9_990, 9_980);
    const b = voice(9_995, 9_990);
    const c = new StallCatchUp();
    c.begin(15_000, 10_000, 15_000, [a, b]);
    expect(c.check(15_020)).toEqual({ holding: true });
    // Reading the backlog: a is through it, b is not yet (1.5 s in: longer than the old fixed 500 ms hold).
    a.lastTimelineMs = 14_900;
    b.lastTimelineMs = 12_000;
    expect(c.check(16_500)).toEqual({ holding: true });
    b.lastTimelineMs = 14_750;
    expect(c.check(16_520)).toEqual({ holding: false, ended: { heldMs: 1_520, complete: true } });
    expect(c.active).toBe(false);
    expect(c.check(16_540)).toEqual({ holding: false });
  });

  it('does not wait for a voice that had stopped before the stall, nor for ever for one that stopped during it', () => {
    const silentBefore = voice(8_000, 7_990);
    const leftDuring = voice(9_990, 9_980);
    const c = new StallCatchUp();
    c.begin(15_000, 10_000, 15_000, [silentBefore, leftDuring, voice(0, 0)]);
    expect(c.check(18_900)).toEqual({ holding: true });
    expect(c.check(19_000)).toEqual({ holding: false, ended: { heldMs: 4_000, complete: false } });
  });

  it('with nobody sending, nothing is held', () => {
    const c = new StallCatchUp();
    c.begin(15_000, 10_000, 15_000, []);
    expect(c.check(15_000)).toEqual({ holding: false, ended: { heldMs: 0, complete: true } });
  });
});
