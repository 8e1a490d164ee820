import { describe, expect, it } from 'vitest';
import { VoiceJitterBuffer } from '../../../src/media/audio/VoiceJitterBuffer.js';
import type { VoiceJitterBufferStats } from '../../../src/media/audio/VoiceJitterBufferTypes.js';
import { detectBeepOnsets, toneLevels } from '../../harness/analyze.js';
import {
  byArrival,
  decodeStream,
  encodeFrames,
  frameRms,
  meanToneLevels,
  onTime,
  rtpPackets,
  seededRandom,
  sine,
  type Arrival,
  type RtpVoicePacket,
} from './liveVoices.js';
import { encodeOpus } from './oggOpusPackets.js';
import { beeps, SR } from './signals.js';
import { libopus } from '../../../src/media/audio/libopus.js';
import { OpusTrackDecoder } from '../../../src/media/audio/OpusTrackDecoder.js';

/** Ticks run at 10, 30, 50… ms on the sender's clock: 10 ms after each packet is complete (plus its network delay). */
const PHASE_MS = 10;
const TONE_HZ = 220;
/** RMS of the 0.3 sine the tone tests send. */
const TONE_RMS = 0.3 / Math.SQRT2;

interface Played {
  pcm: Float32Array;
  stats: VoiceJitterBufferStats;
  /** Stats after each tick. */
  history: VoiceJitterBufferStats[];
  /** depthMs after each tick. */
  depth: number[];
  /** First tick that gave audio. */
  start: number;
}

/** Drives a buffer like the mix's clock: at each tick, pushes what has arrived, then pulls 20 ms. */
async function play(arrivals: Arrival[], ticks: number, silentSeqs?: ReadonlySet<number>): Promise<Played> {
  const jb = new VoiceJitterBuffer();
  await jb.ready;
  const queue = byArrival(arrivals);
  const pcm = new Float32Array(ticks * 960);
  const history: VoiceJitterBufferStats[] = [];
  let next = 0;
  for (let m = 0; m < ticks; m++) {
    const now = m * 20 + PHASE_MS;
    for (; next < queue.length && queue[next]!.arrivalMs <= now; next++) {
      const { packet, arrivalMs } = queue[next]!;
      jb.push(packet.seq, packet.ts, packet.payload, arrivalMs, silentSeqs?.has(packet.seq));
    }
    pcm.set(jb.pull(), m * 960);
    history.push(jb.stats());
  }
  const stats = jb.stats();
  jb.free();
  const start = frameRms(pcm).findIndex((r) => r > 0);
  return { pcm, stats, history, depth: history.map((h) => h.depthMs), start };
}

/** Frames in [from, to) quieter than −20 dB below the tone: holes. */
function holes(pcm: Float32Array, from: number, to: number): number[] {
  return frameRms(pcm)
    .map((r, i) => ({ r, i }))
    .filter(({ r, i }) => i >= from && i < to && r < 0.1 * TONE_RMS)
    .map(({ i }) => i);
}

