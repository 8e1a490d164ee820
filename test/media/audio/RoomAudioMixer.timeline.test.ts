import { describe, expect, it } from 'vitest';
import { RoomAudioMixer } from '../../../src/media/audio/RoomAudioMixer.js';
import type { RoomAudioMixerOptions } from '../../../src/media/audio/RoomAudioMixerTypes.js';
import { detectBeepOnsets, envelope, toneLevels } from '../../harness/analyze.js';
import { onTime, runMixer, type Delivery } from './mixerDriver.js';
import { encodeOpus, type OpusPacket } from './oggOpusPackets.js';
import { beeps, SR, toneBursts } from './signals.js';
import { libopus } from '../../../src/media/audio/libopus.js';
import { encodeFrames, sine } from './liveVoices.js';

const BASE: RoomAudioMixerOptions = { sampleRate: SR, channels: 1, maxSpeakers: 3, frameMs: 20 };
const slice = (pcm: Float32Array, fromMs: number, toMs: number): Float32Array =>
  pcm.subarray(Math.round((fromMs * SR) / 1000), Math.round((toMs * SR) / 1000));
const steadyTone = async (freq: number, totalMs: number, amplitude = 0.5): Promise<OpusPacket[]> =>
  (await encodeOpus(toneBursts({ freq, totalMs, segments: [{ fromMs: 0, toMs: totalMs, amplitude }], burstOffMs: 0 }))).packets;
