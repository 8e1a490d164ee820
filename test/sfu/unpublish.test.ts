// A publisher that stops sending one track and stays (a stopped screen share): werift publishers into the real server,
// recorded in-process (the SFU tap) with a composite. The SFU unpublishes the track on the publisher's renegotiation,
// the recording ends that track's file (endedAtMs) and its tile becomes the name placeholder; its audio goes on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { videoFixture } from '../../bench/fixtures.js';
import { loadIvf } from '../../bench/loadgen/media.js';
import { SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { createLogger } from '../../src/logger.js';
import { runFfmpeg } from '../../src/media/ffmpeg/index.js';
import { computeLayout } from '../../src/media/video/layouts.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { RoomRecorder } from '../../src/recording/RoomRecorder.js';
import { forwardingServer, quietVoice } from '../harness/syntheticRoom.js';
import { waitFor } from '../harness/util.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const WIDTH = 640;
const HEIGHT = 360;
/** The composite's name placeholder colour. */
const PLACEHOLDER = { r: 0x2a, g: 0x2f, b: 0x3a };

/** Mean colour of a region of the frame at `sec` (ffmpeg averages it down to one pixel). */
async function meanColor(file: string, sec: number, r: { x: number; y: number; w: number; h: number }) {
  const { stdout } = await runFfmpeg(
    ['-loglevel', 'error', '-ss', sec.toFixed(3), '-i', file, '-frames:v', '1', '-vf', `crop=${r.w}:${r.h}:${r.x}:${r.y},scale=1:1:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { timeoutMs: 30_000 },
  );
  const px = Buffer.from(stdout);
  return { r: px[0]!, g: px[1]!, b: px[2]! };
}

const isPlaceholder = (c: { r: number; g: number; b: number }) => Math.hypot(c.r - PLACEHOLDER.r, c.g - PLACEHOLDER.g, c.b - PLACEHOLDER.b) < 25;

describe('a publisher stops sending a track and stays', () => {
  it('the SFU unpublishes it, the recording ends its file and tile, its audio goes on', async () => {
    const { server, scheduler } = await forwardingServer(cleanups);
    const room = 'unpublish';
    const video = loadIvf((await videoFixture({ width: 320, height: 180, fps: 15, kbps: 200, keyframeSeconds: 2, seconds: 10, variant: 0 })).path);
    const audio = await quietVoice();
    const [ann, bob] = ['Ann', 'Bob'].map((name, i) => new SyntheticParticipant({ serverUrl: server.wsUrl, room, name, audio, video, startOffset: i, scheduler }));
    for (const p of [ann, bob]) cleanups.push(() => p!.close());
    await ann!.join();
    await bob!.join();
    await Promise.all([ann!.flowing, bob!.flowing]);

    const out = mkdtempSync(join(tmpdir(), 'unpublish-'));
    cleanups.push(() => rmSync(out, { recursive: true, force: true }));
    const recorder = await RoomRecorder.start(
      { serverUrl: server.wsUrl, room, outputRoot: out, tap: (r) => server.sfu.tap(r), composite: { width: WIDTH, height: HEIGHT, fps: 15 } },
      createLogger({ level: process.env.RTC_RECORD_DEBUG ? 'debug' : 'warn' }),
    );
    const sfuRoom = server.sfu.room(room)!;
    const annTracks = () => sfuRoom.tracks.filter((t) => t.remote.participant.id === ann!.id).map((t) => t.kind).sort();
    expect(annTracks()).toEqual(['audio', 'video']);
    await new Promise((r) => setTimeout(r, 4000));

    const stopAt = Date.now();
    await ann!.stopVideo();
    await waitFor(() => annTracks().length === 1, { timeoutMs: 5000, description: "the SFU unpublished Ann's video" });
    expect(annTracks()).toEqual(['audio']);
    // A tile whose video stopped shows its last picture for 2 s (a stall looks the same at first), then the name.
    await new Promise((r) => setTimeout(r, 5000));
    const recordingStop = Date.now();
    const manifest: Manifest = await recorder.stop();

    const track = (who: SyntheticParticipant, kind: string) => manifest.tracks.find((t) => t.participantId === who.id && t.kind === kind)!;
    const annVideo = track(ann!, 'video');
    expect(annVideo.endedAtMs, "Ann's video file ended").toBeDefined();
    expect(annVideo.endedAtMs! - stopAt, 'ended soon after the renegotiation').toBeLessThan(2000);
    expect(annVideo.lastPacketAtMs!).toBeLessThanOrEqual(annVideo.endedAtMs!);
    expect(track(bob!, 'video').endedAtMs!, "Bob's video goes on until the stop").toBeGreaterThanOrEqual(recordingStop);
    expect(track(ann!, 'audio').lastPacketAtMs! - stopAt, "Ann's audio goes on").toBeGreaterThan(3000);

    // Ann's tile: her video before, her name placeholder after; Bob's video throughout.
    const file = join(recorder.dir, manifest.composite!.file);
    const [annTile, bobTile] = computeLayout({ width: WIDTH, height: HEIGHT, mode: 'grid', participants: [{ id: 'a', name: 'Ann' }, { id: 'b', name: 'Bob' }] });
    const corner = (t: { x: number; y: number }) => ({ x: t.x + 4, y: t.y + 4, w: 40, h: 24 });
    const at = (ms: number) => (ms - manifest.composite!.startedAtMs) / 1000;
    expect(isPlaceholder(await meanColor(file, at(stopAt) - 1, corner(annTile!))), 'Ann shows video before').toBe(false);
    expect(isPlaceholder(await meanColor(file, at(annVideo.endedAtMs!) + 3.5, corner(annTile!))), 'then her name placeholder').toBe(true);
    expect(isPlaceholder(await meanColor(file, at(annVideo.endedAtMs!) + 3.5, corner(bobTile!))), 'Bob shows video').toBe(false);
  });
});
