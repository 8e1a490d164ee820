import { describe, expect, it } from 'vitest';
import { RoomAudioMixer } from '../../../src/media/audio/RoomAudioMixer.js';
import type { RoomAudioMixerOptions, SpeakerChange } from '../../../src/media/audio/RoomAudioMixerTypes.js';
import { detectBeepOnsets, toneLevels, tonePresence } from '../../harness/analyze.js';
import { runMixer } from './mixerDriver.js';
import { encodeOpus } from './oggOpusPackets.js';
import { SR, toneBursts, type LoudnessSegment } from './signals.js';

const BASE: RoomAudioMixerOptions = { sampleRate: SR, channels: 1, maxSpeakers: 3, frameMs: 20 };
const slice = (pcm: Float32Array, fromMs: number, toMs: number): Float32Array =>
  pcm.subarray(Math.round((fromMs * SR) / 1000), Math.round((toMs * SR) / 1000));
/** Mean Goertzel amplitude of `freq` over [fromMs, toMs) (bursts included, so ≈ 0.72 × the peak for 180/70 bursts). */
const meanTone = (pcm: Float32Array, freq: number, fromMs: number, toMs: number): number => {
  const w = toneLevels(slice(pcm, fromMs, toMs), SR, [freq], { windowMs: 50, hopMs: 10 });
  return w.reduce((s, x) => s + x.levels[0]!, 0) / w.length;
};
/** Frequencies between the test tones that nobody sends: the mix's noise floor. */
const OFF_FREQS = [450, 690, 930, 1170];
const speakersAt = (timeline: SpeakerChange[], ms: number): string[] =>
  timeline.filter((c) => c.atMs <= ms).at(-1)?.speakers ?? [];

async function tones(freq: number, totalMs: number, segments: LoudnessSegment[], channels: 1 | 2 = 1, burstOffMs = 70) {
  return (await encodeOpus(toneBursts({ freq, totalMs, segments, burstOffMs }), { channels })).packets;
}

describe('RoomAudioMixer: decode and place', () => {
  for (const channels of [1, 2] as const) {
    it(`round-trips a ${channels === 1 ? 'mono' : 'mono-in-stereo'} Opus tone at its timeline position`, async () => {
      const packets = await tones(1000, 3000, [{ fromMs: 0, toMs: 3000, amplitude: 0.5 }], channels);
      const mixer = new RoomAudioMixer({ ...BASE, channels: 2 });
      const changes: SpeakerChange[] = [];
      mixer.on('speakersChanged', (c) => changes.push(c));
      const { pcm, frames } = await runMixer(mixer, [{ id: 'track-a', participant: 'alice', packets, offsetMs: 500 }], 4000, { channels: 2 });

      expect(frames).toHaveLength(200);
      expect(frames.map((f) => f.timelineMs).slice(0, 3)).toEqual([0, 20, 40]);
      expect(frames.every((f) => f.pcm.length === 960 * 2 && f.pcm.every((s, i) => i % 2 === 0 || s === f.pcm[i - 1]))).toBe(true);
      // Same tone and loudness as sent: 0.5 peak during bursts.
      const presence = tonePresence(slice(pcm, 500, 3500), SR, [500, 1000, 1500, 2000]);
      expect(presence.present).toEqual([1000]);
      const bursts = toneLevels(slice(pcm, 1000, 3400), SR, [1000], { windowMs: 100, hopMs: 250 });
      for (const w of bursts) expect(w.levels[0]).toBeGreaterThan(0.45), expect(w.levels[0]).toBeLessThan(0.55);
      // Bursts start every 250 ms from 500 ms (within a frame).
      const onsets = detectBeepOnsets(pcm, SR, { minGapMs: 40 });
      expect(onsets).toHaveLength(12);
      onsets.forEach((t, i) => expect(Math.abs(t * 1000 - (500 + 250 * i))).toBeLessThan(20));

      expect(changes[0]).toEqual({ atMs: 500, speakers: ['alice'] });
      expect(mixer.speakerTimeline).toEqual(changes);
      expect(frames[100]!.speakers).toEqual(['track-a']);
      expect(mixer.trackStats().get('track-a')).toMatchObject({ received: 151, decoded: 151, late: 0, gaps: 0, overlapping: 0 });
    });
  }

  it('reports levels per participant while they talk', async () => {
    const mixer = new RoomAudioMixer(BASE);
    const loud = await tones(600, 2000, [{ fromMs: 0, toMs: 2000, amplitude: 0.5 }]);
    const quiet = await tones(900, 2000, [{ fromMs: 0, toMs: 2000, amplitude: 0.05 }]);
    const seen: Array<Map<string, number>> = [];
    await runMixer(mixer, [{ id: 'a1', participant: 'ann', packets: loud }, { id: 'b1', participant: 'bob', packets: quiet }], 1500, {
      onFrame: () => seen.push(mixer.levels()),
    });
    const last = seen.at(-1)!;
    // 0.5 peak bursts: about -10.5 dBFS; 0.05: 20 dB less.
    expect(last.get('ann')).toBeGreaterThan(-12);
    expect(last.get('ann')).toBeLessThan(-9);
    expect(last.get('bob')! - last.get('ann')!).toBeCloseTo(-20, 0);
    expect(seen[0]!.get('ann')).toBeLessThan(last.get('ann')!); // short window: rises over the first ~200 ms
  });
});

