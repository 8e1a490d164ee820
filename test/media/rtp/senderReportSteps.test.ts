import { describe, expect, it } from 'vitest';
import { SenderReportSteps } from '../../../src/media/rtp/senderReport.js';

describe('SenderReportSteps', () => {
  it('keeps only the reports that moved the RTP → NTP mapping, across a timestamp wrap', () => {
    const steps = new SenderReportSteps(48_000);
    const start = 0xffff_0000; // wraps within the first seconds
    const at = (sec: number, movedMs = 0) => ({ rtpTimestamp: (start + sec * 48_000) >>> 0, ntpTimeMs: 1_000_000 + sec * 1000 + movedMs });
    expect(steps.add(at(0))).toBe(false);
    expect(steps.add(at(5, 2))).toBe(false); // jitter within 5 ms
    expect(steps.add(at(10, -368))).toBe(true); // a starved capture caught up
    expect(steps.add(at(15, -366))).toBe(false); // steady again at the new mapping
    expect(steps.steps.map((s) => s.ntpTimeMs)).toEqual([1_000_000 + 10_000 - 368]);
  });

  it('is bounded', () => {
    const steps = new SenderReportSteps(90_000, 5, 3);
    for (let i = 0; i < 10; i++) steps.add({ rtpTimestamp: i * 90_000, ntpTimeMs: i * 1000 + (i % 2) * 100 });
    expect(steps.steps).toHaveLength(3);
  });
});
