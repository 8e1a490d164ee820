import { describe, expect, it } from 'vitest';
import { OpusFrameEncoder } from '../../../src/media/audio/OpusFrameEncoder.js';
import { opusPacketSamples } from '../../../src/media/audio/opusPacket.js';
import { decodeStream, meanToneLevels, sine } from './liveVoices.js';

const frames = (pcm: Float32Array): Float32Array[] => Array.from({ length: pcm.length / 960 }, (_, i) => pcm.subarray(i * 960, (i + 1) * 960));

describe('OpusFrameEncoder', () => {
  it('encodes 20 ms mono frames that decode to the same tone at about 32 kbit/s', async () => {
    const enc = new OpusFrameEncoder();
    const packets = frames(sine(440, 0.5, 2000)).map((f) => enc.encode(f));
    enc.free();
    expect(packets.every((p) => opusPacketSamples(p) === 960)).toBe(true);
    const kbps = (packets.reduce((n, p) => n + p.length, 0) * 8) / 2 / 1000;
    expect(kbps).toBeGreaterThan(24);
    expect(kbps).toBeLessThan(36);
    const pcm = await decodeStream(packets);
    const [tone, off] = meanToneLevels(pcm, [440, 700], 200, 1900);
    expect(tone).toBeGreaterThan(0.45);
    expect(tone).toBeLessThan(0.55);
    expect(off).toBeLessThan(0.005);
  });

  it('clamps samples beyond full scale instead of wrapping them', async () => {
    const enc = new OpusFrameEncoder();
    const packets = frames(sine(300, 2, 1000)).map((f) => enc.encode(f));
    enc.free();
    const pcm = await decodeStream(packets);
    // A sine clipped at ±1 (a wrapped one would be full of noise): its fundamental is 4/π × 1 ≈ 1.27 with odd harmonics.
    const [fundamental, third, between] = meanToneLevels(pcm, [300, 900, 450], 200, 900);
    expect(fundamental).toBeGreaterThan(1.1);
    expect(third).toBeGreaterThan(0.2);
    expect(between).toBeLessThan(0.03);
  });

  it('keeps working with hundreds of encoders alive (opusscript’s own wrapper breaks at ~80)', () => {
    const frame = sine(440, 0.5, 20);
    const first = new OpusFrameEncoder();
    const expected = first.encode(frame);
    // ~100 KB of WASM heap each: the memory grows past its initial 16 MB on the way.
    const many = Array.from({ length: 250 }, () => new OpusFrameEncoder());
    for (const e of many) expect(e.encode(frame).equals(expected)).toBe(true);
    for (const e of many) e.free();
    // The first one's state went on from its first frame: it still encodes (no detached views after the growth).
    expect(opusPacketSamples(first.encode(frame))).toBe(960);
    first.free();
    expect(() => first.encode(frame)).toThrow(/freed/);
  });
});