describe('RoomAudioMixer: N loudest with hysteresis', () => {
  it('mixes exactly the 3 loudest of 5 voices in each loudness phase', async () => {
    const freqs = [330, 570, 810, 1050, 1290];
    // Peak amplitude per participant in three 4 s phases.
    const phases = [
      [0.5, 0.4, 0.3, 0.1, 0.06], // p0 p1 p2
      [0.06, 0.1, 0.3, 0.4, 0.5], // p2 p3 p4
      [0.3, 0.5, 0.06, 0.4, 0.1], // p0 p1 p3
    ];
    const expected = [['p0', 'p1', 'p2'], ['p2', 'p3', 'p4'], ['p0', 'p1', 'p3']];
    const total = 12_000;
    const tracks = await Promise.all(
      freqs.map(async (f, p) => ({
        id: `p${p}`,
        packets: await tones(f, total, phases.map((amps, i) => ({ fromMs: i * 4000, toMs: (i + 1) * 4000, amplitude: amps[p]! }))),
      })),
    );
    const mixer = new RoomAudioMixer(BASE);
    const { pcm, frames } = await runMixer(mixer, tracks, total);

    const settleMs = 1000;
    for (let phase = 0; phase < 3; phase++) {
      const from = phase * 4000 + settleMs;
      const to = (phase + 1) * 4000;
      const want = expected[phase]!;
      for (const f of frames.filter((f) => f.timelineMs >= from && f.timelineMs < to)) expect([...f.speakers].sort()).toEqual(want);
      expect(mixer.speakerTimeline.filter((c) => c.atMs >= from && c.atMs < to)).toEqual([]); // no flapping
      const wantFreqs = want.map((id) => freqs[Number(id.slice(1))]!);
      const presence = tonePresence(slice(pcm, from, to), SR, freqs);
      expect(presence.present).toEqual([...wantFreqs].sort((a, b) => a - b));
      // The others are not merely quieter: they are not in the mix at all, i.e. at the level the mix has at frequencies
      // nobody sends (codec noise and burst-edge splatter, ~0.003), not at their own (≥ 0.04 if they were mixed).
      const floor = Math.max(...OFF_FREQS.map((f) => meanTone(pcm, f, from, to)));
      for (const f of freqs.filter((x) => !wantFreqs.includes(x))) expect(meanTone(pcm, f, from, to)).toBeLessThanOrEqual(floor);
      // The mixed ones keep their own loudness.
      for (const id of want) {
        const p = Number(id.slice(1));
        // Mean over bursts and gaps with 50 ms windows: ≈ 0.58 × the peak amplitude for an unaltered voice.
        const ratio = meanTone(pcm, freqs[p]!, from, to) / phases[phase]![p]!;
        expect(ratio).toBeGreaterThan(0.52);
        expect(ratio).toBeLessThan(0.64);
      }
    }
    // Loudest first.
    expect(frames.find((f) => f.timelineMs === 3000)!.speakers).toEqual(['p0', 'p1', 'p2']);
    // Few changes overall: the initial set, two swaps per phase change, then the fade to silence is not reached.
    expect(mixer.speakerTimeline.length).toBeLessThanOrEqual(5);
  });

  it('keeps a voice against a slightly louder newcomer, yields to a clearly louder one, and respects the hold', async () => {
    const total = 8000;
    const a = await tones(500, total, [{ fromMs: 0, toMs: total, amplitude: 0.1 }]);
    const b = await tones(800, total, [
      { fromMs: 2000, toMs: 4000, amplitude: 0.14 }, // +3 dB over a
      { fromMs: 4000, toMs: total, amplitude: 0.4 }, // +12 dB over a
    ]);
    const c = await tones(1100, total, [{ fromMs: 4500, toMs: total, amplitude: 0.9 }]); // +7 dB over b
    const mixer = new RoomAudioMixer({ ...BASE, maxSpeakers: 1, holdMs: 1500, displaceMarginDb: 6 });
    const { pcm } = await runMixer(mixer, [{ id: 'a', packets: a }, { id: 'b', packets: b }, { id: 'c', packets: c }], total);

    const tl = mixer.speakerTimeline;
    expect(tl.map((x) => x.speakers)).toEqual([['a'], ['b'], ['c']]);
    expect(tl[0]!.atMs).toBe(0);
    // b displaces a as soon as its level clears the margin.
    expect(tl[1]!.atMs).toBeGreaterThanOrEqual(4000);
    expect(tl[1]!.atMs).toBeLessThan(4200);
    // c is louder than b from 4.5 s on, but b stays for its 1.5 s hold.
    expect(tl[2]!.atMs - tl[1]!.atMs).toBeGreaterThanOrEqual(1500);
    expect(tl[2]!.atMs - tl[1]!.atMs).toBeLessThan(1600);
    // While b was only 3 dB louder, the mix was a alone.
    expect(tonePresence(slice(pcm, 2000, 4000), SR, [500, 800, 1100]).present).toEqual([500]);
    expect(meanTone(pcm, 800, 2000, 4000)).toBeLessThanOrEqual(Math.max(...OFF_FREQS.map((f) => meanTone(pcm, f, 2000, 4000))));
    expect(speakersAt(tl, 5000)).toEqual(['b']);
  });
});

