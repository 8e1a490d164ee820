// The SFU forwards, with werift peers on both sides (no browsers): synthetic publishers send pre-encoded VP8 + Opus
// once, to the server; synthetic subscribers get every other publisher's tracks, announced by participant and kind,
// with the publisher's payloads byte for byte, video starting at a keyframe.
import { afterEach, describe, expect, it } from 'vitest';
import { videoFixture } from '../../bench/fixtures.js';
import { loadIvf, loadOggOpus } from '../../bench/loadgen/media.js';
import { MediaScheduler, SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { SyntheticSubscriber } from '../../bench/loadgen/subscriber.js';
import { startServer } from '../../src/http/HttpServer.js';
import { opusToneFixture } from '../harness/fixtures.js';
import { waitFor } from '../harness/util.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Room {
  server: Awaited<ReturnType<typeof startServer>>;
  audio: ReturnType<typeof loadOggOpus>;
  video: ReturnType<typeof loadIvf>;
  subscribers: SyntheticSubscriber[];
  publishers: SyntheticParticipant[];
}

/**
 * A server, two subscribers and two publishers (Opus + 320x240 VP8 whose clip has a keyframe only every 20 s, so a
 * video that starts sooner was started by the SFU's keyframe request). `lateSubscribers`: they join 3 s after the
 * publishers' media flows, instead of before the publishers join.
 */
async function forwardingRoom(opts: { lateSubscribers: boolean }): Promise<Room> {
  const server = await startServer({ port: 0 });
  cleanups.push(() => server.close());
  const audio = loadOggOpus(await opusToneFixture({ freq: 600, burstOffMs: 0, phases: [{ seconds: 4, amplitude: 0.3 }] }));
  const video = loadIvf((await videoFixture({ width: 320, height: 240, fps: 15, kbps: 300, keyframeSeconds: 30, seconds: 20, variant: 0 })).path);
  const scheduler = new MediaScheduler();
  cleanups.push(() => scheduler.stop());
  const subscribers = ['S1', 'S2'].map((name) => new SyntheticSubscriber({ serverUrl: server.wsUrl, room: 'fwd', name, keepPayloads: true }));
  for (const s of subscribers) cleanups.push(() => s.close());
  if (!opts.lateSubscribers) await Promise.all(subscribers.map((s) => s.join()));
  const publishers = ['P1', 'P2'].map((name, i) => new SyntheticParticipant({ serverUrl: server.wsUrl, room: 'fwd', name, audio, video, startOffset: i, scheduler }));
  for (const p of publishers) cleanups.push(() => p.close());
  await Promise.all(publishers.map((p) => p.join()));
  await Promise.all(publishers.map((p) => p.flowing));
  if (opts.lateSubscribers) {
    await new Promise((r) => setTimeout(r, 3000));
    await Promise.all(subscribers.map((s) => s.join()));
  }
  return { server, audio, video, subscribers, publishers };
}

/** Waits until `s` has received more than 50 packets of both of `p`'s tracks. */
function receivesBoth(room: Room, s: SyntheticSubscriber, p: SyntheticParticipant): Promise<unknown> {
  return waitFor(
    () => {
      if (process.env.RTC_RECORD_DEBUG) console.log(s.id, p.id, JSON.stringify([...s.streams.values()].map((x) => [x.participant, x.kind, x.packets])), JSON.stringify(room.server.sfu.stats()));
      return (s.stream(p.id, 'video')?.packets ?? 0) > 50 && (s.stream(p.id, 'audio')?.packets ?? 0) > 50;
    },
    { timeoutMs: 10_000, description: `${s.id} receives ${p.id}'s audio and video` },
  );
}

describe('SFU forwarding (werift publishers and subscribers)', () => {
  it('each subscriber receives every publisher once, byte for byte, video from a keyframe; publishers upload once', async () => {
    const room = await forwardingRoom({ lateSubscribers: false });
    const { server, audio, video, subscribers, publishers } = room;

    for (const s of subscribers) {
      for (const p of publishers) {
        await receivesBoth(room, s, p);
        const v = s.stream(p.id, 'video')!;
        expect(v.startedAtKeyframe, 'video starts at a keyframe').toBe(true);
        // Every payload received is one the publisher's clip holds (forwarded unchanged; after the 4-byte VP8
        // descriptor the publisher writes with its own PictureID).
        const sent = new Set(video.frames.flatMap((f) => f.chunks.map((x) => x.toString('base64'))));
        const unknown = v.payloads.filter((pl) => !sent.has(pl.subarray(4).toString('base64')));
        expect(unknown.length, 'video payloads not sent by the publisher').toBe(0);
        const sentAudio = new Set(audio.packets.map((x) => Buffer.from(x.data).toString('base64')));
        expect(s.stream(p.id, 'audio')!.payloads.filter((pl) => !sentAudio.has(pl.toString('base64'))).length).toBe(0);
      }
      // Nobody else's media (and not its own: subscribers publish nothing).
      expect([...s.streams.keys()].sort()).toEqual(publishers.flatMap((p) => [`${p.id}/audio`, `${p.id}/video`]).sort());
    }
    const stats = server.sfu.stats();
    expect(stats.publishers).toBe(2);
    // Publishers join with subscribe:false; the two subscribers are the only ones the SFU sends to.
    expect(stats.subscribers).toBe(2);
    expect(stats.packetsForwarded).toBeGreaterThan(400);
    // The forwarding delay is sampled (1 packet in 16 per track) and measured: received → sent to a subscriber.
    expect(stats.forwardDelay.samples).toBeGreaterThan(20);
    expect(stats.forwardDelay.p50Ms).toBeGreaterThan(0);
    expect(stats.forwardDelay.p99Ms!).toBeGreaterThanOrEqual(stats.forwardDelay.p50Ms!);
    // …and /metrics shows the same counters.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^rtc_record_sfu_publishers 2$/m);
    expect(metrics).toMatch(/^rtc_record_sfu_subscribers 2$/m);
    const forwarded = Number(/^rtc_record_sfu_packets_forwarded_total (\d+)$/m.exec(metrics)?.[1]);
    expect(forwarded).toBeGreaterThanOrEqual(stats.packetsForwarded);
    const delaySamples = Number(/^rtc_record_sfu_forward_delay_seconds_count (\d+)$/m.exec(metrics)?.[1]);
    expect(delaySamples).toBeGreaterThanOrEqual(stats.forwardDelay.samples);
  });

  it('a subscriber that joins while publishers are live gets video within 1 s (keyframe asked for at its subscription)', async () => {
    const room = await forwardingRoom({ lateSubscribers: true });
    for (const s of room.subscribers) {
      for (const p of room.publishers) {
        await receivesBoth(room, s, p);
        const v = s.stream(p.id, 'video')!;
        console.log(`${s.id} ← ${p.id}: first video ${v.firstAtMs! - s.joinedAtMs} ms after the subscriber joined`);
        expect(v.startedAtKeyframe, 'video starts at a keyframe').toBe(true);
        // The clip has no keyframe for 20 s: only the SFU's keyframe request can start it this soon.
        expect(v.firstAtMs! - s.joinedAtMs, 'late subscriber: join → first video packet').toBeLessThanOrEqual(1000);
      }
    }
  });
});