const same = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const peakAbs = (pcm: Float32Array): number => pcm.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('RoomAudioMixer: timeline placement', () => {
  it('keeps audio at its timeline position through loss, outages and timestamp jitter (no drift)', async () => {
    const beepAt = Array.from({ length: 20 }, (_, i) => 200 + 400 * i); // 200 … 7800 ms
    const { packets } = await encodeOpus(beeps({ freq: 1000, totalMs: 8000, atMs: beepAt, beepMs: 80, amplitude: 0.5 }));
    const offset = 300;
    // Outages (source time): a short one between beeps, and a long one that swallows two beeps.
    const outages = [
      [2300, 2590],
      [4700, 5790],
    ] as const;
    const inOutage = (ms: number): boolean => outages.some(([a, b]) => ms >= a && ms < b);
    // Every 11th packet lost, plus two outages; timestamps rounded to whole ms with ±1 ms jitter (like RTP → ms).
    const lost = packets.map((p, i) => i % 11 === 5 || inOutage(p.ptsMs));
    const deliveries: Delivery[] = [];
    packets.forEach((p, index) => {
      if (lost[index]) return;
      const timelineMs = Math.round(offset + p.ptsMs + ((index * 7) % 3) - 1);
      deliveries.push({ index, timelineMs, arriveMs: timelineMs - 60, mediaMs: p.ptsMs });
    });

    const mixer = new RoomAudioMixer(BASE);
    const { pcm } = await runMixer(mixer, [{ id: 'b', packets, deliveries }], 8500);

    // Every beep that was sent (not inside an outage) starts where the timeline says, within one frame (a lost first
    // packet of a beep can delay its onset by up to a packet); a concatenating mixer would be 290 ms early after 2.6 s.
    const expected = beepAt.filter((t) => !inOutage(t)).map((t) => t + offset);
    expect(expected).toHaveLength(18);
    const onsets = detectBeepOnsets(pcm, SR, { minGapMs: 100 }).map((s) => s * 1000);
    expect(onsets).toHaveLength(expected.length);
    onsets.forEach((t, i) => {
      expect(t).toBeGreaterThanOrEqual(expected[i]! - 20);
      expect(t).toBeLessThanOrEqual(expected[i]! + 20);
    });
    // Each loss got one packet of concealment (and the end of the stream, which looks the same), longer runs a gap of
    // silence; the jitter was absorbed (nothing overlapped, nothing concealed because of it).
    // Losses are concealed for up to 3 packets, longer runs (the outages) continue as silence.
    let concealed = 0;
    let runs = 0;
    lost.forEach((l, i) => {
      if (!l || lost[i - 1]) return;
      let len = 0;
      while (lost[i + len]) len++;
      concealed += Math.min(3, len);
      if (len > 3) runs++;
    });
    const stats = mixer.trackStats().get('b')!;
    expect(stats).toMatchObject({ received: deliveries.length, decoded: deliveries.length, gaps: runs, overlapping: 0, late: 0 });
    expect(repairedSamples(stats)).toBe((concealed + 3) * 960);
  });

  it('follows a changed mapping by slewing (no cut, no doubled audio) and jumps only beyond 300 ms', async () => {
    const packets = await steadyTone(700, 12_000);
    // The recorder's mapping of this sender moves mid-stream (a first sender report, a better clock offset): 80 ms
    // earlier at 1 s, back at 5 s; at 10 s it jumps 500 ms later (the sender's clock stepped).
    const shift = (mediaMs: number): number => (mediaMs < 1000 ? 0 : mediaMs < 5000 ? -80 : mediaMs < 10_000 ? 0 : 500);
    const deliveries: Delivery[] = packets.map((p, index) => {
      const timelineMs = 200 + p.ptsMs + shift(p.ptsMs);
      return { index, timelineMs, arriveMs: Math.min(200 + p.ptsMs, timelineMs) - 100, mediaMs: p.ptsMs };
    });
    const mixer = new RoomAudioMixer(BASE);
    const { pcm } = await runMixer(mixer, [{ id: 's', packets, deliveries }], 13_000);
    const stats = mixer.trackStats().get('s')!;
    // Every packet decoded once: nothing dropped as overlapping, nothing concealed but the end of the stream.
    expect(stats).toMatchObject({ decoded: packets.length, overlapping: 0, late: 0, gaps: 0, concealedSamples: 6 * 960, reanchors: 1 });
    // Continuous through both slews: no 5 ms window without the tone from 0.3 s until the jump is known (10.1 s).
    const env = envelope(slice(pcm, 300, 10_100), SR, 5);
    expect(Math.min(...env.map((w) => w.rms))).toBeGreaterThan(0.25);
    // Slewed 80 ms back and forth at ≤ 2 % (80 ms take ≥ 4 s), and the audio sits where the mapping says once it has
    // caught up. The jump applies to what is still queued too (the newest mapping is the best one): 500 ms of silence
    // (after 60 ms of concealment), then the rest 500 ms later than before.
    expect(Math.abs(stats.slewedSamples)).toBeLessThanOrEqual(48);
    expect(peakAbs(slice(pcm, 10_230, 10_610))).toBe(0);
    expect(peakAbs(slice(pcm, 10_650, 10_690))).toBeGreaterThan(0.3);
  });

  it('conceals a single lost packet and leaves a longer outage silent, resuming on time', async () => {
    const packets = await steadyTone(600, 4000);
    const lostAt = (p: OpusPacket): boolean => (p.ptsMs >= 1190 && p.ptsMs < 1210) || (p.ptsMs >= 2390 && p.ptsMs < 2790);
    const deliveries = onTime(packets).filter((d) => !lostAt(packets[d.index]!));
    expect(packets.length - deliveries.length).toBe(21);
    const mixer = new RoomAudioMixer(BASE);
    const { pcm } = await runMixer(mixer, [{ id: 't', packets, deliveries }], 4000);

    // No hole where the single packet was lost (PLC continues the tone); a silent packet would give ≥ 3 silent 5 ms windows.
    const around = envelope(slice(pcm, 1100, 1300), SR, 5);
    expect(Math.min(...around.map((w) => w.rms))).toBeGreaterThan(0.1);
    expect(mixer.trackStats().get('t')).toMatchObject({ gaps: 1 });
    expect(repairedSamples(mixer.trackStats().get('t')!)).toBe((1 + 3) * 960);
    // The outage (2393.5 – 2793.5 ms) is concealed for three packets (libopus fades its guess), fades out over 10 ms,
    // then is digital silence…
    expect(envelope(slice(pcm, 2394, 2414), SR, 5).every((w) => w.rms > 0.1)).toBe(true);
    expect(peakAbs(slice(pcm, 2464, 2793))).toBe(0);
    // …and the tone resumes right at 2.8 s at full level.
    const after = toneLevels(slice(pcm, 2800, 3900), SR, [600], { windowMs: 50, hopMs: 50 });
    for (const w of after) expect(w.levels[0]).toBeGreaterThan(0.45);
    expect(peakAbs(slice(pcm, 2790, 2800))).toBeGreaterThan(0.3);
  });

  it.runIf(libopus() !== undefined)("decodes a lost packet from the next one's FEC data (what the sender said), placed where it belonged", async () => {
    // 500 Hz for 1 s, then 1300 Hz; the first 1300 Hz packet (50) is lost. Concealment would guess more 500 Hz.
    const signal = new Float32Array(2 * SR);
    signal.set(sine(500, 0.3, 1000));
    signal.set(sine(1300, 0.3, 1000), SR);
    const packets: OpusPacket[] = encodeFrames(signal, { expectedLossPercent: 20 }).map((data, k) => ({ data, ptsMs: 20 * k, samples: 960 }));
    const mixer = new RoomAudioMixer(BASE);
    const { pcm } = await runMixer(mixer, [{ id: 'f', packets, deliveries: onTime(packets, 100).filter((d) => d.index !== 50) }], 2200);
    expect(mixer.trackStats().get('f')).toMatchObject({ fecDecoded: 1, gaps: 0 });
    const [low, high] = toneLevels(slice(pcm, 100 + 1002, 100 + 1018), SR, [500, 1300], { windowMs: 16, hopMs: 16 })[0]!.levels;
    expect(high!).toBeGreaterThan(0.1);
    expect(high!).toBeGreaterThan(3 * low!);
  });

  it('decodes reordered and duplicated packets in timeline order; drops late ones like lost ones', async () => {
    const packets = (await encodeOpus(toneBursts({ freq: 800, totalMs: 3000, segments: [{ fromMs: 0, toMs: 3000, amplitude: 0.5 }] }))).packets;
    const clean = onTime(packets, 0, 100);
    // Pairs swapped, every 5th packet twice.
    const messy: Delivery[] = clean.flatMap((d) => {
      const swapped = { ...d, arriveMs: d.arriveMs + (d.index % 2 === 0 ? 5 : -25) };
      return d.index % 5 === 0 ? [swapped, { ...swapped, arriveMs: swapped.arriveMs + 30 }] : [swapped];
    });
    // Packet 50 comes 300 ms after the mix played it (= lost); compare with simply losing it.
    const late = clean.map((d) => (d.index === 50 ? { ...d, arriveMs: d.timelineMs + 300 } : d));
    const lost = clean.filter((d) => d.index !== 50);

    const run = async (deliveries: Delivery[]) => {
      const mixer = new RoomAudioMixer(BASE);
      const { pcm } = await runMixer(mixer, [{ id: 'x', packets, deliveries }], 3000);
      return { pcm, stats: mixer.trackStats().get('x')! };
    };
    const [a, b, c, d] = await Promise.all([run(clean), run(messy), run(late), run(lost)]);
    expect(same(b.pcm, a.pcm)).toBe(true);
    expect(b.stats).toMatchObject({ overlapping: Math.ceil(packets.length / 5), late: 0, gaps: 0, concealedSamples: 0 });
    expect(same(c.pcm, d.pcm)).toBe(true);
    expect(same(c.pcm, a.pcm)).toBe(false);
    expect(c.stats).toMatchObject({ late: 1 });
    expect(repairedSamples(c.stats)).toBe(960);
  });
});