describe('RoomAudioMixer: silence', () => {
  it('gives no speakers and digital silence when nobody talks', async () => {
    const silent = (await encodeOpus(new Float32Array(3 * SR))).packets;
    const mixer = new RoomAudioMixer(BASE);
    const { frames } = await runMixer(mixer, ['a', 'b', 'c'].map((id) => ({ id, packets: silent })), 3000);
    expect(frames.every((f) => f.speakers.length === 0 && f.pcm.every((s) => s === 0))).toBe(true);
    expect(mixer.speakerTimeline).toEqual([]);
    for (const l of mixer.levels().values()) expect(l).toBeLessThan(-50);
  });

  it('empties the speaker set and the mix after the last voice stops', async () => {
    const packets = await tones(700, 5000, [{ fromMs: 0, toMs: 1000, amplitude: 0.5 }]);
    const mixer = new RoomAudioMixer({ ...BASE, holdMs: 1500 });
    const { frames } = await runMixer(mixer, [{ id: 'a', packets }], 5000);
    const tl = mixer.speakerTimeline;
    expect(tl.map((c) => c.speakers)).toEqual([['a'], []]);
    // Hold (1.5 s from joining) and the level's release (~1.3 s after the last burst) are both over by 2.5 s.
    expect(tl[1]!.atMs).toBeGreaterThan(1500);
    expect(tl[1]!.atMs).toBeLessThan(2500);
    for (const f of frames.filter((f) => f.timelineMs >= tl[1]!.atMs + 20)) {
      expect(f.speakers).toEqual([]);
      expect(f.pcm.every((s) => s === 0)).toBe(true);
    }
  });
});

