/**
 * CPU cost of the mixer with real Opus from 10 speech-like participants. Prints the numbers; asserts only that the
 * run is sane (timing is machine-dependent, so it is not asserted).
 */
import { expect, it } from 'vitest';
import { OpusTrackDecoder } from '../../../src/media/audio/OpusTrackDecoder.js';
import { RoomAudioMixer } from '../../../src/media/audio/RoomAudioMixer.js';
import { onTime } from './mixerDriver.js';
import { encodeOpus, type OpusPacket } from './oggOpusPackets.js';
import { speechLike } from './signals.js';

const SECONDS = 30;
const TRACKS = 10;

function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

it(`measures CPU for ${TRACKS} participants × ${SECONDS} s`, async () => {
  // Like browsers: 20 ms frames, voip mode, ~32 kbps; two send mono-in-stereo.
  const tracks = await Promise.all(
    Array.from({ length: TRACKS }, async (_, i) => ({
      id: `t${i}`,
      packets: (
        await encodeOpus(speechLike(i + 1, SECONDS * 1000, 0.1 + 0.04 * i), {
          application: 'voip',
          channels: i < 2 ? 2 : 1,
          bitrateKbps: i < 2 ? 48 : 32,
        })
      ).packets,
    })),
  );

  const run = async (count: number): Promise<{ cpu: number; wall: number; frames: number }> => {
    const mixer = new RoomAudioMixer({ sampleRate: 48_000, channels: 2, maxSpeakers: 3, frameMs: 20 });
    const feeds = tracks.slice(0, count).map((t) => {
      mixer.addTrack(t.id, { id: t.id, name: t.id });
      return { t, deliveries: onTime(t.packets), next: 0 };
    });
    await mixer.whenReady();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    let frames = 0;
    let maxSpeakers = 0;
    while (mixer.nextFrameMs < SECONDS * 1000) {
      const now = mixer.nextFrameMs;
      for (const f of feeds) {
        for (; f.next < f.deliveries.length && f.deliveries[f.next]!.arriveMs < now; f.next++) {
          const d = f.deliveries[f.next]!;
          mixer.pushOpus(f.t.id, f.t.packets[d.index]!.data, d.timelineMs);
        }
      }
      maxSpeakers = Math.max(maxSpeakers, mixer.mixNext().speakers.length);
      frames++;
    }
    const result = { cpu: cpuMs(cpu0), wall: performance.now() - wall0, frames };
    expect(maxSpeakers).toBe(Math.min(3, count));
    return result;
  };

  const decodeOnly = async (packets: OpusPacket[]): Promise<number> => {
    const dec = new OpusTrackDecoder(48_000);
    await dec.ready;
    const cpu0 = process.cpuUsage();
    for (const p of packets) dec.decode(p.data);
    const ms = cpuMs(cpu0);
    dec.free();
    return ms;
  };

  await run(TRACKS); // warm-up (JIT, WASM tier-up)
  const one = await run(1);
  const all = await run(TRACKS);
  const decodeMs = (await Promise.all(tracks.map((t) => decodeOnly(t.packets)))).reduce((a, b) => a + b, 0);

  const audioMs = SECONDS * 1000;
  const fmt = (ms: number): string => `${ms.toFixed(0)} ms CPU = ${(ms / audioMs).toFixed(4)} core`;
  console.log(
    [
      `RoomAudioMixer CPU, ${SECONDS} s of audio, 20 ms frames, maxSpeakers 3:`,
      `  1 track:   ${fmt(one.cpu)} (wall ${one.wall.toFixed(0)} ms)`,
      `  ${TRACKS} tracks: ${fmt(all.cpu)} (wall ${all.wall.toFixed(0)} ms) → ${(all.cpu / audioMs / TRACKS).toFixed(4)} core per track`,
      `  of which Opus decoding alone: ${fmt(decodeMs)}`,
      `  per mixNext() with ${TRACKS} tracks: ${((all.wall / all.frames) * 1000).toFixed(0)} µs`,
    ].join('\n'),
  );
  expect(all.frames).toBe(SECONDS * 50);
}, 300_000);
