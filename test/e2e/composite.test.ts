// The mixed recording (MCU) end to end: real Chromium participants in our room page, the real CLI, and ffmpeg to check
// what the composite shows where and when (tile colours, late joiner, speaker layout), A/V sync against the browser's
// own capture offset, duration vs wall clock, faststart layout, and what a SIGKILL leaves.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import type { RunningServer } from '../../src/http/HttpServerTypes.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { finalizeComposite } from '../../src/recording/finalizeComposite.js';
import {
  decodeAudioPcm,
  decodeErrors,
  frameRgb,
  NAMED_COLORS,
  nearestNamedColor,
  probe,
  type RgbFrame,
  regionMean,
  streamDuration,
  tonePresence,
} from '../harness/analyze.js';
import { launchParticipant, type Participant } from '../harness/browser.js';
import { buildDist, CliProcess } from '../harness/cli.js';
import { favourProcess } from '../harness/priority.js';
import { descendants } from '../harness/procTree.js';
import { audioFixture, flashBeepFixture, videoFixture } from '../harness/fixtures.js';
import { waitFor } from '../harness/util.js';
import { flashBeepEvents, median, pairOffsets, senderReportStepsText, sentFlashBeepEvents } from './avSync.js';
import { mediaAtRecorder, readManifest } from './recorderMedia.js';

const PALETTE = Object.fromEntries(['red', 'blue', 'lime', 'magenta', 'yellow', 'black', 'white'].map((n) => [n, NAMED_COLORS[n]!]));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Cleanups = Array<() => Promise<unknown> | void>;
const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  frames.clear();
});

beforeAll(() => {
  // The CLI runs from dist/: make sure it is the current source (npm ci builds it too).
  buildDist();
}, 120_000);

async function server(owner: Cleanups = cleanups): Promise<RunningServer> {
  const s = await startServer({ port: 0 });
  owner.push(() => s.close());
  return s;
}

function recorder(args: string[], owner: Cleanups = cleanups): CliProcess {
  const log = process.env.RTC_RECORD_TEST_LOG;
  // In a session of its own, favoured over the test's Chromiums (see test/harness/priority.ts): the recorder normally
  // has its machine to itself; here it shares two cores with them, and the test should measure the recorder, not the
  // scheduler. The ffmpeg processes it starts inherit both.
  const cli = new CliProcess(['--ice-address', '127.0.0.1', ...(log ? ['--log-level', 'debug'] : []), ...args], {}, undefined, { detached: true });
  owner.push(() => cli.kill('SIGKILL'));
  favourProcess(cli.pid);
  // RTC_RECORD_TEST_LOG=file: keep the recorder's log for debugging.
  if (log) owner.push(() => writeFileSync(log, cli.stderr.join('\n')));
  return cli;
}

interface JoinOptions {
  color?: string;
  video?: string;
  audio?: string;
  params?: string;
}

/**
 * A participant's Chromium, launched on a blank page; calling the result opens the room page, which joins at once.
 * Launching is most of a participant's start-up on a loaded machine, and needs no server: tests launch all their
 * browsers together first, then join them one at a time where the join order matters (grid positions).
 */
async function launch(s: RunningServer, room: string, name: string, o: JoinOptions, owner: Cleanups = cleanups): Promise<() => Promise<Participant>> {
  const p = await launchParticipant({
    name,
    video: o.video ?? (o.color ? await videoFixture({ kind: 'color', color: o.color }) : undefined),
    audio: o.audio ?? (await audioFixture({ freq: 440, seconds: 4, amplitude: 0 })),
  });
  owner.push(() => p.close());
  return async () => {
    // mesh=0: each browser sends to the recorder only. What is checked is the recording; a four-browser mesh on two
    // cores delayed the recorder's media by up to 13 s and starved its encoder.
    await p.page.goto(`${s.url}/room/${room}?name=${name}&autojoin=1&mesh=0${o.params ?? ''}`);
    return p;
  };
}

async function connected(p: Participant): Promise<number> {
  await waitFor(async () => (await p.page.getByTestId('status').textContent()) === 'connected', {
    timeoutMs: 30_000,
    description: `${p.name} connected`,
  });
  return Date.now();
}

/**
 * The frame at `timeSec` (the first at or after it), decoded once per test however many tiles are read from it: the
 * grid test alone read ~30 regions, each an ffmpeg run of its own before, on a 2-core machine shared with Chromiums.
 */
