import { describe, expect, it } from 'vitest';
import { LiveAudioMix } from '../../../src/media/audio/LiveAudioMix.js';
import type { LiveMixFrame } from '../../../src/media/audio/LiveAudioMixTypes.js';
import { byArrival, dB, decodeStream, encodeFrames, frameRms, meanToneLevels, onTime, rtpPackets, sine, type Arrival } from './liveVoices.js';

/** Ticks at 10, 30, 50… ms on the senders' clock (packets arrive 5 ms after they are complete). */
const PHASE_MS = 10;

interface Voice {
  id: string;
  arrivals: Arrival[];
  /** RFC 6464 level (−dBov) sent with each packet, by sequence number (browsers send one with every packet). */
  levels?: number[];
}

/** Drives the mix like the SFU: every 20 ms, push what has arrived, then tick. */
async function runMix(mix: LiveAudioMix, voices: Voice[], ticks: number, listeners?: ReadonlySet<string>): Promise<LiveMixFrame[]> {
  const feeds = voices.map((v) => {
    mix.addVoice(v.id);
    return { v, queue: byArrival(v.arrivals), next: 0 };
  });
  await mix.whenReady();
  const frames: LiveMixFrame[] = [];
  for (let m = 0; m < ticks; m++) {
    const now = m * 20 + PHASE_MS;
    for (const f of feeds) {
      for (; f.next < f.queue.length && f.queue[f.next]!.arrivalMs <= now; f.next++) {
        const { packet, arrivalMs } = f.queue[f.next]!;
        mix.push(f.v.id, packet.seq, packet.ts, packet.payload, arrivalMs, f.v.levels?.[packet.seq]);
      }
    }
    frames.push(mix.tick(now, listeners));
  }
  return frames;
}

/** A voice sending a steady tone over [fromMs, toMs) of `totalMs` (silence outside), on time. */
function toneVoice(id: string, freq: number, amplitude: number, totalMs: number, fromMs = 0, toMs = totalMs): Voice {
  return { id, arrivals: onTime(rtpPackets(encodeFrames(sine(freq, amplitude, totalMs, fromMs, toMs)))) };
}

/** The same, sending each packet's RFC 6464 level as a browser does (the frame's RMS in −dBov). */
function leveledToneVoice(id: string, freq: number, amplitude: number, totalMs: number, fromMs = 0, toMs = totalMs): Voice {
  const pcm = sine(freq, amplitude, totalMs, fromMs, toMs);
  const levels = frameRms(pcm).map((rms) => Math.min(127, Math.max(0, Math.round(-dB(rms)))));
  return { id, arrivals: onTime(rtpPackets(encodeFrames(pcm))), levels };
}

/** What listener `id` receives over the frames: its minus stream while it is a speaker, `all` otherwise. */
const streamOf = (frames: LiveMixFrame[], id?: string): Buffer[] => frames.map((f) => (id !== undefined && f.minus.get(id)) || f.all!);