const tonePackets = (ms: number, opts: { seq0?: number; ts0?: number } = {}): RtpVoicePacket[] =>
  rtpPackets(encodeFrames(sine(TONE_HZ, 0.3, ms)), opts);

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('VoiceJitterBuffer: timing', () => {
  it('plays in-order packets unchanged, starting once 40 ms are buffered', async () => {
    const packets = tonePackets(4000);
    const ref = await decodeStream(packets.map((p) => p.payload));
    // Packet k arrives at 20 (k + 1) + 5 ms: packets 0 and 1 (40 ms) are in at 45, so the tick at 50 starts.
    const run = await play(onTime(packets), 2 + packets.length);
    expect(run.start).toBe(2);
    expect(maxAbsDiff(run.pcm.subarray(2 * 960), ref)).toBe(0);
    expect(run.stats).toEqual({ packets: 200, late: 0, duplicates: 0, invalid: 0, concealed: 0, fecDecoded: 0, underruns: 0, dropped: 0, silenceSkipped: 0, resets: 0, silent: 0, undecoded: 0, depthMs: 0 });
    // Each tick finds 40 ms (the packet that just arrived is in) and leaves 20.
    expect(new Set(run.depth.slice(2, 150))).toEqual(new Set([20]));
  });

  it('unwraps 32-bit timestamps and 16-bit sequence numbers', async () => {
    // Timestamps wrap after 0.5 s, sequence numbers after 6 packets.
    const packets = tonePackets(2000, { ts0: 2 ** 32 - 25 * 960, seq0: 65_530 });
    expect(packets[26]!.ts).toBe(960);
    const ref = await decodeStream(packets.map((p) => p.payload));
    const run = await play(onTime(packets), 2 + packets.length);
    expect(maxAbsDiff(run.pcm.subarray(2 * 960), ref)).toBe(0);
    expect(run.stats).toMatchObject({ late: 0, concealed: 0, underruns: 0, resets: 0 });
  });

  for (const frameMs of [10, 60] as const) {
    it(`plays ${frameMs} ms packets as 20 ms frames, unchanged`, async () => {
      const ogg = await encodeOpus(sine(TONE_HZ, 0.3, 3000), { frameMs, application: 'voip', bitrateKbps: 32 });
      const packets = rtpPackets(ogg.packets.map((p) => p.data));
      expect(packets[1]!.ts - packets[0]!.ts).toBe(frameMs * 48);
      const ref = await decodeStream(packets.map((p) => p.payload));
      const totalFrames = Math.floor(ref.length / 960);
      const run = await play(onTime(packets), 5 + totalFrames);
      // Starts at the first tick with ≥ 40 ms in: 10 ms packets are all in by 45 ms; one 60 ms packet is in at 65.
      const start = frameMs === 10 ? 2 : 3;
      expect(run.start).toBe(start);
      expect(maxAbsDiff(run.pcm.subarray(start * 960, (start + totalFrames) * 960), ref)).toBe(0);
      // Nothing missing while the packets last.
      expect(run.history[start + totalFrames - 1]).toMatchObject({ late: 0, concealed: 0, underruns: 0, resets: 0 });
    });
  }
});