const frames = new Map<string, Promise<RgbFrame>>();
function frameAt(file: string, timeSec: number): Promise<RgbFrame> {
  const key = `${file}@${timeSec}`;
  let f = frames.get(key);
  if (!f) frames.set(key, (f = frameRgb(file, timeSec)));
  return f;
}

/** Mean colour of a region of the frame at `timeSec`: exactly what sampleColor(file, …) reads (one decode per moment). */
async function regionColor(file: string, timeSec: number, region: { x: number; y: number; w: number; h: number }) {
  return regionMean(await frameAt(file, timeSec), region);
}

async function colorAt(file: string, timeSec: number, x: number, y: number): Promise<string> {
  const rgb = await regionColor(file, timeSec, { x: x - 10, y: y - 10, w: 20, h: 20 });
  return nearestNamedColor(rgb, PALETTE).name;
}

/** `color` at (x, y) in at least two of the frames at t, t + 0.5 s, t + 1 s. */
async function expectColor(file: string, t: number, x: number, y: number, color: string): Promise<void> {
  const seen = await Promise.all([t, t + 0.5, t + 1].map((at) => colorAt(file, at, x, y)));
  expect(seen.filter((c) => c === color).length, `${color} at ${x},${y} around ${t.toFixed(1)} s: ${seen.join(' ')}`).toBeGreaterThanOrEqual(2);
}

/** Top-level MP4 box types in file order. */
function topLevelBoxes(file: string): string[] {
  const fd = openSync(file, 'r');
  const boxes: string[] = [];
  try {
    const head = Buffer.alloc(16);
    for (let off = 0; ; ) {
      if (readSync(fd, head, 0, 16, off) < 8) break;
      let size = head.readUInt32BE(0);
      boxes.push(head.toString('latin1', 4, 8));
      if (size === 1) size = Number(head.readBigUInt64BE(8));
      if (size < 8) break;
      off += size;
    }
  } finally {
    closeSync(fd);
  }
  return boxes;
}

/** CPU seconds (user + system) used so far by `pid` and its live descendants (Linux /proc), by kind of process. */
function treeCpuSeconds(pid: number): Record<'total' | 'node' | 'encoder' | 'decoders' | 'other', number> {
  const HZ = 100;
  const procs = new Map<number, { ppid: number; cpu: number; cmd: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      procs.set(Number(entry), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / HZ, cmd });
    } catch {
      /* exited meanwhile */
    }
  }
  const out = { total: 0, node: 0, encoder: 0, decoders: 0, other: 0 };
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    const info = procs.get(p);
    if (info) {
      const kind = p === pid ? 'node' : /pipe:3/.test(info.cmd) ? 'encoder' : /-f ivf -i pipe:0 .*rawvideo/.test(info.cmd) ? 'decoders' : 'other';
      out[kind] += info.cpu;
      out.total += info.cpu;
    }
    for (const [child, c] of procs) if (c.ppid === p) stack.push(child);
  }
  return out;
}

async function expectWellFormed(file: string, wallSec: number, video = true): Promise<void> {
  expect(await decodeErrors(file), 'decode errors').toEqual([]);
  const info = await probe(file);
  const a = info.streams.find((s) => s.type === 'audio');
  expect(a).toMatchObject({ codec: 'aac', sampleRate: 48_000 });
  const boxes = topLevelBoxes(file);
  expect(boxes.indexOf('moov'), boxes.join(' ')).toBeGreaterThanOrEqual(0);
  expect(boxes.indexOf('moov'), boxes.join(' ')).toBeLessThan(boxes.indexOf('mdat'));
  expect(boxes).not.toContain('moof');
  const audioSec = await streamDuration(file, 'audio');
  expect(Math.abs(audioSec - wallSec) / wallSec, `audio ${audioSec} s vs wall ${wallSec} s`).toBeLessThanOrEqual(0.02);
  if (video) {
    const v = info.streams.find((s) => s.type === 'video');
    expect(v).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
    const videoSec = await streamDuration(file, 'video');
    expect(Math.abs(videoSec - wallSec) / wallSec, `video ${videoSec} s vs wall ${wallSec} s`).toBeLessThanOrEqual(0.02);
    const json = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=pix_fmt,r_frame_rate', '-of', 'json', file], { encoding: 'utf8' });
    expect(JSON.parse(json).streams[0]).toEqual({ pix_fmt: 'yuv420p', r_frame_rate: '30/1' });
  }
}