describe('RoomAudioMixer: bounded memory and robustness', () => {
  it('drops packets far ahead or behind, bounds a flooded queue, and keeps mixing the others', async () => {
    const tone = await steadyTone(700, 6000, 0.3);
    // Quiet junk (below silenceDb, never mixed), so the check below sees only the tone.
    const junk = await steadyTone(1200, 2000, 0.002);
    const mixer = new RoomAudioMixer(BASE);
    mixer.addTrack('flood', { id: 'f', name: 'flood' });
    let checked = false;
    const { pcm } = await runMixer(mixer, [{ id: 'tone', packets: tone }], 6000, {
      onFrame: (frame) => {
        if (frame.timelineMs !== 1000) return;
        const now = mixer.nextFrameMs;
        mixer.pushOpus('flood', junk[0]!.data, now + 20_000); // far ahead
        mixer.pushOpus('flood', junk[0]!.data, now + 8500); // beyond the 8 s horizon
        mixer.pushOpus('flood', junk[0]!.data, now - 5000); // long played
        mixer.pushOpus('flood', junk[0]!.data, Number.NaN);
        mixer.pushOpus('flood', new Uint8Array(0), now + 100);
        mixer.pushOpus('nobody', junk[0]!.data, now + 100); // unknown track: ignored
        // 5000 packets at pseudo-random places within the horizon.
        for (let i = 0; i < 5000; i++) mixer.pushOpus('flood', junk[i % junk.length]!.data, now + ((i * 7919) % 1990));
        const s = mixer.trackStats().get('flood')!;
        expect(s).toMatchObject({ tooFarAhead: 2, late: 1, invalid: 2, overflow: 5000 - 800, queued: 800 });
        expect(mixer.trackStats().has('nobody')).toBe(false);
        checked = true;
      },
    });
    expect(checked).toBe(true);
    const s = mixer.trackStats().get('flood')!;
    expect(s.queued).toBe(0);
    expect(s.bufferedSamples).toBe(0);
    // The flood was junk on top of a tone: the tone is still there, at its level.
    const w = toneLevels(slice(pcm, 500, 5900), SR, [700], { windowMs: 100, hopMs: 100 });
    for (const x of w) expect(x.levels[0]).toBeGreaterThan(0.27);
  });

  it('accepts packets up to 2 s ahead, keeps its own copy, and plays them when their time comes', async () => {
    const encoded = await steadyTone(500, 1000);
    // Like werift's payloads: views into one Buffer, which the caller then reuses (here: zeroes) right after pushing.
    const shared = Buffer.concat(encoded.map((p) => p.data));
    let at = 0;
    const packets = encoded.map((p) => ({ ...p, data: shared.subarray(at, (at += p.data.length)) }));
    const mixer = new RoomAudioMixer(BASE);
    // All pushed at once before the first frame, for 1.0 – 2.0 s.
    const { pcm } = await runMixer(mixer, [{ id: 'a', packets, offsetMs: 1000, leadMs: 1990 }], 2500, {
      onFrame: (f) => f.timelineMs === 0 && shared.fill(0),
    });
    expect(mixer.trackStats().get('a')).toMatchObject({ received: packets.length, decoded: packets.length, tooFarAhead: 0 });
    expect(peakAbs(slice(pcm, 0, 990))).toBe(0);
    const w = toneLevels(slice(pcm, 1100, 1900), SR, [500], { windowMs: 100, hopMs: 100 });
    for (const x of w) expect(x.levels[0]).toBeGreaterThan(0.45);
  });

  it('never throws before the decoders are ready (packets due then are dropped) and with nobody to mix', async () => {
    const packets = await steadyTone(500, 200);
    const mixer = new RoomAudioMixer(BASE);
    mixer.addTrack('a', { id: 'a', name: 'a' });
    for (const p of packets) mixer.pushOpus('a', p.data, p.ptsMs);
    const first = mixer.mixNext();
    if (libopus()) {
      // The system libopus is ready at once.
      expect(mixer.trackStats().get('a')!.notReady).toBe(0);
    } else {
      // Synchronously: the WASM decoder is still starting.
      expect(first.pcm.every((s) => s === 0)).toBe(true);
      expect(mixer.trackStats().get('a')!.notReady).toBeGreaterThan(0);
    }
    await mixer.whenReady();
    // The packets due later play as usual.
    for (let i = 0; i < 5; i++) mixer.mixNext();
    expect(Math.max(...mixer.mixNext().pcm)).toBeGreaterThan(0.4 * 32767);

    const none = new RoomAudioMixer({ ...BASE, maxSpeakers: 0 });
    const { frames } = await runMixer(none, [{ id: 'a', packets }], 200);
    expect(frames.every((f) => f.speakers.length === 0 && f.pcm.every((s) => s === 0))).toBe(true);
    expect(() => new RoomAudioMixer({ ...BASE, sampleRate: 44_100 })).toThrow(RangeError);
    expect(() => new RoomAudioMixer({ ...BASE, frameMs: 0.01 })).toThrow(RangeError);
  });
});

/** Samples a loss cost the decoder: concealed, or decoded from the next packet's FEC (20 ms packets here). */
function repairedSamples(stats: { concealedSamples: number; fecDecoded: number }): number {
  return stats.concealedSamples + stats.fecDecoded * 960;
}