describe('VoiceJitterBuffer: network trouble', () => {
  it('conceals each lost packet (5 % random loss) without a hole', async () => {
    const packets = tonePackets(10_000);
    const rnd = seededRandom(42);
    const kept = onTime(packets).filter((_, k) => k < 2 || rnd() >= 0.05);
    const lost = packets.length - kept.length;
    expect(lost).toBeGreaterThanOrEqual(15);
    const run = await play(kept, 2 + packets.length);
    expect(holes(run.pcm, 2, 2 + packets.length)).toEqual([]);
    // Every lost 20 ms was concealed or decoded from the next packet's FEC, nothing else was: no packet came late,
    // the buffer never ran dry.
    expect(run.stats).toMatchObject({ packets: kept.length, late: 0, underruns: 0, dropped: 0 });
    expect(run.stats.concealed + run.stats.fecDecoded).toBe(lost);
    if (libopus()) expect(run.stats.fecDecoded).toBeGreaterThan(0);
  });

  it.runIf(libopus() !== undefined)("recovers a lost packet from the next one's FEC data: what the sender said, not a guess", async () => {
    // 500 Hz for 1 s, then 1300 Hz; the first 1300 Hz packet (50) is lost. Concealment would go on with 500 Hz (its
    // guess continues the last packet); the next packet's FEC copy has the 1300 Hz the sender sent.
    const signal = new Float32Array(2 * 48_000);
    signal.set(sine(500, 0.3, 1000));
    signal.set(sine(1300, 0.3, 1000), 48_000);
    const packets = rtpPackets(encodeFrames(signal, { expectedLossPercent: 20 }));
    const run = await play(onTime(packets).filter((_, k) => k !== 50), 2 + packets.length);
    expect(run.stats).toMatchObject({ fecDecoded: 1, concealed: 0 });
    // Packet k plays at tick k + 2.
    const lostFrame = run.pcm.subarray(52 * 960 + 96, 53 * 960 - 96);
    const [low, high] = toneLevels(lostFrame, SR, [500, 1300], { windowMs: 16, hopMs: 16 })[0]!.levels;
    // Against plain concealment of the same loss: its guess is the old tone.
    const decoder = new OpusTrackDecoder(48_000);
    for (let k = 0; k < 50; k++) decoder.decode(packets[k]!.payload);
    const concealedFrame = decoder.conceal(960).subarray(96, 864);
    decoder.free();
    const guess = toneLevels(concealedFrame, SR, [500, 1300], { windowMs: 16, hopMs: 16 })[0]!.levels;
    expect(guess[0]!).toBeGreaterThan(guess[1]!);
    expect(high!).toBeGreaterThan(0.1);
    expect(high!).toBeGreaterThan(3 * low!);
  });

  it('absorbs reordering and duplicates within 40 ms: no hole, nothing lost', async () => {
    const packets = tonePackets(10_000);
    const rnd = seededRandom(7);
    const arrivals: Arrival[] = [];
    let duplicates = 0;
    for (const a of onTime(packets)) {
      // Each packet 0-40 ms late: packets overtake each other by up to 40 ms.
      const arrivalMs = a.arrivalMs + rnd() * 40;
      arrivals.push({ packet: a.packet, arrivalMs });
      if (rnd() < 0.05) {
        arrivals.push({ packet: a.packet, arrivalMs: arrivalMs + rnd() * 40 });
        duplicates++;
      }
    }
    const firstArrival = packets.map((p) => arrivals.find((a) => a.packet === p)!.arrivalMs);
    const overtaken = firstArrival.filter((t, k) => k > 0 && t < firstArrival[k - 1]!).length;
    expect(overtaken).toBeGreaterThan(50);
    const run = await play(arrivals, packets.length + 6);
    expect(holes(run.pcm, run.start, run.start + packets.length)).toEqual([]);
    expect(run.stats.duplicates).toBe(duplicates);
    // Whatever was due before it arrived was concealed (the stream stretched) and still played: nothing late.
    expect(run.stats.late).toBe(0);
    // Whatever was due before it arrived was concealed (an underrun: the play point waited) and still played when it
    // came, so nothing was late, and every underrun was concealed (at most 3 in a row).
    expect(run.stats.underruns).toBeGreaterThan(0);
    expect(run.stats.late).toBe(0);
    expect(run.stats.concealed).toBe(run.stats.underruns);
    // All of the tone is there: the output holds the input's duration of tone plus the stretch.
    expect(meanToneLevels(run.pcm, [TONE_HZ], 1000, 9000)[0]).toBeGreaterThan(0.28);
  });

  it('plays a 300 ms burst of late packets once, in order, after the gap (nothing doubled, nothing lost)', async () => {
    // Beeps every 100 ms, frequency cycling through 5: the order of frequencies says which beep is which.
    const freqs = [400, 600, 800, 1000, 1200];
    const totalMs = 20_000;
    const atMs = Array.from({ length: totalMs / 100 - 1 }, (_, i) => 100 * i + 30);
    const signal = new Float32Array((totalMs * SR) / 1000);
    atMs.forEach((at, i) => {
      const b = beeps({ freq: freqs[i % 5]!, totalMs, atMs: [at], beepMs: 40, amplitude: 0.3 });
      for (let k = 0; k < b.length; k++) signal[k]! += b[k]!;
    });
    const packets = rtpPackets(encodeFrames(signal));
    // Packets 50-64 (1.0-1.3 s) are held up and arrive together with packet 65.
    const arrivals = onTime(packets).map((a, k) => (k >= 50 && k < 65 ? { ...a, arrivalMs: onTime(packets)[65]!.arrivalMs } : a));
    const run = await play(arrivals, packets.length + 20);

    const heard = beepSequence(run.pcm, freqs);
    const sent = beepSequence(await decodeStream(packets.map((p) => p.payload)), freqs);
    expect(sent).toHaveLength(atMs.length);
    expect(heard).toEqual(sent);
    // Packet k plays at tick k + 2. Packet 50 was due at tick 52; the burst is pushed at tick 66 (1330 ms). Between,
    // 14 underruns (3 concealed, then silence); the play point waited, so nothing was late.
    expect(run.history[51]).toMatchObject({ underruns: 0, concealed: 0 });
    expect(run.history[66]).toMatchObject({ underruns: 14, concealed: 3, late: 0, dropped: 0 });
    // The burst left 300 ms more depth. It goes mostly in the 60 ms pauses between beeps (a silent frame skipped per
    // tick while more than target + 20 ms is buffered: nothing heard), the rest by drops into the beeps (one a second;
    // one in three ticks beyond target + 200 ms), until it is back within target + 20 ms.
    expect(run.depth[66]).toBe(300);
    const end = run.history[packets.length - 1]!;
    expect(end).toMatchObject({ underruns: 14, concealed: 3, late: 0 });
    // Each tick found 320 ms before its pull: (320 − 60) / 20 = 13 frames go, hardly any of them cut into a beep.
    expect(end.dropped + end.silenceSkipped).toBe(13);
    expect(end.dropped).toBeLessThanOrEqual(3);
    expect(Math.max(...run.depth.slice(packets.length - 100, packets.length))).toBeLessThanOrEqual(40);
  });

  for (const drift of [0.005, -0.005]) {
    it(`keeps the depth bounded when the sender's clock runs ${drift > 0 ? 'fast' : 'slow'} by 0.5 %, without holes`, async () => {
      const seconds = 60;
      const packets = tonePackets(seconds * 1000);
      // The sender's 20 ms last 20 / (1 + drift) ms of our clock.
      const arrivals = packets.map((packet) => ({ packet, arrivalMs: packet.sendMs / (1 + drift) + 5 }));
      const ticks = Math.floor((seconds * 1000) / (1 + drift) / 20);
      const run = await play(arrivals, ticks);
      expect(holes(run.pcm, run.start, ticks)).toEqual([]);
      expect(run.stats.late).toBe(0);
      // 0.5 % of 60 s is 300 ms = 15 frames too many (dropped once beyond target + 60 ms) or too few (stretched).
      if (drift > 0) {
        expect(run.stats.underruns).toBe(0);
        expect(run.stats.dropped).toBeGreaterThanOrEqual(10);
        expect(run.stats.dropped).toBeLessThanOrEqual(13);
        expect(Math.max(...run.depth)).toBeLessThanOrEqual(100);
      } else {
        expect(run.stats.dropped).toBe(0);
        expect(run.stats.underruns).toBeGreaterThanOrEqual(13);
        expect(run.stats.underruns).toBeLessThanOrEqual(16);
        expect(run.stats.concealed).toBe(run.stats.underruns);
        expect(Math.max(...run.depth.slice(run.start))).toBeLessThanOrEqual(40);
      }
    }, 60_000);
  }
});