// One participant, recorded by two recorders at once (one --no-video, one --no-tracks): made once, while the A/V sync
// test runs (or when first asked for), checked by the tests of 'mixed recording without video or without tracks'.
let toneRun: Promise<Record<'audioOnly' | 'mixOnly', ToneRecording>> | undefined;
const toneRecordings = () => (toneRun ??= recordToneParticipant('tone', { audioOnly: ['--no-video'], mixOnly: ['--no-tracks'] }));

describe('mixed recording (composite)', () => {
  // One room, two recorders at once: the grid (default layout) and --layout speaker, each test checks its own
  // recording. Lime is the loud one (the others are silent): the grid checks only pictures, the speaker layout needs a
  // loudest participant that is neither the first to join nor a default.
  let gridRoom: Promise<GridRoom> | undefined;
  const gridRecordings = () => (gridRoom ??= recordGridRoom());

  // Four browsers and ~15 frame extractions afterwards: 1-2 minutes on a loaded 2-core machine.
  it('grid: four coloured participants in their tiles, the late joiner only after joining; duration = wall time', { timeout: 240_000 }, async () => {
    const { grid: cli, lateClick, lateIn, stopWall, cores } = await gridRecordings();
    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const manifest = readManifest(summary.dir);
    expect(manifest.composite).toMatchObject({ file: 'recording.mp4', state: 'done', format: 'mp4', width: 1280, height: 720, fps: 30, layout: 'grid' });
    expect(existsSync(join(summary.dir, 'recording.part.mp4'))).toBe(false);
    const file = join(summary.dir, 'recording.mp4');
    const origin = manifest.composite!.startedAtMs;
    await expectWellFormed(file, (stopHandledAt(cli, stopWall) - origin) / 1000);

    // Three in the grid: 2x2 with the last row centred; four: quadrants in join order. Each check looks at three
    // moments half a second apart and wants two of them right (a CPU-starved moment may show a frozen or placeholder
    // picture); the late joiner's absence must hold at all three.
    const before = (lateClick - origin) / 1000 - 1.5;
    await expectColor(file, before, 320, 180, 'red');
    await expectColor(file, before, 960, 180, 'blue');
    await expectColor(file, before, 640, 540, 'lime');
    for (const dt of [0, 0.5, 1]) expect(await colorAt(file, before + dt, 1180, 540), 'late joiner not there before joining').toBe('black');
    // Its tile is there from its join (placeholder); its picture from its first video packet (+ keyframe, decoder).
    const lateVideo = manifest.tracks.find((t) => t.participantName === 'Magenta' && t.kind === 'video')!;
    expect(lateVideo.firstPacketAtMs).toBeGreaterThan(lateClick);
    // Its first picture needs a keyframe: a browser in a loaded four-way mesh took up to 5 s to send one. Found by
    // scanning, then every tile is checked from a second after it.
    const firstPacketSec = Math.max(lateIn, lateVideo.firstPacketAtMs!) / 1000 - origin / 1000;
    let shownSec = firstPacketSec + 1;
    while (shownSec < firstPacketSec + 6 && (await colorAt(file, shownSec, 960, 540)) !== 'magenta') shownSec += 0.5;
    console.log(`late joiner's picture ${(shownSec - firstPacketSec).toFixed(1)} s after its first video packet`);
    const after = shownSec + 1;
    await expectColor(file, after, 320, 180, 'red');
    await expectColor(file, after, 960, 180, 'blue');
    await expectColor(file, after, 320, 540, 'lime');
    await expectColor(file, after, 960, 540, 'magenta');
    expect(cores).toBeLessThan(1.5);
    // How often the encoder was too starved of CPU to take a new frame (the previous one was repeated instead).
    console.log(`composite frames repeated for lack of CPU: ${manifest.composite!.videoFramesDropped} of ${manifest.composite!.videoFramesWritten + manifest.composite!.videoFramesDropped}`);
  });

  it('placeholders: an audio-only participant gets one with their name; a stalled video freezes, then falls back to it', async () => {
    const s = await server();
    const out = mkdtempSync(join(tmpdir(), 'rtc-mix-'));
    const cli = recorder(['--room', 'ph', '--server', s.wsUrl, '--out', out, '--json']);
    const [joinRed, joinVoice, joinBlue] = await Promise.all([
      launch(s, 'ph', 'Red', { color: 'red' }),
      launch(s, 'ph', 'Voice', { params: '&video=0' }),
      launch(s, 'ph', 'Blue', { color: 'blue' }),
    ]);
    await cli.waitForLine(/^recording room ph into /);
    await connected(await joinRed());
    await connected(await joinVoice());
    const blue = await joinBlue();
    await connected(blue);
    await mediaAtRecorder(cli, 'Blue', ['video']);
    await sleep(4000);
    // Blue's camera stops: no more video packets (audio goes on).
    await blue.page.evaluate(() => ((document.getElementById('local-video') as HTMLVideoElement).srcObject as MediaStream).getVideoTracks()[0]!.stop());
    const stalledAt = Date.now();
    await sleep(5000);
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const file = join(summary.dir, 'recording.mp4');
    const origin = readManifest(summary.dir).composite!.startedAtMs;
    const stall = (stalledAt - origin) / 1000;
    const isPlaceholder = async (t: number, x: number, y: number) => {
      const c = await regionColor(file, t, { x, y, w: 16, h: 16 });
      return Math.hypot(c.r - 0x2a, c.g - 0x2f, c.b - 0x3a) < 25;
    };
    await Promise.all([stall - 1, stall + 1, stall + 3.5].map((t) => frameAt(file, t)));
    // Grid of three: Red, Voice (top right), Blue centred below.
    expect(await isPlaceholder(stall - 1, 680, 40), 'audio-only tile').toBe(true);
    const name = await regionColor(file, stall - 1, { x: 900, y: 165, w: 120, h: 30 });
    expect(name.r + name.g + name.b, 'the name is written on it').toBeGreaterThan(3 * 80);
    expect(await colorAt(file, stall - 1, 640, 540)).toBe('blue');
    expect(await colorAt(file, stall + 1, 640, 540), 'frozen first').toBe('blue');
    expect(await isPlaceholder(stall + 3.5, 360, 400), 'then the placeholder').toBe(true);
    expect(await colorAt(file, stall + 3.5, 320, 180)).toBe('red');
  });

  it('A/V sync: a flash+beep participant is within one frame of what its browser sent', async () => {
    // The --no-video / --no-tracks recording (one participant, a room and server of its own) is made meanwhile: two
    // light recordings at once instead of one after the other. Its tests, at the end of the file, check it.
    toneRecordings().catch(() => undefined);
    const fb = await flashBeepFixture({ periods: 4 });
    const s = await server();
    const out = mkdtempSync(join(tmpdir(), 'rtc-mix-'));
    const cli = recorder(['--room', 'sync', '--server', s.wsUrl, '--out', out, '--json']);
    const joinFlash = await launch(s, 'sync', 'Flash', { video: fb.video, audio: fb.audio, params: '&agc=0' });
    await cli.waitForLine(/^recording room sync into /);
    const p = await joinFlash();
    await connected(p);
    // Flashes count once the recorder has the media: a CI run's recorder got it 4 s into the 9 s window below, and
    // only 4 flashes were left to pair.
    await mediaAtRecorder(cli, 'Flash', ['audio', 'video']);
    // The browser's own offset between its fake camera and microphone: MediaRecorder on the local stream. It drifts
    // each time Chromium loops the fixture files, so flashes are paired by wall-clock time, not compared in bulk.
    const local = join(out, 'browser.webm');
    const rec = await p.page.evaluate(recordLocalStream, 9000);
    writeFileSync(local, Buffer.from(rec.webm, 'base64'));
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const file = join(summary.dir, 'recording.mp4');
    const origin = readManifest(summary.dir).composite!.startedAtMs;

    // Three views of the same flashes, each as (wall-clock time, audio − video offset):
    //  - the composite;
    //  - what the browser sent: the per-track files placed on the sender's clock with its RTCP sender reports (the
    //    timing a receiving browser lip-syncs to);
    //  - the browser's own MediaRecorder of its local stream (reported; Chromium stamps audio there ~45 ms later
    //    than in what it sends, see the log line).
    const mixed = (await flashBeepEvents(file, fb.beepFreq, { x: 200, y: 40, w: 880, h: 560 })).map((e) => ({ wall: origin + e.flashSec * 1000, offset: e.offsetMs }));
    const sent = await sentFlashBeepEvents(summary.dir, fb.beepFreq);
    const browser = (await flashBeepEvents(local, fb.beepFreq)).map((e) => ({ wall: rec.startedAt + e.flashSec * 1000, offset: e.offsetMs }));
    const vsSent = pairOffsets(mixed, sent);
    const vsBrowser = pairOffsets(mixed, browser);
    console.log(
      `A/V offset (audio − video, ms) per flash — composite/sent: ${vsSent.map((x) => `${x.a.toFixed(0)}/${x.b.toFixed(0)}`).join(' ')} ` +
        `(difference median ${median(vsSent.map((x) => x.a - x.b)).toFixed(1)}); composite/MediaRecorder: ` +
        `${vsBrowser.map((x) => `${x.a.toFixed(0)}/${x.b.toFixed(0)}`).join(' ')} (difference median ${median(vsBrowser.map((x) => x.a - x.b)).toFixed(1)})`,
    );
    // Which side lacked events when too few pair up (one CI run paired 2): each side's flashes, s after the composite's start.
    const at = (events: Array<{ wall: number; offset: number }>) => events.map((e) => `${((e.wall - origin) / 1000).toFixed(2)}(${e.offset.toFixed(0)})`).join(' ');
    expect(vsSent.length, `flashes paired; composite: ${at(mixed)}; sent: ${at(sent)}; sender-report steps: ${senderReportStepsText(summary.dir)}`).toBeGreaterThanOrEqual(5);
    const diffs = vsSent.map((x) => x.a - x.b);
    expect(Math.abs(median(diffs)), `composite vs sent A/V offset (${diffs.map((d) => d.toFixed(0)).join(' ')}; sender-report steps: ${senderReportStepsText(summary.dir)})`).toBeLessThanOrEqual(33);
    expect(diffs.filter((d) => Math.abs(d) <= 33).length / diffs.length, diffs.join(' ')).toBeGreaterThanOrEqual(0.75);
    expect(vsBrowser.length).toBeGreaterThanOrEqual(4);
  });

  it('speaker layout: the loudest participant gets the large tile, the others the strip', async () => {
    // The grid test's room, recorded with --layout speaker: Red, Blue (silent), then Lime (loud), later Magenta.
    const { speaker: cli, limeIn, lateClick } = await gridRecordings();
    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const manifest = readManifest(summary.dir);
    const file = join(summary.dir, 'recording.mp4');
    const lime = manifest.participants.find((x) => x.name === 'Lime')!.id;
    expect(manifest.composite?.layout).toBe('speaker');
    expect(manifest.speakerTimeline?.some((c) => c.speakers[0] === lime), JSON.stringify(manifest.speakerTimeline)).toBe(true);
    // 5 s after Lime joined, while Magenta has not (it is clicked in at least 6 s after Lime joined).
    const t = (limeIn - manifest.composite!.startedAtMs) / 1000 + 5;
    expect(limeIn + 5000, 'checked before the late joiner joins').toBeLessThan(lateClick);
    // Large tile: 1280x576 at the top; strip tiles 256x144 below it, centred.
    expect(await colorAt(file, t, 640, 288)).toBe('lime');
    const strip = [await colorAt(file, t, 512, 648), await colorAt(file, t, 768, 648)];
    expect(strip.sort()).toEqual(['blue', 'red']);
  });

});