describe('LiveAudioMix: the 3 loudest, mix-minus', () => {
  const freqs = [330, 470, 610, 790, 1030];
  // Their sum stays under the limiter's ceiling (0.8): levels come through unchanged.
  const amps = [0.32, 0.24, 0.18, 0.08, 0.05];
  const ids = ['v0', 'v1', 'v2', 'v3', 'v4'];
  const totalMs = 3000;

  it('sends everybody the 3 loudest voices and each speaker the other two', async () => {
    const mix = new LiveAudioMix();
    const changes: string[][] = [];
    mix.on('speakersChanged', (s) => changes.push(s));
    const frames = await runMix(
      mix,
      ids.map((id, i) => toneVoice(id, freqs[i]!, amps[i]!, totalMs)),
      totalMs / 20,
    );

    // One selection, made as the voices started (2 ticks to fill the jitter buffers), kept, loudest first.
    expect(changes).toEqual([['v0', 'v1', 'v2']]);
    const first = frames.findIndex((f) => f.speakers.length > 0);
    expect(first).toBeLessThanOrEqual(3);
    for (const f of frames.slice(first)) {
      expect(f.speakers).toEqual(['v0', 'v1', 'v2']);
      expect([...f.minus.keys()].sort()).toEqual(['v0', 'v1', 'v2']);
    }
    expect(frames.map((f) => f.index)).toEqual(frames.map((_, i) => i));
    // Levels as the recording measures them: a sine of amplitude A reads 20·log10(A/√2).
    const levels = frames.at(-1)!.levels;
    ids.forEach((id, i) => expect(levels.get(id)).toBeCloseTo(dB(amps[i]! / Math.SQRT2), 0));

    const measure = async (stream: Buffer[]): Promise<number[]> => meanToneLevels(await decodeStream(stream), freqs, 1000, totalMs - 100);
    const all = await measure(streamOf(frames));
    // The 3 loud ones at their own level (within what Opus at 32 kbit/s does to a tone among three: −0.5 to −1.6 dB
    // here); the quiet ones absent: more than 30 dB under the quietest one mixed (they measure −39 and −44 dB: codec
    // noise).
    const ownLevel = (measured: number, i: number): void => {
      expect(dB(measured / amps[i]!)).toBeGreaterThan(-3);
      expect(dB(measured / amps[i]!)).toBeLessThan(1);
    };
    for (let i = 0; i < 3; i++) ownLevel(all[i]!, i);
    for (let i = 3; i < 5; i++) expect(dB(all[i]!) - dB(all[2]!)).toBeLessThan(-30);

    for (let x = 0; x < 3; x++) {
      const heard = await measure(streamOf(frames, ids[x]));
      const others = [0, 1, 2].filter((i) => i !== x);
      for (const i of others) ownLevel(heard[i]!, i);
      // Not their own voice (−39 to −46 dB: codec noise, the subtraction itself is exact), nor the quiet ones.
      const weakest = Math.min(...others.map((i) => heard[i]!));
      for (const i of [x, 3, 4]) expect(dB(heard[i]!) - dB(weakest)).toBeLessThan(-30);
    }

    // At most maxSpeakers + 1 encodes a tick, from 4 encoders.
    const stats = mix.stats();
    expect(stats.ticks).toBe(frames.length);
    expect(stats.encodes).toBe(frames.reduce((n, f) => n + 1 + f.minus.size, 0));
    expect(stats.encoders).toBe(4);
    expect(stats.voices.get('v0')).toMatchObject({ selected: true, late: 0, concealed: 0, resets: 0 });
    expect(stats.voices.get('v4')).toMatchObject({ selected: false });
    mix.close();
    expect(() => mix.tick(0)).toThrow(/closed/);
  });

  it('decodes only the voices that can be mixed: in a room of 9, the quiet ones are played undecoded, one that gets loud comes in', async () => {
    // Nine voices with levels; v8 is quiet for 2 s, then the loudest. 3 mixed + 2 more decoded by their levels: the
    // other four (and v8 while quiet) cost no decoding, and v8 still enters the mix within 1 s of getting loud.
    const totalMs = 4000;
    const loudFromMs = 2000;
    const nine = [0.3, 0.25, 0.2, 0.12, 0.1, 0.08, 0.06, 0.04].map((a, i) => leveledToneVoice(`q${i}`, 300 + 90 * i, a, totalMs));
    const late = leveledToneVoice('q8', 1100, 0.5, totalMs, loudFromMs);
    const quietStart = leveledToneVoice('q8', 1100, 0.02, totalMs, 0, loudFromMs);
    // q8: quiet first (0.02), then loud (0.5): one stream of packets and levels.
    const loudPart = sine(1100, 0.5, totalMs, loudFromMs);
    late.arrivals = onTime(rtpPackets(encodeFrames(sine(1100, 0.02, totalMs, 0, loudFromMs).map((x, i) => x + loudPart[i]!))));
    late.levels = quietStart.levels!.map((q, i) => Math.min(q, late.levels![i]!));
    const mix = new LiveAudioMix();
    const frames = await runMix(mix, [...nine, late], totalMs / 20);
    const stats = mix.stats().voices;
    // Before q8 gets loud: the 3 loudest.
    expect(frames[Math.round(loudFromMs / 20) - 5]!.speakers).toEqual(['q0', 'q1', 'q2']);
    // The 5 loudest by their levels are decoded: q0-q4, then q8 takes q4's place.
    for (const id of ['q0', 'q1', 'q2', 'q3']) expect(stats.get(id)!.undecoded, id).toBe(0);
    expect(stats.get('q4')!.undecoded).toBeGreaterThan(80);
    // The quietest three: not decoded once the levels had ranked them (the first ticks decode everybody).
    for (const id of ['q5', 'q6', 'q7']) expect(stats.get(id)!.undecoded, id).toBeGreaterThan(180);
    const entered = frames.findIndex((f) => f.speakers.includes('q8'));
    expect(entered * 20 - loudFromMs).toBeGreaterThan(0);
    expect(entered * 20 - loudFromMs).toBeLessThan(1000);
    const [q8] = meanToneLevels(await decodeStream(streamOf(frames)), [1100], entered * 20 + 200, totalMs - 100);
    expect(q8!).toBeGreaterThan(0.3);
    mix.close();
  });

  it('lets the 4th voice in within 1 s when a loud one stops', async () => {
    // A, B, C are selected at the start. D is 2 dB under C: it cannot displace anybody (that takes 6 dB) while A
    // talks. A stops at 3 s, long after its 1.5 s hold (counted from its selection at ~50 ms) ran out, so only the
    // level meter delays the switch: A's level holds ≤ 150 ms, then falls at 100 dB/s; D (-17 dBFS) displaces A once
    // A is 6 dB under D, i.e. 12 dB under its own -11 dBFS: 120 ms of fall. With the 40 ms of jitter buffer, D enters
    // 150-450 ms after A stopped.
    const stopMs = 3000;
    const totalMs = 5000;
    const mix = new LiveAudioMix();
    const changes: string[][] = [];
    mix.on('speakersChanged', (s) => changes.push(s));
    const voices = [
      toneVoice('A', 330, 0.4, totalMs, 0, stopMs),
      toneVoice('B', 470, 0.3, totalMs),
      toneVoice('C', 610, 0.25, totalMs),
      toneVoice('D', 790, 0.2, totalMs),
    ];
    const frames = await runMix(mix, voices, totalMs / 20);
    // One change besides the start: A out, D in (reordering as A fades is not a change).
    expect(changes.map((c) => [...c].sort())).toEqual([
      ['A', 'B', 'C'],
      ['B', 'C', 'D'],
    ]);
    const entered = frames.findIndex((f) => f.speakers.includes('D'));
    const enteredMs = entered * 20 + PHASE_MS;
    expect(enteredMs - stopMs).toBeGreaterThanOrEqual(150);
    expect(enteredMs - stopMs).toBeLessThanOrEqual(450);
    expect(frames[entered]!.speakers).toEqual(['B', 'C', 'D']);
    expect(frames[entered - 1]!.speakers).toContain('A');
    // D took A's minus encoder: still 4 encoders.
    expect([...frames[entered]!.minus.keys()].sort()).toEqual(['B', 'C', 'D']);
    expect(mix.stats().encoders).toBe(4);

    // From 200 ms after the switch, everybody hears B, C and D, and A not at all.
    const pcm = await decodeStream(streamOf(frames));
    const [a, b, c, d] = meanToneLevels(pcm, [330, 470, 610, 790], enteredMs + 200, totalMs - 100);
    for (const x of [b!, c!, d!]) expect(x).toBeGreaterThan(0.15);
    expect(dB(a!) - dB(d!)).toBeLessThan(-30);
    mix.close();
  });

  it('encodes only what somebody listens to: no mix-minus for a speaker who does not listen, no room mix when only speakers do', async () => {
    const voices = () => ids.slice(0, 4).map((id, i) => toneVoice(id, freqs[i]!, amps[i]!, 1000));
    // v1 publishes without listening; L listens without publishing.
    const some = new LiveAudioMix();
    const frames = await runMix(some, voices(), 50, new Set(['v0', 'v2', 'v3', 'L']));
    const settled = frames.slice(5);
    for (const f of settled) {
      expect(f.speakers).toEqual(['v0', 'v1', 'v2']);
      expect([...f.minus.keys()].sort()).toEqual(['v0', 'v2']);
      expect(f.all).toBeDefined();
    }
    // v2 still hears v0 and v1 (its stream is the same mix-minus as without the listener set).
    const heard = meanToneLevels(await decodeStream(streamOf(settled, 'v2')), freqs.slice(0, 4), 200, 800);
    expect(dB(heard[0]! / amps[0]!)).toBeGreaterThan(-3);
    expect(dB(heard[1]! / amps[1]!)).toBeGreaterThan(-3);
    expect(dB(heard[2]!) - dB(heard[1]!)).toBeLessThan(-30);
    expect(some.stats().encodes).toBe(frames.reduce((n, f) => n + (f.all ? 1 : 0) + f.minus.size, 0));
    some.close();

    // Only the three speakers listen: their three mix-minus streams, no room mix.
    const speakersOnly = new LiveAudioMix();
    const only = (await runMix(speakersOnly, voices(), 50, new Set(['v0', 'v1', 'v2']))).slice(5);
    for (const f of only) {
      expect(f.all).toBeUndefined();
      expect(f.minus.size).toBe(3);
    }
    speakersOnly.close();
  });

  it('never lets the mix clip: three full-scale voices stay under 0.95 after decoding', async () => {
    const totalMs = 2000;
    const mix = new LiveAudioMix();
    const frames = await runMix(
      mix,
      [toneVoice('a', 200, 1, totalMs), toneVoice('b', 310, 1, totalMs), toneVoice('c', 520, 1, totalMs)],
      totalMs / 20,
    );
    mix.close();
    const peak = (pcm: Float32Array): number => pcm.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    const all = await decodeStream(streamOf(frames));
    expect(peak(all)).toBeLessThanOrEqual(0.95);
    // Limited, not silenced: the three are still there at a third of full scale or so each.
    for (const level of meanToneLevels(all, [200, 310, 520], 500, totalMs - 100)) expect(level).toBeGreaterThan(0.2);
    // The minus streams (two full-scale voices) are limited alike; Opus overshoots their peaks more (two tones: +1.6 dB,
    // see OUTPUT_CEILING), but they stay under full scale.
    for (const id of ['a', 'b', 'c']) expect(peak(await decodeStream(streamOf(frames, id)))).toBeLessThan(1);
  });
});