describe('VoiceJitterBuffer: packets the sender marks silent (RFC 6464)', () => {
  it('plays them as silence without decoding, in their place on the timeline, and decodes the rest', async () => {
    const packets = tonePackets(2000);
    // Packets 40-59 (0.8-1.2 s) carry the tone but their sender says silence: what is played is the sender's word.
    const silent = new Set(packets.slice(40, 60).map((p) => p.seq));
    const run = await play(onTime(packets), 2 + packets.length, silent);
    expect(run.stats).toMatchObject({ packets: 100, silent: 20, concealed: 0, underruns: 0, late: 0 });
    const rms = frameRms(run.pcm);
    // Frames 2 + 40 … 2 + 59 are exactly zero; the tone before and after is whole (the first frame after the silent
    // run decodes from a decoder that skipped 400 ms: allow it to be quieter, not missing).
    expect(rms.slice(42, 62).every((r) => r === 0)).toBe(true);
    expect(holes(run.pcm, 3, 42)).toEqual([]);
    expect(holes(run.pcm, 63, 102)).toEqual([]);
    // A loss right after a silent packet is concealed with silence, not with a replay of the tone before it.
    const lossy = await play(onTime(packets.filter((p) => p.seq !== packets[60]!.seq)), 2 + packets.length, silent);
    expect(frameRms(lossy.pcm)[62]).toBe(0);
    expect(lossy.stats.concealed).toBe(0);
    expect(holes(lossy.pcm, 64, 102)).toEqual([]);
  });
});

