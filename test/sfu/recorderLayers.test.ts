// The in-process recorder takes the simulcast layer that covers each tile: a werift publisher sends three VP8 layers
// of different colours (320x180 blue, 640x360 green, 1280x720 red, with moving bars), three others join audio-only.
// In the 2x2 grid (640x360 tiles) the composite must show the 640x360 layer (green); once the others leave, the
// publisher fills the 1280x720 frame and the composite must switch to the full layer (red) without a frozen tile
// longer than 1 s. The per-track file keeps the full layer throughout. All judged by decoding the outputs.
// Second case, the speaker layout as the bench's simulcast-switch (a recorder peer, the SFU's DownTracks switching;
// noisy clips, so keyframes take many packets): the publisher and a yellow non-simulcast camera talk in turns, so the
// publisher's video goes from the big tile (f, red) to the thumbnail (q, blue) and back; each tile must show a clean
// picture of a layer all through (no garbage, no green, no freeze ≥ 0.5 s). Before VideoFrameAssembler the
// thumbnail showed ~0.9 s of green / a frozen picture after f → q (a frame cut off by the switch joined to the keyframe).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadIvf, loadOggOpus } from '../../bench/loadgen/media.js';
import { SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { createLogger } from '../../src/logger.js';
import { runFfmpeg } from '../../src/media/ffmpeg/index.js';
import { computeLayout } from '../../src/media/video/layouts.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { RoomRecorder } from '../../src/recording/RoomRecorder.js';
import { fileCache } from '../harness/fileCache.js';
import { FIXTURE_DIR, opusToneFixture } from '../harness/fixtures.js';
import { forwardingServer, quietVoice } from '../harness/syntheticRoom.js';
import { waitFor } from '../harness/util.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const FPS = 15;
const LAYERS = [
  { rid: 'q', width: 320, height: 180, color: 'blue', kbps: 120 },
  { rid: 'h', width: 640, height: 360, color: 'green', kbps: 300 },
  { rid: 'f', width: 1280, height: 720, color: 'red', kbps: 900 },
];
const cached = fileCache(FIXTURE_DIR, 1);

/** A solid colour with two white vertical bars half a width apart, crossing the picture every 2 s: moving in any half. */
function layerFixture(l: { rid: string; width: number; height: number; color: string; kbps: number }, noisy = false): Promise<string> {
  const bar = Math.max(4, l.width / 40);
  // Noisy: like a camera's sensor noise, so keyframes take many packets (and the pacer tens of ms) as in the bench.
  const graph =
    `color=c=${l.color}:s=${l.width}x${l.height}:r=${FPS}[bg];color=c=white:s=${bar}x${l.height}:r=${FPS},split[b1][b2];` +
    `[bg][b1]overlay=x='mod(t*${l.width / 2},${l.width})':y=0[o1];[o1][b2]overlay=x='mod(t*${l.width / 2}+${l.width / 2},${l.width})':y=0` +
    `${noisy ? ',noise=alls=24:allf=t' : ''},format=yuv420p`;
  return cached(`simulcast-layer-${l.rid}${noisy ? '-noisy' : ''}`, 'ivf', { ...l, graph }, async (out) => {
    await runFfmpeg(
      ['-loglevel', 'error', '-y', '-filter_complex', graph, '-t', '10', '-c:v', 'libvpx', '-b:v', `${l.kbps}k`, '-g', String(FPS), '-keyint_min', String(FPS),
        '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0', '-error-resilient', '1', '-f', 'ivf', out],
      { label: `fixture layer ${l.rid}`, timeoutMs: 120_000 },
    );
  });
}

/** The composite's frames as 64x36 RGB crops of `crop` (w:h:x:y), one per output frame. */
async function frames(file: string, crop: string): Promise<Buffer[]> {
  // crop=w:h:x:y, scaled to 64x36
  const { stdout } = await runFfmpeg(['-loglevel', 'error', '-i', file, '-vf', `crop=${crop},scale=64:36`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { timeoutMs: 60_000 });
  const size = 64 * 36 * 3;
  return Array.from({ length: Math.floor(stdout.length / size) }, (_, i) => stdout.subarray(i * size, (i + 1) * size));
}

const mean = (f: Buffer): [number, number, number] => {
  const s = [0, 0, 0];
  for (let i = 0; i < f.length; i++) s[i % 3]! += f[i]!;
  return s.map((v) => v / (f.length / 3)) as [number, number, number];
};
const dominant = (f: Buffer) => {
  const [r, g, b] = mean(f);
  if (r > b + 80 && g > b + 80 && Math.abs(r - g) < 60) return 'yellow';
  return r > g + 40 && r > b + 40 ? 'red' : g > r + 40 && g > b + 40 ? 'green' : b > r + 40 && b > g + 40 ? 'blue' : 'other';
};
const diff = (a: Buffer, b: Buffer) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;

describe('the recorder\'s simulcast layers', () => {
  it('decodes the 640x360 layer in a 2x2 grid and the full one alone, switching without a freeze; the track file keeps the full layer', async () => {
    const { server, scheduler } = await forwardingServer(cleanups);
    const voice = await quietVoice();
    const layers = await Promise.all(LAYERS.map(async (l) => ({ rid: l.rid, clip: loadIvf(await layerFixture(l)) })));
    const room = 'layers';
    const publisher = new SyntheticParticipant({ serverUrl: server.wsUrl, room, name: 'Sim', audio: voice, video: layers[2]!.clip, simulcast: layers, startOffset: 0, scheduler });
    const others = ['A', 'B', 'C'].map((name, i) => new SyntheticParticipant({ serverUrl: server.wsUrl, room, name, audio: voice, startOffset: i + 1, scheduler }));
    for (const p of [publisher, ...others]) cleanups.push(() => p.close());
    for (const p of [publisher, ...others]) await p.join();
    await Promise.all([publisher, ...others].map((p) => p.flowing));
    // The SFU has the three layers' sizes from their keyframes.
    await waitFor(() => server.sfu.room(room)?.tracks.find((t) => t.simulcast)?.layerSizes().every((s) => s.width), { timeoutMs: 10_000, description: 'layer sizes known' });

    const out = mkdtempSync(join(tmpdir(), 'recorder-layers-'));
    cleanups.push(() => rmSync(out, { recursive: true, force: true }));
    const recorder = await RoomRecorder.start(
      { serverUrl: server.wsUrl, room, outputRoot: out, tap: (r) => server.sfu.tap(r), composite: { width: 1280, height: 720, fps: FPS } },
      createLogger({ level: process.env.RTC_RECORD_DEBUG ? 'debug' : 'warn' }),
    );
    await new Promise((r) => setTimeout(r, 6000));
    const leftAt = Date.now();
    await Promise.all(others.map((p) => p.close()));
    await new Promise((r) => setTimeout(r, 6000));
    const manifest: Manifest = await recorder.stop();
    const startedAt = manifest.composite!.startedAtMs;
    const switchSec = (leftAt - startedAt) / 1000;

    // The top-left 640x360: the publisher's grid tile, then the top-left quarter of its full-frame tile.
    const mp4 = join(recorder.dir, manifest.composite!.file);
    const crops = await frames(mp4, '640:360:0:0');
    const at = (sec: number) => Math.floor(sec * FPS);
    const before = crops.slice(at(switchSec - 3), at(switchSec - 0.5)).map(dominant);
    const after = crops.slice(at(switchSec + 1.5), at(switchSec + 5)).map(dominant);
    const firstPicture = crops.findIndex((f) => dominant(f) !== 'other');
    let longest = 0;
    let run = 0;
    for (let i = Math.max(1, firstPicture + 1); i < crops.length - FPS / 2; i++) {
      run = diff(crops[i]!, crops[i - 1]!) < 0.5 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    const count = (xs: string[], c: string) => xs.filter((x) => x === c).length;
    console.log(
      `recorder layers: switch at ${switchSec.toFixed(2)} s of ${(crops.length / FPS).toFixed(1)} s; before ${count(before, 'green')}/${before.length} green, ` +
        `after ${count(after, 'red')}/${after.length} red; first picture at ${(firstPicture / FPS).toFixed(2)} s; longest frozen ${((longest + 1) / FPS).toFixed(2)} s`,
    );
    expect(count(before, 'green'), 'the 2x2 grid tile shows the 640x360 layer').toBe(before.length);
    expect(count(after, 'red'), 'alone, the full layer').toBe(after.length);
    expect((longest + 1) / FPS, 'no frozen tile longer than 1 s').toBeLessThanOrEqual(1);

    // The per-track file is the archive: the full layer, red, 1280x720.
    const video = manifest.tracks.find((t) => t.kind === 'video')!;
    const probe = await runFfmpeg(['-hide_banner', '-i', join(recorder.dir, video.file!), '-frames:v', '1', '-f', 'null', '-'], { timeoutMs: 30_000, check: false });
    expect(probe.stderr).toMatch(/1280x720/);
  }, 90_000);

  it('speaker layout: the publisher leaves the big tile (f → q) and comes back (q → f) without garbage, green or a frozen tile', async () => {
    const { server, scheduler } = await forwardingServer(cleanups);
    // Turns of 4 s: the publisher talks first, then the other one (each clip starts when its connection is up).
    const turns = (first: boolean, freq: number) =>
      opusToneFixture({ freq, phases: first ? [{ seconds: 4, amplitude: 0.5 }, { seconds: 4, amplitude: 0 }] : [{ seconds: 4, amplitude: 0 }, { seconds: 4, amplitude: 0.5 }] });
    const [simVoice, otherVoice] = await Promise.all([turns(true, 410), turns(false, 610)]).then((paths) => paths.map(loadOggOpus));
    const layers = await Promise.all(LAYERS.map(async (l) => ({ rid: l.rid, clip: loadIvf(await layerFixture(l, true)) })));
    const yellow = loadIvf(await layerFixture({ rid: 'y', width: 640, height: 360, color: 'yellow', kbps: 300 }, true));
    const room = 'speaker-switch';
    const publisher = new SyntheticParticipant({ serverUrl: server.wsUrl, room, name: 'Sim', audio: simVoice, video: layers[2]!.clip, simulcast: layers, startOffset: 0, scheduler });
    const other = new SyntheticParticipant({ serverUrl: server.wsUrl, room, name: 'Other', audio: otherVoice, video: yellow, startOffset: 1, scheduler });
    for (const p of [publisher, other]) cleanups.push(() => p.close());
    for (const p of [publisher, other]) await p.join();
    await Promise.all([publisher, other].map((p) => p.flowing));
    await waitFor(() => server.sfu.room(room)?.tracks.find((t) => t.simulcast)?.layerSizes().every((s) => s.width), { timeoutMs: 10_000, description: 'layer sizes known' });

    const out = mkdtempSync(join(tmpdir(), 'recorder-speaker-'));
    cleanups.push(() => rmSync(out, { recursive: true, force: true }));
    const recorder = await RoomRecorder.start(
      // As the bench's simulcast-switch: a recorder peer through the SFU (its DownTracks switch), composite only.
      { serverUrl: server.wsUrl, room, outputRoot: out, iceAddress: '127.0.0.1', composite: { width: 1280, height: 720, fps: FPS, layout: 'speaker' }, tracks: false },
      createLogger({ level: process.env.RTC_RECORD_DEBUG ? 'debug' : 'warn' }),
    );
    // 13 s (17 before): the turns are 4 s, so any 13 s of them hold f → q and q → f at least once each.
    await new Promise((r) => setTimeout(r, 13_000));
    const manifest: Manifest = await recorder.stop();
    const mp4 = join(recorder.dir, manifest.composite!.file);

    // Two tiles: the big one and one thumbnail; the publisher and the other one trade them.
    const rects = computeLayout({ width: 1280, height: 720, mode: 'speaker', participants: [{ id: 's', name: 'Sim' }, { id: 'o', name: 'Other' }], activeSpeakerId: 'o' });
    const big = rects.find((t) => t.participantId === 'o')!;
    const thumb = rects.find((t) => t.participantId === 's')!;
    const middle = (r: { x: number; y: number; w: number; h: number }) => `${r.w / 2}:${r.h / 2}:${r.x + r.w / 4}:${r.y + r.h / 4}`;
    const judge = (crops: Buffer[], allowed: string[]) => {
      const colours = crops.map(dominant);
      const first = colours.findIndex((c) => c !== 'other');
      // Up to 1 s before the end: the last second is composed at stop from what the decoders had by then (as the bench).
      const end = colours.length - FPS;
      const judged = colours.slice(first, end);
      const bad = judged.map((c, i) => (allowed.includes(c) ? -1 : first + i)).filter((i) => i >= 0);
      let longest = 0;
      let longestEnd = 0;
      let run = 0;
      for (let i = first + 1; i < end; i++) {
        run = diff(crops[i]!, crops[i - 1]!) < 0.5 ? run + 1 : 0;
        if (run > longest) [longest, longestEnd] = [run, i];
      }
      // The tile's colour sequence, run-length coded (e.g. "yellow×40 blue×60"), for the log.
      const runs: string[] = [];
      for (let i = 0; i < judged.length; ) {
        let j = i;
        while (j < judged.length && judged[j] === judged[i]) j++;
        runs.push(`${judged[i]}×${j - i}`);
        i = j;
      }
      return { colours: judged, bad, frozenSec: (longest + 1) / FPS, frozenAt: (longestEnd - longest) / FPS, runs: `from ${(first / FPS).toFixed(2)} s: ${runs.join(' ')}` };
    };
    // The big tile shows the publisher's full layer (red) or the other camera (yellow); the thumbnail the quarter
    // layer (blue) or the other camera. Right after a re-layout the previous layer's last picture may stand in (scaled).
    const bigTile = judge(await frames(mp4, middle(big)), ['red', 'yellow', 'blue']);
    const thumbTile = judge(await frames(mp4, middle(thumb)), ['blue', 'yellow', 'red']);
    for (const [name, t] of [['big tile', bigTile], ['thumbnail', thumbTile]] as const) {
      const bad = t.bad.length ? `; not a layer's colour at ${t.bad.map((i) => (i / FPS).toFixed(2)).join(', ')} s` : '';
      console.log(`speaker switch: ${name} ${t.runs}; longest frozen ${t.frozenSec.toFixed(2)} s from ${t.frozenAt.toFixed(2)} s${bad}`);
    }
    // Both ways happened: the publisher's quarter layer in the thumbnail after the full one in the big tile, and back.
    expect(thumbTile.colours.filter((c) => c === 'blue').length, 'the publisher was in the thumbnail (q)').toBeGreaterThan(FPS);
    expect(bigTile.colours.filter((c) => c === 'red').length, 'the publisher was in the big tile (f)').toBeGreaterThan(FPS);
    expect(thumbTile.colours.filter((c) => c === 'yellow').length, 'the other one was in the thumbnail').toBeGreaterThan(FPS);
    // A cut-off frame joined to the new layer's keyframe showed about a keyframe interval (1 s) of garbage or green.
    expect(thumbTile.bad.length / FPS, 'thumbnail: seconds of garbage / green').toBeLessThanOrEqual(0.2);
    expect(bigTile.bad.length / FPS, 'big tile: seconds of garbage / green').toBeLessThanOrEqual(0.2);
    expect(thumbTile.frozenSec, 'thumbnail: longest frozen stretch').toBeLessThan(0.5);
    expect(bigTile.frozenSec, 'big tile: longest frozen stretch').toBeLessThan(0.5);
  }, 150_000);
});
