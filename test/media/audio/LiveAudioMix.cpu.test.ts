/**
 * CPU cost of the live mix per 20 ms tick with 10 talkers sending real Opus (speech-like, as browsers encode it).
 * Prints the figures; asserts a generous bound (the tick must fit many rooms into 20 ms of one core).
 */
import { expect, it } from 'vitest';
import { LiveAudioMix } from '../../../src/media/audio/LiveAudioMix.js';
import { OpusFrameEncoder } from '../../../src/media/audio/OpusFrameEncoder.js';
import { byArrival, encodeFrames, onTime, rtpPackets } from './liveVoices.js';
import { speechLike } from './signals.js';

const TALKERS = 10;
const WARMUP_TICKS = 300;
const TICKS = 100;

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

it(`costs under 4 ms of CPU per tick with ${TALKERS} talkers`, async () => {
  const totalMs = (WARMUP_TICKS + TICKS + 10) * 20;
  const voices = Array.from({ length: TALKERS }, (_, i) => ({
    id: `t${i}`,
    queue: byArrival(onTime(rtpPackets(encodeFrames(speechLike(i + 1, totalMs, 0.1 + 0.04 * i))))),
    next: 0,
  }));
  const mix = new LiveAudioMix();
  for (const v of voices) mix.addVoice(v.id);
  await mix.whenReady();

  let measured = 0;
  let encodes = 0;
  let cpu0 = process.cpuUsage();
  for (let m = 0; m < WARMUP_TICKS + TICKS; m++) {
    if (m === WARMUP_TICKS) {
      encodes = mix.stats().encodes;
      cpu0 = process.cpuUsage();
    }
    const now = m * 20 + 10;
    for (const v of voices) {
      for (; v.next < v.queue.length && v.queue[v.next]!.arrivalMs <= now; v.next++) {
        const { packet, arrivalMs } = v.queue[v.next]!;
        mix.push(v.id, packet.seq, packet.ts, packet.payload, arrivalMs);
      }
    }
    mix.tick(now);
  }
  measured = cpuMs(cpu0);
  const stats = mix.stats();
  encodes = stats.encodes - encodes;
  mix.close();

  // The encoder alone, on the same kind of audio.
  const speech = speechLike(99, 2000, 0.3);
  const enc = new OpusFrameEncoder();
  for (let o = 0; o + 960 <= speech.length; o += 960) enc.encode(speech.subarray(o, o + 960));
  const encCpu0 = process.cpuUsage();
  let n = 0;
  for (let o = 0; o + 960 <= speech.length; o += 960, n++) enc.encode(speech.subarray(o, o + 960));
  const perEncodeUs = (cpuMs(encCpu0) * 1000) / n;
  enc.free();

  const perTick = measured / TICKS;
  console.log(
    [
      `LiveAudioMix, ${TALKERS} talkers, ${TICKS} ticks after ${WARMUP_TICKS} of warm-up:`,
      `  ${perTick.toFixed(2)} ms CPU per tick (${((perTick / 20) * 100).toFixed(1)} % of a core), ${(encodes / TICKS).toFixed(2)} encodes per tick`,
      `  OpusFrameEncoder alone: ${perEncodeUs.toFixed(0)} µs per 20 ms frame`,
    ].join('\n'),
  );
  expect([...stats.voices.values()].every((v) => v.late === 0 && v.resets === 0)).toBe(true);
  expect(encodes).toBeLessThanOrEqual(4 * TICKS);
  expect(encodes).toBeGreaterThan(3 * TICKS);
  expect(perTick).toBeLessThan(4);
}, 120_000);
