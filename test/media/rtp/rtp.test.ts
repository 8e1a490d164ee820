import { describe, expect, it } from 'vitest';
import { FrameMerger } from '../../../src/media/rtp/FrameMerger.js';
import { RtpClock } from '../../../src/media/rtp/RtpClock.js';
import { RtpStreamStats } from '../../../src/media/rtp/RtpStreamStats.js';
import { ntpToUnixMs } from '../../../src/media/rtp/senderReport.js';

describe('RtpClock', () => {
  it('unwraps 32-bit timestamps and never accumulates rounding', () => {
    const clock = new RtpClock(90_000);
    let ts = 0xffff_ffff - 3000 * 5;
    const times: number[] = [];
    // 10 000 frames at 30 fps (3000 ticks each), crossing the 32-bit wrap.
    for (let i = 0; i < 10_000; i++) {
      times.push(clock.toMs(clock.update(ts >>> 0)));
      ts += 3000;
    }
    expect(times[0]).toBe(0);
    expect(times[6]).toBe(200);
    expect(times.at(-1)).toBe(Math.round((9999 * 3000) / 90));
  });

  it('handles reordering (a timestamp slightly in the past)', () => {
    const clock = new RtpClock(48_000);
    clock.update(1000);
    expect(clock.toMs(clock.update(1960))).toBe(20);
    expect(clock.toMs(clock.update(1000))).toBe(0);
  });
});

describe('RtpStreamStats', () => {
  it('counts received and lost packets across the 16-bit sequence wrap', () => {
    const stats = new RtpStreamStats();
    let seq = 65_530;
    for (let i = 0; i < 20; i++) {
      if (i !== 7 && i !== 12) stats.onPacket(seq & 0xffff, 100);
      seq++;
    }
    expect(stats.packetsReceived).toBe(18);
    expect(stats.packetsLost).toBe(2);
    expect(stats.bytesReceived).toBe(1800);
  });
});

describe('ntpToUnixMs', () => {
  it('converts a 64-bit NTP timestamp', () => {
    const unixSeconds = 1_795_656_103;
    const ntp = (BigInt(unixSeconds + 2_208_988_800) << 32n) | BigInt(2 ** 31); // + 0.5 s
    expect(ntpToUnixMs(ntp)).toBe(unixSeconds * 1000 + 500);
  });
});

describe('FrameMerger', () => {
  const frame = (time: number, byte: number, isKeyframe = false) => ({ frame: { data: Buffer.from([byte]), isKeyframe, time } });

  it('merges same-time units (H.264 parameter sets + picture) and keeps times increasing', () => {
    const out: Array<{ time: number; data: number[]; key: boolean }> = [];
    const m = new FrameMerger(true).pipe((o) => o.frame && out.push({ time: o.frame.time, data: [...o.frame.data], key: o.frame.isKeyframe }));
    m.input(frame(0, 1, true));
    m.input(frame(0, 2));
    m.input(frame(33, 3));
    m.input({ eol: true });
    expect(out).toEqual([
      { time: 0, data: [1, 2], key: true },
      { time: 33, data: [3], key: false },
    ]);
  });

  it('drops late duplicates for VP8', () => {
    const out: number[] = [];
    const m = new FrameMerger(false);
    m.pipe((o) => o.frame && out.push(o.frame.time));
    for (const t of [0, 33, 33, 20, 66]) m.input(frame(t, 0));
    m.input({ eol: true });
    expect(out).toEqual([0, 33, 66]);
    expect(m.dropped).toBe(2);
  });
});
