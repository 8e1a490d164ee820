import { describe, expect, it } from 'vitest';
import { LEVEL_FLOOR_DB, LoudnessMeter } from '../../../src/media/audio/LoudnessMeter.js';
import { OpusDecoder } from 'opus-decoder';
import { OpusFrameEncoder } from '../../../src/media/audio/OpusFrameEncoder.js';
import { joinOpusFrames, lostFramePacket, opusPacketSamples } from '../../../src/media/audio/opusPacket.js';
import { PcmRing } from '../../../src/media/audio/PcmRing.js';
import { PeakLimiter } from '../../../src/media/audio/PeakLimiter.js';
import { SpeakerSelector } from '../../../src/media/audio/SpeakerSelector.js';
import { SR, toneBursts } from './signals.js';

const ramp = (from: number, n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => from + i);

describe('PcmRing', () => {
  it('places samples by absolute index, reads silence where nothing was written, clears what it read', () => {
    const ring = new PcmRing(16, 100);
    expect(ring.capacity).toBe(16);
    ring.write(104, ramp(1, 3));
    const out = new Float32Array(8);
    ring.read(out);
    expect([...out]).toEqual([0, 0, 0, 0, 1, 2, 3, 0]);
    expect(ring.readIndex).toBe(108);
    // The slots just read are clear when the ring wraps around to them again.
    ring.skipTo(116);
    ring.read(out);
    expect([...out]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('drops the part of a write that is already played or beyond capacity, and wraps', () => {
    const ring = new PcmRing(16, 10);
    expect(ring.write(6, ramp(1, 8))).toBe(4); // 6..9 already played
    expect(ring.write(20, ramp(100, 20))).toBe(6); // only up to 10 + 16
    expect(ring.buffered).toBe(16);
    const out = new Float32Array(16);
    ring.read(out);
    expect([...out]).toEqual([5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 100, 101, 102, 103, 104, 105]);
    expect(ring.buffered).toBe(0);
    ring.write(28, ramp(1, 10)); // wraps inside the buffer
    ring.read(out);
    expect([...out]).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0, 0, 0]);
  });

  it('supports sample indices beyond 2^31 (recordings longer than 12 h)', () => {
    const start = 2 ** 33 + 5;
    const ring = new PcmRing(8, start);
    ring.write(start + 2, ramp(7, 2));
    const out = new Float32Array(4);
    ring.read(out);
    expect([...out]).toEqual([0, 0, 7, 8]);
  });
});

describe('opusPacketSamples', () => {
  it('reads the duration from the TOC byte', () => {
    expect(opusPacketSamples(Uint8Array.of(0xfc, 1))).toBe(960); // CELT FB 20 ms, 1 frame (what ffmpeg/browsers send)
    expect(opusPacketSamples(Uint8Array.of(0x78, 1))).toBe(960); // Hybrid FB 20 ms
    expect(opusPacketSamples(Uint8Array.of(0x08 | 1, 1))).toBe(1920); // SILK NB 20 ms, 2 frames
    expect(opusPacketSamples(Uint8Array.of(0x18 | 3, 2))).toBe(2 * 2880); // SILK NB 60 ms, 2 frames (code 3)
    expect(opusPacketSamples(Uint8Array.of(0x80 | 3, 48))).toBe(48 * 120); // CELT NB 2.5 ms ×48 = 120 ms
    expect(opusPacketSamples(Uint8Array.of(0xfc, 1), 16_000)).toBe(320);
  });

  it('rejects empty and impossible packets', () => {
    expect(opusPacketSamples(new Uint8Array(0))).toBe(0);
    expect(opusPacketSamples(Uint8Array.of(0x18 | 3))).toBe(0); // code 3 without frame count
    expect(opusPacketSamples(Uint8Array.of(0x18 | 3, 2 | 0x80))).toBe(2 * 2880); // VBR flag is not part of the count
    expect(opusPacketSamples(Uint8Array.of(0x18 | 3, 3))).toBe(0); // 180 ms > 120 ms
    expect(opusPacketSamples(Uint8Array.of(0x18 | 3, 0))).toBe(0);
  });
});

describe('lostFramePacket', () => {
  it('is the TOC alone, 20 ms in the same mode and bandwidth, keeping the stereo flag', () => {
    expect([...lostFramePacket(0x78 | 1)]).toEqual([0x78]); // Hybrid FB 20 ms, 2 frames → 1 frame
    expect([...lostFramePacket(0x70)]).toEqual([0x78]); // Hybrid FB 10 ms → 20 ms
    expect([...lostFramePacket(0x58 | 4)]).toEqual([0x48 | 4]); // SILK WB 60 ms stereo → SILK WB 20 ms stereo
    expect([...lostFramePacket(0xf0 | 3)]).toEqual([0xf8]); // CELT FB 10 ms → 20 ms
    for (const toc of [0x00, 0x48, 0x60, 0x78, 0x80, 0xf8]) expect(opusPacketSamples(lostFramePacket(toc))).toBe(960);
  });
});

describe('LoudnessMeter', () => {
  const frameMs = 20;
  const frames = (pcm: Float32Array): Float32Array[] =>
    Array.from({ length: Math.floor(pcm.length / 960) }, (_, i) => pcm.subarray(i * 960, (i + 1) * 960));

  it('holds a steady level through the gaps of 180 ms on / 70 ms off bursts', () => {
    const m = new LoudnessMeter({ frameMs });
    const levels = frames(toneBursts({ freq: 500, totalMs: 3000, segments: [{ fromMs: 0, toMs: 3000, amplitude: 0.5 }] })).map((f) =>
      m.push(f),
    );
    const settled = levels.slice(15);
    // Sine RMS 0.354 (-9 dB) at a 72 % duty cycle: about -10.4 dBFS.
    expect(Math.max(...settled) - Math.min(...settled)).toBeLessThan(1);
    expect(Math.min(...settled)).toBeGreaterThan(-12);
    expect(Math.max(...settled)).toBeLessThan(-9);
  });

  it('falls to the floor after the voice stops: hold, then release', () => {
    const m = new LoudnessMeter({ frameMs, peakHoldMs: 300, releaseDbPerSec: 40 });
    const tone = toneBursts({ freq: 500, totalMs: 1000, segments: [{ fromMs: 0, toMs: 1000, amplitude: 0.5, }], burstOffMs: 0 });
    for (const f of frames(tone)) m.push(f);
    const top = m.levelDb;
    expect(top).toBeCloseTo(-9, 0);
    const silence = new Float32Array(960);
    const after: number[] = [];
    for (let i = 0; i < 100; i++) after.push(m.push(silence));
    expect(m.windowDb).toBe(LEVEL_FLOOR_DB);
    expect(after[13]).toBe(top); // still held at 280 ms
    // 40 dB/s after the 300 ms hold: -50 dBFS about 1 s later.
    const below = after.findIndex((l) => l < -50) * frameMs;
    expect(below).toBeGreaterThan(1100);
    expect(below).toBeLessThan(1500);
    expect(after[99]).toBeLessThan(-75);
  });
});

describe('PeakLimiter', () => {
  it('leaves quiet signals alone and keeps loud ones under the ceiling without flattening them', () => {
    const lim = new PeakLimiter(SR, { ceiling: 0.9 });
    const quiet = toneBursts({ freq: 440, totalMs: 200, segments: [{ fromMs: 0, toMs: 200, amplitude: 0.5 }], burstOffMs: 0 });
    const copy = quiet.slice();
    lim.process(quiet);
    expect([...quiet]).toEqual([...copy]);

    const loud = toneBursts({ freq: 440, totalMs: 500, segments: [{ fromMs: 0, toMs: 500, amplitude: 2.7 }], burstOffMs: 0 });
    lim.process(loud);
    let peak = 0;
    for (const x of loud) peak = Math.max(peak, Math.abs(x));
    expect(peak).toBeLessThanOrEqual(0.9);
    expect(peak).toBeGreaterThan(0.85);
    // Gain settles (≈ 0.9 / 2.7) instead of clipping: the last cycle is still a sine of about 0.9 amplitude.
    expect(lim.gain).toBeCloseTo(0.9 / 2.7, 2);
  });

  it('never exceeds the ceiling, also while the gain recovers between peaks', () => {
    const lim = new PeakLimiter(SR);
    const x = new Float32Array(SR);
    for (let i = 0; i < x.length; i++) x[i] = 2.5 * Math.sin(i * 0.07) * Math.sin(i * 0.0011) + 0.4 * Math.sin(i * 0.31);
    lim.process(x);
    expect(x.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThanOrEqual(Math.fround(0.95));
  });
});

describe('SpeakerSelector', () => {
  const opts = { maxSpeakers: 2, holdMs: 1000, displaceMarginDb: 6, silenceDb: -50 };
  const v = (levels: Record<string, number>) => Object.entries(levels).map(([id, levelDb]) => ({ id, levelDb }));

  it('fills free slots with the loudest voices at once, loudest first, ignoring silent ones', () => {
    const s = new SpeakerSelector(opts);
    expect(s.update(0, v({ a: -60, b: -20, c: -30, d: -10 }))).toEqual(['d', 'b']);
    expect(s.update(20, v({ a: -60, b: -5, c: -30, d: -10 }))).toEqual(['b', 'd']);
    expect(new SpeakerSelector(opts).update(0, v({ a: -60, b: -70 }))).toEqual([]);
    expect(new SpeakerSelector({ ...opts, maxSpeakers: 0 }).update(0, v({ a: -10 }))).toEqual([]);
  });

  it('needs the margin to displace, and never displaces a voice within its hold', () => {
    const s = new SpeakerSelector(opts);
    s.update(0, v({ a: -20, b: -30 }));
    // c is louder than b but not by 6 dB.
    expect(s.update(2000, v({ a: -20, b: -30, c: -25 }))).toEqual(['a', 'b']);
    // c clears the margin over b (the quietest).
    expect(s.update(2020, v({ a: -20, b: -30, c: -24 }))).toEqual(['a', 'c']);
    // d is far louder than c, but c joined 20 ms ago: d may only displace a (the quietest displaceable), by 6 dB.
    expect(s.update(2040, v({ a: -20, b: -30, c: -24, d: -15 }))).toEqual(['a', 'c']);
    expect(s.update(2060, v({ a: -20, b: -30, c: -24, d: -14 }))).toEqual(['d', 'c']);
    // c's hold ends at 3020: then e (6 dB over c) gets in, but not before.
    expect(s.update(3000, v({ a: -20, c: -24, d: -14, e: -18 }))).toEqual(['d', 'c']);
    expect(s.update(3020, v({ a: -20, c: -24, d: -14, e: -18 }))).toEqual(['d', 'e']);
  });

  it('drops silent voices only after their hold, and voices that are gone at once', () => {
    const s = new SpeakerSelector(opts);
    s.update(0, v({ a: -20, b: -30 }));
    expect(s.update(500, v({ a: -80, b: -30 }))).toEqual(['b', 'a']);
    expect(s.update(1000, v({ a: -80, b: -30 }))).toEqual(['b']);
    expect(s.update(1020, v({ a: -80 }))).toEqual([]);
  });
});

describe('joinOpusFrames', () => {
  it('packs two 20 ms packets into one 40 ms packet that decodes to exactly the same samples', async () => {
    // Speech-like input that moves the encoder between sizes (code 1 and code 2) and through silence.
    const encoder = new OpusFrameEncoder();
    const packets: Buffer[] = [];
    const pcm = new Float32Array(960);
    let phase = 0;
    for (let f = 0; f < 100; f++) {
      const amplitude = f % 10 < 6 ? 0.3 * (1 + Math.sin(f / 3)) : 0;
      for (let i = 0; i < 960; i++) pcm[i] = amplitude * Math.sin((phase += (2 * Math.PI * (300 + 40 * (f % 7))) / SR));
      packets.push(encoder.encode(pcm));
    }
    encoder.free();
    const single = new OpusDecoder({ channels: 1, sampleRate: 48_000 });
    const joined = new OpusDecoder({ channels: 1, sampleRate: 48_000 });
    await Promise.all([single.ready, joined.ready]);
    const codes = new Set<number>();
    let pairs = 0;
    for (let f = 0; f + 1 < packets.length; f += 2) {
      const both = joinOpusFrames(packets[f]!, packets[f + 1]!);
      const a = single.decodeFrame(packets[f]!).channelData[0]!;
      const b = single.decodeFrame(packets[f + 1]!).channelData[0]!;
      if (!both) {
        expect(packets[f]![0]).not.toBe(packets[f + 1]![0]); // only frames of different TOCs stay apart
        joined.decodeFrame(packets[f]!);
        joined.decodeFrame(packets[f + 1]!);
        continue;
      }
      pairs++;
      codes.add(both[0]! & 3);
      expect(opusPacketSamples(both)).toBe(1920);
      expect(both.length).toBeLessThanOrEqual(packets[f]!.length + packets[f + 1]!.length + 1);
      const out = joined.decodeFrame(both).channelData[0]!;
      expect(out.length).toBe(1920);
      expect(Array.from(out.subarray(0, 960))).toEqual(Array.from(a));
      expect(Array.from(out.subarray(960))).toEqual(Array.from(b));
    }
    single.free();
    joined.free();
    expect(pairs).toBeGreaterThan(40);
    expect(codes.has(2)).toBe(true);
  });

  it('writes a first frame of 252 bytes or more in two length bytes, and refuses what cannot share a packet', () => {
    const toc = 0xf8; // CELT FB 20 ms, mono, one frame
    const big = Buffer.concat([Buffer.of(toc), Buffer.alloc(300, 7)]);
    const small = Buffer.concat([Buffer.of(toc), Buffer.alloc(10, 9)]);
    const both = joinOpusFrames(big, small)!;
    expect([both[0], both[1], both[2]]).toEqual([toc | 2, 252 + (300 & 3), (300 - 252 - (300 & 3)) >> 2]);
    expect(both[1]! + 4 * both[2]!).toBe(300);
    expect(both.length).toBe(1 + 2 + 300 + 10);
    expect(joinOpusFrames(small, Buffer.concat([Buffer.of(toc | 4), Buffer.alloc(10)]))).toBeUndefined(); // stereo flag differs
    expect(joinOpusFrames(small, Buffer.concat([Buffer.of(0x78), Buffer.alloc(10)]))).toBeUndefined(); // other mode
    expect(joinOpusFrames(Buffer.of(toc | 1, 1, 2), small)).toBeUndefined(); // already two frames
    expect(joinOpusFrames(new Uint8Array(0), small)).toBeUndefined();
  });
});
