import { describe, expect, it } from 'vitest';
import { StallCatchUp, type ArrivingVoice } from '../../src/recording/StallCatchUp.js';

// Ticks of the mix every 40 ms, then a 5 s stall; our clock = the timeline here. The backlog is read over the ticks after.
const voice = (lastArrivalAt: number, lastTimelineMs: number): ArrivingVoice => ({ lastArrivalAt, lastTimelineMs });
const STALLED_AFTER_MS = 350;

describe('StallCatchUp', () => {
  it('holds after a stall until every voice that was sending has had a packet from its end read, however long that takes', () => {
    const a = voice(9_990, 9_980);
    const b = voice(9_995, 9_990);
    const c = new StallCatchUp(STALLED_AFTER_MS);
    expect(c.tickStarted(9_960, 9_960, () => [a, b])).toBeUndefined();
    expect(c.tickStarted(10_000, 10_000, () => [a, b])).toBeUndefined();
    expect(c.check(10_000)).toEqual({ holding: false });
    expect(c.tickStarted(15_000, 15_000, () => [a, b])).toBe(5_000);
    expect(c.check(15_020)).toEqual({ holding: true });
    // Reading the backlog: a is through it, b is not yet (1.5 s in: longer than the old fixed 500 ms hold).
    a.lastTimelineMs = 14_900;
    b.lastTimelineMs = 12_000;
    expect(c.check(16_500)).toEqual({ holding: true });
    b.lastTimelineMs = 14_750;
    expect(c.check(16_520)).toEqual({ holding: false, ended: { stalledMs: 5_000, heldMs: 1_520, complete: true } });
    expect(c.active).toBe(false);
    expect(c.check(16_540)).toEqual({ holding: false });
  });

  it('counts the gap from the previous tick start: a process stopped in the middle of a tick is a stall too', () => {
    const a = voice(10_000, 9_990);
    const c = new StallCatchUp(STALLED_AFTER_MS);
    c.tickStarted(10_000, 10_000, () => [a]);
    // That tick was stopped halfway and ended at 15,010; the next one starts 20 ms later.
    expect(c.tickStarted(15_030, 15_030, () => [a])).toBe(5_030);
    expect(c.check(15_030)).toEqual({ holding: true });
  });

  it('does not wait for a voice that had stopped before the stall, nor for ever for one that stopped during it', () => {
    const silentBefore = voice(8_000, 7_990);
    const leftDuring = voice(9_990, 9_980);
    const c = new StallCatchUp(STALLED_AFTER_MS);
    c.tickStarted(10_000, 10_000, () => []);
    c.tickStarted(15_000, 15_000, () => [silentBefore, leftDuring, voice(0, 0)]);
    expect(c.check(18_900)).toEqual({ holding: true });
    expect(c.check(19_000)).toEqual({ holding: false, ended: { stalledMs: 5_000, heldMs: 4_000, complete: false } });
  });

  it('with nobody sending, nothing is held', () => {
    const c = new StallCatchUp(STALLED_AFTER_MS);
    c.tickStarted(10_000, 10_000, () => []);
    c.tickStarted(15_000, 15_000, () => []);
    expect(c.check(15_000)).toEqual({ holding: false, ended: { stalledMs: 5_000, heldMs: 0, complete: true } });
  });
});