interface GridRoom {
  /** The grid recorder (default layout) and the --layout speaker one, both stopped. */
  grid: CliProcess;
  speaker: CliProcess;
  limeIn: number;
  /** When the late joiner (Magenta) was told to join, and when its page said connected. */
  lateClick: number;
  lateIn: number;
  /** When the stop signal was sent to both. */
  stopWall: number;
  /** The grid recorder's CPU (node and its ffmpeg processes) with four participants, in cores. */
  cores: number;
}

/**
 * Room "grid", recorded by two recorders at once (grid and speaker layout): Red, Blue and Lime join one after the
 * other (the grid order is the join order), Lime with a loud voice and the others silent; Magenta joins at least 6 s
 * after Lime; the grid recorder's CPU is measured with all four in.
 */
async function recordGridRoom(): Promise<GridRoom> {
  const s = await server();
  const cli = recorder(['--room', 'grid', '--server', s.wsUrl, '--out', mkdtempSync(join(tmpdir(), 'rtc-mix-')), '--json']);
  const speaker = recorder(['--room', 'grid', '--server', s.wsUrl, '--out', mkdtempSync(join(tmpdir(), 'rtc-mix-')), '--json', '--layout', 'speaker']);
  const silent = await audioFixture({ freq: 440, seconds: 4, amplitude: 0 });
  const loud = await audioFixture({ freq: 660, seconds: 4, amplitude: 0.5 });
  // The four browsers start together (while the recorders start); they join one after the other.
  const [red, blue, lime, magenta] = await Promise.all(
    ([['Red', 'red', silent], ['Blue', 'blue', silent], ['Lime', 'lime', loud], ['Magenta', 'magenta', silent]] as const).map(([name, color, audio]) =>
      launch(s, 'grid', name, { color, audio, params: '&agc=0' }),
    ),
  );
  await Promise.all([cli.waitForLine(/^recording room grid into /), speaker.waitForLine(/^recording room grid into /)]);
  let limeIn = 0;
  for (const [join, name] of [[red, 'Red'], [blue, 'Blue'], [lime, 'Lime']] as const) {
    const joinedAt = await connected(await join!());
    if (name === 'Lime') limeIn = joinedAt;
    await mediaAtRecorder(cli, name, ['video']);
  }
  // At least 5 s with three in the grid before the late joiner (the grid's "before" moments), and 6 s after Lime joined
  // (the speaker layout is checked 5 s after it).
  await sleep(Math.max(5000, limeIn + 6000 - Date.now()));
  const lateClick = Date.now();
  const late = await magenta!();
  const lateIn = await connected(late);
  await mediaAtRecorder(cli, 'Magenta', ['video']);
  // CPU of the recorder (node + all its ffmpeg processes) with four participants in the grid.
  await sleep(2000);
  const cpu0 = treeCpuSeconds(cli.pid);
  const t0 = Date.now();
  await sleep(8000);
  const cpu1 = treeCpuSeconds(cli.pid);
  const secs = (Date.now() - t0) / 1000;
  const cores = (cpu1.total - cpu0.total) / secs;
  const part = (k: keyof typeof cpu0) => ((cpu1[k] - cpu0[k]) / secs).toFixed(2);
  console.log(
    `recorder CPU with 4 participants (720p30 grid): ${cores.toFixed(2)} cores ` +
      `(node ${part('node')}, encoder ${part('encoder')}, 4 decoders ${part('decoders')}, other ${part('other')}); load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
  );
  cli.kill('SIGINT');
  speaker.kill('SIGINT');
  const stopWall = Date.now();
  expect((await cli.exited).code).toBe(0);
  expect((await speaker.exited).code).toBe(0);
  return { grid: cli, speaker, limeIn, lateClick, lateIn, stopWall, cores };
}

// Red and Blue join once, side by side (a 2x1 grid); each test checks a recording of its own, made by a recorder that
// joins the room they are in and gets their media from the SFU. Both recorders start together: the SIGKILL test's is
// killed 8 s after it had both videos; the share test's records on, and the share is clicked after that kill (the
// SIGKILL test goes first: the share changes the layout).
describe('mixed recording of two participants already in the room', () => {
  const shared: Cleanups = [];
  let s: RunningServer;
  let blue: Participant;
  let killable: PairRecorder;
  let sharing: PairRecorder;
  beforeAll(async () => {
    s = await server(shared);
    const [joinRed, joinBlue] = await Promise.all([launch(s, 'pair', 'Red', { color: 'red' }, shared), launch(s, 'pair', 'Blue', { color: 'blue' }, shared)]);
    await connected(await joinRed());
    blue = await joinBlue();
    await connected(blue);
    [killable, sharing] = await Promise.all([pairRecorder([]), pairRecorder(['--json'])]);
  }, 120_000);
  afterAll(async () => {
    for (const c of shared.splice(0).reverse()) await c();
  });

  interface PairRecorder {
    cli: CliProcess;
    dir: string;
    /** When it had both participants' video. */
    since: number;
  }

  /** A recorder of room "pair" that has both participants' video; stopped after the last test. */
  async function pairRecorder(flags: string[]): Promise<PairRecorder> {
    const out = mkdtempSync(join(tmpdir(), 'rtc-mix-'));
    const cli = recorder(['--room', 'pair', '--server', s.wsUrl, '--out', out, ...flags], shared);
    const dir = (await cli.waitForLine(/^recording room pair into /)).replace(/^recording room pair into /, '').trim();
    await mediaAtRecorder(cli, 'Red', ['video']);
    const since = await mediaAtRecorder(cli, 'Blue', ['video']);
    return { cli, dir, since };
  }

  it('SIGKILL mid-recording leaves a playable fragmented file covering all but the last ~2 s; finalizeComposite fixes it up', async () => {
    const { cli, dir, since } = killable;
    await sleep(Math.max(0, since + 8000 - Date.now()));
    // The harshest case: the recorder and every ffmpeg it started die at once (no EOF-triggered flush).
    const tree = descendants(cli.pid);
    for (const pid of [cli.pid, ...tree]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    const killedAt = Date.now();
    await cli.exited;
    const origin = readManifest(dir).composite!.startedAtMs;
    const part = join(dir, 'recording.part.mp4');
    expect(existsSync(part)).toBe(true);
    const covered = await streamDuration(part, 'video');
    const wall = (killedAt - origin) / 1000;
    console.log(`after SIGKILL at ${wall.toFixed(2)} s the fragmented file covers ${covered.toFixed(2)} s`);
    expect(covered).toBeGreaterThanOrEqual(wall - 2.5);

    const done = await finalizeComposite(dir);
    expect(done?.file).toBe('recording.mp4');
    const file = join(dir, 'recording.mp4');
    expect(existsSync(part)).toBe(false);
    expect(await decodeErrors(file)).toEqual([]);
    const boxes = topLevelBoxes(file);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    expect(Math.abs((await streamDuration(file, 'video')) - covered)).toBeLessThan(0.2);
    expect(await colorAt(file, covered - 1, 320, 360)).toBe('red');
    expect(await colorAt(file, covered - 1, 960, 360)).toBe('blue');
  });

  it('screen share: featured in the large tile, every camera in the strip; stopped, the grid comes back and its track file ends', async () => {
    const { cli, since } = sharing;
    await sleep(Math.max(0, since + 2000 - Date.now()));
    // Playwright's click() can return well after the page acted on it on a loaded machine (a run at load 15: the layout
    // had switched to the share before click() returned + 0.6 s), so "before" is taken from when the click was sent.
    const clickAt = Date.now();
    await blue.page.getByTestId('share').click();
    const sharedAt = Date.now();
    await sleep(7000);
    // The page's button stops the share: its upload renegotiates without it, the SFU unpublishes it, and the recorder
    // (a subscriber of the SFU here) ends that track.
    expect(await blue.page.getByTestId('share').textContent()).toBe('Stop sharing');
    const unshareClickAt = Date.now();
    await blue.page.getByTestId('share').click();
    const unsharedAt = Date.now();
    await sleep(4000);
    const stoppedAt = Date.now();
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const manifest = readManifest(summary.dir);
    const file = join(summary.dir, 'recording.mp4');
    const blueVideos = manifest.tracks.filter((t) => t.participantName === 'Blue' && t.kind === 'video');
    expect(blueVideos.length, 'camera + screen recorded').toBe(2);
    const t = (Math.max(sharedAt, blueVideos[1]!.firstPacketAtMs!) - manifest.composite!.startedAtMs) / 1000 + 3;
    // Before: a 2x1 grid. After: the share (Chromium's fake screen, 1280x720: neither red nor blue) 1280x576 on top,
    // both cameras in the strip below.
    // Just before the click (1.4 s after the recorder had both videos: a first picture may take a moment under load).
    const before = (clickAt - manifest.composite!.startedAtMs) / 1000 - 0.6;
    expect(await colorAt(file, before, 320, 360)).toBe('red');
    expect(await colorAt(file, before, 960, 360)).toBe('blue');
    expect(['red', 'blue']).not.toContain(await colorAt(file, t, 640, 288));
    expect([await colorAt(file, t, 512, 648), await colorAt(file, t, 768, 648)]).toEqual(['red', 'blue']);
    // Stopped: the screen's track file ended within 2.5 s of the click, and the 2x1 grid is back.
    const screen = blueVideos[1]!;
    expect(screen.endedAtMs, 'the screen track ended').toBeDefined();
    expect(screen.endedAtMs! - unshareClickAt, `ended ${screen.endedAtMs! - unsharedAt} ms after the stop returned`).toBeLessThan(2500);
    expect(blueVideos[0]!.endedAtMs!, 'the camera goes on until the recording stops').toBeGreaterThanOrEqual(stoppedAt);
    const after = (screen.endedAtMs! - manifest.composite!.startedAtMs) / 1000 + 1.5;
    expect(await colorAt(file, after, 320, 360)).toBe('red');
    expect(await colorAt(file, after, 960, 360)).toBe('blue');
  });
});

describe('mixed recording without video or without tracks', () => {
  // One participant, recorded by two recorders at once (one --no-video, one --no-tracks): each test checks its own.
  const tones = () => toneRecordings();

  it('--no-video: an audio-only recording.m4a of the wall-clock length', async () => {
    const { dir, manifest, wallSec } = (await tones()).audioOnly;
    expect(manifest.composite).toMatchObject({ file: 'recording.m4a', format: 'm4a', state: 'done' });
    const file = join(dir, 'recording.m4a');
    await expectWellFormed(file, wallSec, false);
    expect((await probe(file)).streams.map((x) => x.type)).toEqual(['audio']);
  });

  it('--no-tracks: only the mixed recording is written; the manifest still counts every track', async () => {
    const { dir, manifest, wallSec } = (await tones()).mixOnly;
    expect(readdirSync(join(dir, 'tracks'))).toEqual([]);
    expect(manifest.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    for (const t of manifest.tracks) {
      expect(t.file, t.id).toBeUndefined();
      expect(t.packetsReceived, t.id).toBeGreaterThan(50);
    }
    const file = join(dir, 'recording.mp4');
    await expectWellFormed(file, wallSec);
    // Red once its video has arrived (a second after its first packet: the first keyframe, decoded), not at a fixed
    // time: how long Chromium takes to start and connect is not the recorder's doing.
    const video = manifest.tracks.find((t) => t.kind === 'video')!;
    const shownSec = (video.firstPacketAtMs! - manifest.composite!.startedAtMs) / 1000 + 1;
    expect(shownSec, 'video arrived while recording').toBeLessThan(wallSec - 1);
    expect(await colorAt(file, shownSec, 640, 300)).toBe('red');
    const tone = tonePresence(await decodeAudioPcm(file), 48_000, [660, 440]);
    expect(tone.present, JSON.stringify(tone.details)).toEqual([660]);
  });
});

interface ToneRecording {
  dir: string;
  manifest: Manifest;
  wallSec: number;
}

/**
 * Records one red participant sending a 660 Hz tone for ~5 s, with one recorder per entry of `variants` (its flags),
 * all in the room at once; each wall time is from that recording's composite start to when its recorder handled the stop.
 */
async function recordToneParticipant<K extends string>(room: string, variants: Record<K, string[]>): Promise<Record<K, ToneRecording>> {
  // Its own server, browser and recorders, all closed when it is done: it may run while another test does (see the
  // A/V sync test), whose cleanups must not cut it short.
  const own: Cleanups = [];
  try {
    const s = await server(own);
    const names = Object.keys(variants) as K[];
    const clis = names.map((k) => recorder(['--room', room, '--server', s.wsUrl, '--out', mkdtempSync(join(tmpdir(), 'rtc-mix-')), '--json', ...variants[k]], own));
    const launching = launch(s, room, 'Tone', { color: 'red', audio: await audioFixture({ freq: 660, seconds: 4 }) }, own);
    await Promise.all(clis.map((cli) => cli.waitForLine(new RegExp(`^recording room ${room} into `))));
    await connected(await (await launching)());
    await sleep(5000);
    for (const cli of clis) cli.kill('SIGINT');
    const stopWall = Date.now();
    const result = {} as Record<K, ToneRecording>;
    for (const [i, k] of names.entries()) {
      const cli = clis[i]!;
      const { code } = await cli.exited;
      if (code !== 0) throw new Error(`${k}: the recorder exited with ${code}\n${cli.stderr.slice(-20).join('\n')}`);
      const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
      const manifest = readManifest(summary.dir);
      result[k] = { dir: summary.dir, manifest, wallSec: (stopHandledAt(cli, stopWall) - manifest.composite!.startedAtMs) / 1000 };
    }
    return result;
  } finally {
    for (const c of own.splice(0).reverse()) await c();
  }
}

/**
 * When the recorder handled the stop: its "stopping…" line. The file must be exactly as long as the recording ran; how
 * long a starved machine took to deliver the signal is not the file's business (but is bounded and logged).
 */
function stopHandledAt(cli: CliProcess, signalledAt: number): number {
  const handled = cli.lineArrivedAt(/^stopping/) ?? signalledAt;
  console.log(`stop signal handled ${handled - signalledAt} ms after it was sent`);
  expect(handled - signalledAt, 'stop handled within 5 s of the signal').toBeLessThan(5000);
  return handled;
}

/** Page side: records the page's local camera+microphone stream with MediaRecorder for `ms`; base64 WebM. */
async function recordLocalStream(ms: number): Promise<{ webm: string; startedAt: number }> {
  const stream = (document.getElementById('local-video') as HTMLVideoElement).srcObject as MediaStream;
  const rec = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8,opus' });
  const chunks: Blob[] = [];
  rec.ondataavailable = (e) => chunks.push(e.data);
  const stopped = new Promise((r) => (rec.onstop = r));
  const started = new Promise<number>((r) => (rec.onstart = () => r(Date.now())));
  rec.start(500);
  const startedAt = await started;
  await new Promise((r) => setTimeout(r, ms));
  rec.stop();
  await stopped;
  const url = await new Promise<string>((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.readAsDataURL(new Blob(chunks, { type: 'video/webm' }));
  });
  return { webm: url.slice(url.indexOf(',') + 1), startedAt };
}
