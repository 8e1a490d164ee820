// The budget a subscriber's receiver estimate (REMB) and loss allow, and the probes that find out when it got better.
// Time is passed in (ms); the estimates follow what Chromium 156 reported behind a 500 kbit/s relay (test/e2e/bandwidth).
import { describe, expect, it } from 'vitest';
import { BandwidthBudget, PROBE_BACKOFF_MAX_MS, PROBE_BACKOFF_MIN_MS, PROBE_MS } from '../../src/sfu/BandwidthBudget.js';

/** Feeds a rising estimate every 200 ms (+2 % each, as Chromium's on a free link) from `from` for `ms`. */
function rising(b: BandwidthBudget, start: number, ms: number, from: number): number {
  let bps = from;
  for (let t = start; t < start + ms; t += 200) {
    b.onEstimate(Math.round(bps), t);
    bps *= 1.02;
  }
  return start + ms;
}

describe('BandwidthBudget', () => {
  it('is unlimited while the link shows no congestion, however low the (slowly rising) estimate', () => {
    const b = new BandwidthBudget();
    rising(b, 0, 3000, 5_000);
    expect(b.budget).toBeUndefined();
    expect(b.onLoss(0.02, 800_000, 3000)).toBeUndefined();
    expect(b.budget).toBeUndefined();
  });

  it('loss ≥ 10 %: limited to the estimate and to what got through', () => {
    const b = new BandwidthBudget();
    b.onEstimate(370_000, 0);
    expect(b.onLoss(0.3, 800_000, 100)).toBe('congested');
    expect(b.budget).toBe(370_000);
    // A stale estimate above what got through (800 less half the 30 % lost = 680) is capped by the latter.
    const c = new BandwidthBudget();
    c.onEstimate(1_000_000, 0);
    c.onLoss(0.3, 800_000, 100);
    expect(c.budget).toBe(680_000);
  });

  it('a fall of the estimate is congestion too; later rises do not lift the limit (only a probe does)', () => {
    const b = new BandwidthBudget();
    b.onEstimate(1_000_000, 0);
    expect(b.onEstimate(600_000, 200)).toBe('congested');
    expect(b.budget).toBe(600_000);
    rising(b, 400, 1000, 650_000);
    expect(b.budget).toBe(600_000);
  });

  it('loss reported right after congestion is the queue draining: no further cut', () => {
    const b = new BandwidthBudget();
    b.onEstimate(370_000, 0);
    b.onLoss(0.3, 800_000, 100);
    expect(b.onLoss(0.3, 250_000, 600)).toBeUndefined();
    expect(b.budget).toBe(370_000);
  });

  it('probes after the back-off; a probe under which the estimate keeps rising holds and becomes the floor', () => {
    const b = new BandwidthBudget();
    b.onEstimate(300_000, 0);
    b.onLoss(0.3, 800_000, 0);
    expect(b.canProbe(PROBE_BACKOFF_MIN_MS - 1)).toBe(false);
    expect(b.canProbe(PROBE_BACKOFF_MIN_MS)).toBe(true);
    b.startProbe(900_000, PROBE_BACKOFF_MIN_MS);
    expect(b.budget).toBe(900_000);
    const end = rising(b, PROBE_BACKOFF_MIN_MS, PROBE_MS, 300_000);
    expect(b.tick(end)).toBe('probeHeld');
    expect(b.budget).toBe(900_000);
  });

  it('a probe that meets loss fails at once, back to the budget before it; the back-off doubles up to its maximum', () => {
    const b = new BandwidthBudget();
    b.onEstimate(300_000, 0);
    b.onLoss(0.3, 800_000, 0);
    let t = PROBE_BACKOFF_MIN_MS;
    let wait = PROBE_BACKOFF_MIN_MS;
    for (let i = 0; i < 4; i++) {
      expect(b.canProbe(t)).toBe(true);
      b.startProbe(900_000, t);
      // Behind a full link the estimate stays put; the receiver reports loss once the queue overflows.
      b.onEstimate(300_000, t + 200);
      expect(b.onLoss(0.06, 900_000, t + 800)).toBe('probeFailed');
      expect(b.budget).toBe(300_000);
      wait = Math.min(PROBE_BACKOFF_MAX_MS, i === 0 ? PROBE_BACKOFF_MIN_MS : wait * 2);
      t += 800 + wait;
      expect(b.canProbe(t - 300)).toBe(false);
    }
    expect(wait).toBe(PROBE_BACKOFF_MAX_MS);
  });

  it('a probe holds on a free link even when the estimate barely rises (it met a limit before)', () => {
    const b = new BandwidthBudget();
    b.onEstimate(250_000, 0);
    b.onLoss(0.3, 800_000, 0);
    b.startProbe(800_000, PROBE_BACKOFF_MIN_MS);
    let event;
    for (let t = PROBE_BACKOFF_MIN_MS + 200; t <= PROBE_BACKOFF_MIN_MS + PROBE_MS && !event; t += 200) {
      event = b.onEstimate(251_000, t) ?? b.onLoss(0, 800_000, t) ?? b.tick(t);
    }
    expect(event).toBe('probeHeld');
    expect(b.budget).toBe(800_000);
  });

  it('at the start, an estimate far below what is sent for 2 s is congestion (Chromium behind a full link may never fall)', () => {
    const b = new BandwidthBudget();
    let event;
    for (let t = 0; t <= 2000 && !event; t += 200) event = b.onEstimate(160_000 + t * 20, t, 850_000);
    expect(event).toBe('congested');
    // Not when little is sent (a still picture's estimate is tiny and means nothing).
    const c = new BandwidthBudget();
    for (let t = 0; t <= 4000; t += 200) expect(c.onEstimate(5_000, t, 30_000)).toBeUndefined();
  });

  it('loss during a probe (after its first moments) fails it', () => {
    const b = new BandwidthBudget();
    b.onEstimate(300_000, 0);
    b.onLoss(0.3, 800_000, 0);
    b.startProbe(900_000, PROBE_BACKOFF_MIN_MS);
    expect(b.onLoss(0.2, 900_000, PROBE_BACKOFF_MIN_MS + 100)).toBeUndefined(); // about what was sent before it
    expect(b.onLoss(0.2, 900_000, PROBE_BACKOFF_MIN_MS + 600)).toBe('probeFailed');
    expect(b.budget).toBe(300_000);
  });
});

describe('BandwidthBudget backlog', () => {
  it('a probe fails when two receiver reports in a row show the receiver ≥ 100 ms behind what was sent', () => {
    const b = new BandwidthBudget();
    b.onEstimate(300_000, 0);
    b.onLoss(0.3, 800_000, 0);
    const t = PROBE_BACKOFF_MIN_MS;
    b.startProbe(900_000, t);
    // Measured on a free link: 0-5 ms; behind a full 500 kbit/s one: ~130, ~270, ~300 ms, one report every ~200 ms.
    expect(b.onBacklog(130, t + 200)).toBeUndefined();
    expect(b.onBacklog(3, t + 450)).toBeUndefined(); // not in a row
    expect(b.onBacklog(270, t + 850)).toBeUndefined();
    expect(b.onBacklog(300, t + 1050)).toBe('probeFailed');
    expect(b.budget).toBe(300_000);
    // Outside a probe a backlog changes nothing (event-loop lag here can look like one).
    expect(b.onBacklog(500, t + 1250)).toBeUndefined();
  });
});
