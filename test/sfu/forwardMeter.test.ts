// The SFU's delay histogram: samples land in the right bucket and quantiles interpolate within it like Prometheus'
// histogram_quantile (the bench computes its window figures from /metrics the same way).
import { describe, expect, it } from 'vitest';
import { DELAY_BUCKETS_MS, ForwardMeter, histogramQuantile } from '../../src/sfu/ForwardMeter.js';

describe('ForwardMeter', () => {
  it('puts samples in the bucket whose bound is the first ≥ the sample, the rest in the overflow', () => {
    const m = new ForwardMeter();
    for (const ms of [0.01, 0.05, 0.06, 1, 1.2, 400]) m.observeDelay(ms);
    const at = (bound: number) => m.delayCounts[DELAY_BUCKETS_MS.indexOf(bound as (typeof DELAY_BUCKETS_MS)[number])];
    expect(at(0.05)).toBe(2); // 0.01 and 0.05 (a bound is inclusive, as Prometheus' le)
    expect(at(0.1)).toBe(1);
    expect(at(1)).toBe(1);
    expect(at(1.5)).toBe(1);
    expect(m.delayCounts[DELAY_BUCKETS_MS.length]).toBe(1);
    expect(m.delaySamples).toBe(6);
    expect(m.delaySumMs).toBeCloseTo(402.32, 6);
  });

  it('interpolates quantiles within a bucket and reads the overflow as the last bound', () => {
    const bounds = [1, 2, 4];
    // 10 samples in (0, 1], 10 in (1, 2], none in (2, 4], 0 overflow.
    expect(histogramQuantile(0.5, bounds, [10, 10, 0, 0])).toBe(1);
    expect(histogramQuantile(0.75, bounds, [10, 10, 0, 0])).toBe(1.5);
    expect(histogramQuantile(0.25, bounds, [10, 10, 0, 0])).toBe(0.5);
    expect(histogramQuantile(0.99, bounds, [0, 0, 1, 99])).toBe(4);
    expect(histogramQuantile(0.5, bounds, [0, 0, 0, 0])).toBeUndefined();
    const m = new ForwardMeter();
    for (let i = 0; i < 99; i++) m.observeDelay(0.15);
    m.observeDelay(20);
    expect(m.delayQuantileMs(0.5)).toBeGreaterThan(0.1);
    expect(m.delayQuantileMs(0.5)).toBeLessThanOrEqual(0.2);
    expect(m.delayQuantileMs(0.999)).toBeGreaterThan(15);
  });

  it('tells listeners of every sample (the /metrics histogram) until they unsubscribe', () => {
    const m = new ForwardMeter();
    const seen: number[] = [];
    const off = m.onDelay((ms) => seen.push(ms));
    m.observeDelay(2);
    off();
    m.observeDelay(3);
    expect(seen).toEqual([2]);
  });
});