describe('RoomAudioMixer: limiting', () => {
  it('mixes 3 full-scale voices without clipping or wrapping', async () => {
    const freqs = [440, 700, 1000];
    const tracks = await Promise.all(
      freqs.map(async (f, i) => ({ id: `v${i}`, packets: await tones(f, 3000, [{ fromMs: 0, toMs: 3000, amplitude: 0.9 }], 1, 0) })),
    );
    const mixer = new RoomAudioMixer(BASE);
    const { frames, pcm } = await runMixer(mixer, tracks, 3000);
    let peak = 0;
    let maxStep = 0;
    let prev = 0;
    for (const f of frames) {
      for (const s of f.pcm) {
        peak = Math.max(peak, Math.abs(s));
        maxStep = Math.max(maxStep, Math.abs(s - prev));
        prev = s;
      }
    }
    // Under the limiter's ceiling (0.95), and no wrap-around jumps (a wrapped sample jumps by ~65536).
    expect(peak).toBeLessThanOrEqual(Math.ceil(0.95 * 32767));
    expect(peak).toBeGreaterThan(0.8 * 32767);
    expect(maxStep).toBeLessThan(20_000);
    // All three voices stay clean and equally loud (a clipped sum would smear energy over other frequencies).
    const presence = tonePresence(slice(pcm, 500, 3000), SR, freqs);
    expect(presence.present).toEqual(freqs);
    const levels = freqs.map((f) => meanTone(pcm, f, 1000, 3000));
    expect(Math.max(...levels) / Math.min(...levels)).toBeLessThan(1.2);
  });
});

describe('RoomAudioMixer: tracks leaving', () => {
  it('plays out a removed track, then drops it', async () => {
    const packets = await tones(900, 2000, [{ fromMs: 0, toMs: 2000, amplitude: 0.5 }]);
    const other = await tones(600, 4000, [{ fromMs: 0, toMs: 4000, amplitude: 0.05 }]);
    const mixer = new RoomAudioMixer(BASE);
    let statsAfterRemove: unknown;
    const { pcm, frames } = await runMixer(
      mixer,
      [
        // Everything is pushed up front (1.9 s lead), and the track is removed at 500 ms.
        { id: 'leaver', participant: 'lea', packets, leadMs: 1900, removeAtMs: 500 },
        { id: 'stayer', participant: 'sam', packets: other },
      ],
      3000,
      { onFrame: (f) => f.timelineMs === 520 && (statsAfterRemove = mixer.trackStats().get('leaver')) },
    );
    expect(statsAfterRemove).toMatchObject({ received: 101, late: 0, tooFarAhead: 0 });
    // Its audio plays to the end…
    expect(meanTone(pcm, 900, 1500, 1980) / 0.5).toBeGreaterThan(0.6);
    // …then it is gone at once (not after a level decay): from the mix, the speakers, levels() and the stats.
    const gone = mixer.speakerTimeline.find((c) => !c.speakers.includes('lea'))!;
    expect(gone.atMs).toBeGreaterThanOrEqual(1980);
    expect(gone.atMs).toBeLessThanOrEqual(2040);
    expect(frames.filter((f) => f.timelineMs > 2040).every((f) => f.speakers.join() === 'stayer')).toBe(true);
    expect(meanTone(pcm, 900, 2050, 3000)).toBeLessThanOrEqual(Math.max(...OFF_FREQS.map((f) => meanTone(pcm, f, 2050, 3000))));
    expect([...mixer.levels().keys()]).toEqual(['sam']);
    // Its counters stay (for the manifest), final: late packets for it are ignored.
    expect([...mixer.trackStats().keys()].sort()).toEqual(['leaver', 'stayer']);
    const final = mixer.trackStats().get('leaver')!;
    mixer.pushOpus('leaver', packets[0]!.data, mixer.nextFrameMs);
    expect(mixer.trackStats().get('leaver')).toEqual(final);
  });
});