describe('VoiceJitterBuffer: talkers that pause, stop or jump', () => {
  it('after a delay spike, skips silence until it is back near the target: the next words start ~300 ms sooner', async () => {
    // Tone 1 s, silence 1 s, tone 1 s. Packets 20-34 (0.4-0.7 s) are held up and come with packet 35: the play point
    // waits (stretch), leaving 300 ms more buffered than the target for the rest of the talk.
    const tone = sine(TONE_HZ, 0.3, 1000);
    const signal = new Float32Array(3 * tone.length);
    signal.set(tone, 0);
    signal.set(tone, 2 * tone.length);
    const packets = rtpPackets(encodeFrames(signal));
    const arrivals = onTime(packets).map((a, k) => (k >= 20 && k < 35 ? { ...a, arrivalMs: onTime(packets)[35]!.arrivalMs } : a));
    const run = await play(arrivals, packets.length + 20);
    // Packet k plays at tick k + 2 at first (40 ms buffered); the first tone's end comes ~300 ms late (the spike).
    expect(run.start).toBe(2);
    const rms = frameRms(run.pcm);
    // (Ticks 22-37 are the spike itself: nothing had arrived.)
    const firstEnd = rms.findIndex((r, i) => i > 40 && r < 0.1 * TONE_RMS);
    expect(firstEnd).toBeGreaterThan(2 + 50 + 5);
    // In the pause the depth comes back to the target (+ the frame being played), nothing cut into sound…
    // The spike's excess went partly as drops into the first tone (one in three ticks beyond target + 200 ms), the
    // rest as silence skipped in the pause (one frame a tick while more than a frame beyond the target is buffered).
    expect(run.stats.dropped).toBeLessThanOrEqual(5);
    expect(run.stats.silenceSkipped).toBeGreaterThanOrEqual(5);
    // Packet 100 plays at tick 103: the start's latency plus the one frame of slack the skipping leaves (not 300 ms).
    const secondStart = rms.findIndex((r, i) => i > firstEnd && r > 0.5 * TONE_RMS);
    expect(secondStart).toBe(3 + 100);
    expect(Math.max(...run.depth.slice(secondStart, secondStart + 50))).toBeLessThanOrEqual(40);
    // …and both tones are whole: the first from its start to its (late) end, the second throughout.
    expect(holes(run.pcm, 2, 2 + 20)).toEqual([]);
    expect(holes(run.pcm, 2 + 36 + 15, firstEnd)).toEqual([]);
    expect(holes(run.pcm, secondStart, secondStart + 49)).toEqual([]);
  });

  it('catches up within about a second after a 450 ms stall delivers its backlog at once (the recorder was starved)', async () => {
    // Packets 50-72 (1.0-1.46 s) are held (but < 500 ms: no reset) and come in one burst with packet 73: the play
    // point waited (stretch), so ~460 ms are buffered. Beyond target + 200 ms one frame in three is dropped.
    const packets = tonePackets(10_000);
    const arrivals = onTime(packets).map((a, k) => (k >= 50 && k < 73 ? { ...a, arrivalMs: onTime(packets)[73]!.arrivalMs } : a));
    const run = await play(arrivals, packets.length);
    const peak = Math.max(...run.depth);
    const peakAt = run.depth.indexOf(peak);
    const recoveredAt = run.depth.findIndex((d, i) => i > peakAt && d <= 40 + 200);
    expect(peak).toBeGreaterThan(400);
    expect((recoveredAt - peakAt) * 20, 'ms from the peak depth back under target + 200 ms').toBeLessThanOrEqual(1500);
    // No hole but the stall itself (ticks 52-74: nothing had arrived; 3 frames concealed, then silence): the drops
    // that cut the latency after it leave the tone continuous.
    expect(holes(run.pcm, run.start, packets.length - 5).filter((i) => i < 52 || i >= 75)).toEqual([]);
  });

  it('takes a sender pause (DTX: timestamps skip, sequence numbers do not) out of the stretch, keeping the latency', async () => {
    const all = tonePackets(4000);
    // 400 ms not sent (packets 60-79); sequence numbers stay consecutive as a DTX sender's do.
    const sent = [...all.slice(0, 60), ...all.slice(80).map((p) => ({ ...p, seq: p.seq - 20 }))];
    const run = await play(onTime(sent), 2 + all.length);
    const rms = frameRms(run.pcm);
    // Packet k plays at tick 2 + k before and after the pause: the ~400 ms of underruns were taken out of the gap.
    const back = rms.findIndex((r, i) => i > 2 + 70 && r > 0.5 * TONE_RMS);
    expect(back).toBe(2 + 80);
    // 20 frames missing, the first covered by the 20 ms that were buffered ahead: 19 underruns.
    expect(run.stats).toMatchObject({ late: 0, resets: 0, concealed: 3, underruns: 19 });
  });

  it('resets after 500 ms without packets and re-anchors on the next one', async () => {
    const first = tonePackets(1000);
    // The talker comes back 1.5 s later with timestamps that moved on by 5 s.
    const second = tonePackets(1000, { seq0: 50, ts0: 5 * SR + first.length * 960 });
    const arrivals = [...onTime(first), ...onTime(second).map((a) => ({ ...a, arrivalMs: a.arrivalMs + 2500 }))];
    // Up to the last packet of the second spurt (tick 127 + 49).
    const run = await play(arrivals, 177);
    expect(run.stats).toMatchObject({ late: 0, resets: 1, concealed: 3 });
    // 25 ticks of underrun (500 ms), then idle; the second talk spurt starts 40 ms after its first packet arrived.
    expect(run.stats.underruns).toBe(26);
    const rms = frameRms(run.pcm);
    const back = rms.findIndex((r, i) => i > 60 && r > 0.5 * TONE_RMS);
    // Its first packet arrives at 2500 + 20 + 5 ms, the second at 2545 ms: the tick at 2550 ms (index 127) starts.
    expect(back).toBe(127);
  });

  it('re-anchors at once on a timestamp jump while packets keep coming (a new source)', async () => {
    const first = tonePackets(1000);
    const second = tonePackets(1000, { seq0: 9000, ts0: 123_456_789 });
    const arrivals = [...onTime(first), ...onTime(second).map((a) => ({ ...a, arrivalMs: a.arrivalMs + 1000 }))];
    // Up to the last packet of the second source (tick 52 + 49).
    const run = await play(arrivals, 102);
    expect(run.stats).toMatchObject({ late: 0, resets: 1, underruns: 0 });
    // The second source's first packet (pushed at tick 51) resets the buffer, dropping the first source's last 20 ms;
    // its second packet makes 40 ms at tick 52, which plays: one silent frame.
    expect(holes(run.pcm, run.start, 102)).toEqual([51]);
  });
});

/** Frequency of each beep, in order of onset. */
function beepSequence(pcm: Float32Array, freqs: number[]): number[] {
  return detectBeepOnsets(pcm, SR, { minGapMs: 40 }).map((t) => {
    const levels = meanToneLevels(pcm, freqs, t * 1000 + 5, t * 1000 + 35);
    return freqs[levels.indexOf(Math.max(...levels))]!;
  });
}
