// A machine without ffmpeg: the CLI runs with a PATH that holds only `node` and no FFMPEG_PATH, exactly like
// `npm ci && npx rtc-record --room demo` where the system has none. It must find the bundled ffmpeg (@ffmpeg-installer,
// a 2018 4.1 build: -vsync instead of -fps_mode, no scale=force_divisible_by) and make a correct mixed MP4 with it:
// tiles in their place, A/V sync against what the browser sent, the voices mixed. The checks run on the system ffmpeg.
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorReport } from '../../src/cli/doctorCommand.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { decodeAudioPcm, decodeErrors, NAMED_COLORS, nearestNamedColor, probe, sampleColor, streamDuration, tonePresence } from '../harness/analyze.js';
import { launchParticipant, type Participant } from '../harness/browser.js';
import { buildDist, CliProcess } from '../harness/cli.js';
import { favourProcess } from '../harness/priority.js';
import { childExecutables } from '../harness/procTree.js';
import { audioFixture, flashBeepFixture, videoFixture } from '../harness/fixtures.js';
import { alignmentSearchMs, type ContinuityResult, describeContinuity, inMixFromTimeline, trackOffsetInMix, voiceContinuity } from '../harness/continuity.js';
import { trackPath, waitFor } from '../harness/util.js';
import { flashBeepEvents, median, pairOffsets, sentFlashBeepEvents } from './avSync.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BUNDLED = realpathSync(join(ROOT, 'node_modules', '@ffmpeg-installer', 'linux-x64', 'ffmpeg'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let noFfmpegEnv: NodeJS.ProcessEnv;
beforeAll(() => {
  buildDist();
  const bin = join(mkdtempSync(join(tmpdir(), 'rtc-noffmpeg-')), 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  noFfmpegEnv = { PATH: bin, FFMPEG_PATH: undefined, FFPROBE_PATH: undefined };
}, 120_000);

function cli(args: string[]): CliProcess {
  const c = new CliProcess(args, noFfmpegEnv, undefined, { detached: true });
  cleanups.push(() => c.kill('SIGKILL'));
  return c;
}

describe('no ffmpeg on the machine: the bundled one', () => {
  it('doctor finds the bundled ffmpeg and reports the fallbacks it needs', async () => {
    const c = cli(['doctor', '--json']);
    expect((await c.exited).code).toBe(0);
    const report = JSON.parse(c.stdout.join('\n')) as DoctorReport;
    expect(report.ffmpeg).toMatchObject({ source: 'bundled', usable: true });
    expect(realpathSync(report.ffmpeg!.path)).toBe(BUNDLED);
    expect(report.candidates.map((x) => [x.source, x.path !== null])).toEqual([['env', false], ['path', false], ['ffmpeg-static', false], ['bundled', true]]);
    expect(report.checks.filter((k) => !k.ok).map((k) => k.name)).toEqual(['option -fps_mode', 'scale force_divisible_by']);
    expect(report.ffprobe.path).toBeNull();
    // Opus is decoded by the system libopus (the suite installs libopus0): lost packets come from FEC.
    expect(report.opus).toMatchObject({ decoder: 'libopus', fec: true });
    // SRTP's AES-GCM through the system libcrypto (the suite installs libssl3).
    expect(report.srtp).toMatchObject({ cipher: 'libcrypto' });
    // Forwarded RTP is encrypted in place and sent with sendto(2) (libc and libcrypto found).
    expect(report.udpSend).toEqual({ path: 'sendto' });
  });

  it('`rtc-record --room demo` records two browsers into a correct MP4: colours, A/V sync, mixed voices', async () => {
    const fb = await flashBeepFixture({ periods: 4 });
    const out = mkdtempSync(join(tmpdir(), 'rtc-bundled-'));
    // The README's main command, with its embedded server (on a free port).
    const rec = cli(['--room', 'demo', '--port', '0', '--ice-address', '127.0.0.1', '--out', out, '--json']);
    favourProcess(rec.pid); // shares two cores with two Chromiums (see test/harness/priority.ts)
    const url = (await rec.waitForLine(/^join the room: /)).slice('join the room: '.length);
    await rec.waitForLine(/^recording room demo into /);

    const join_ = async (name: string, video: string, audio: string): Promise<Participant> => {
      const p = await launchParticipant({ name, video, audio, url: `${url}?name=${name}&autojoin=1&agc=0` });
      cleanups.push(() => p.close());
      await waitFor(async () => (await p.page.getByTestId('status').textContent()) === 'connected', { timeoutMs: 30_000, description: `${name} connected` });
      return p;
    };
    // Grid of two: Red on the left, Flash on the right.
    await join_('Red', await videoFixture({ kind: 'color', color: 'red' }), await audioFixture({ freq: 440, seconds: 4, amplitude: 0.3 }));
    await join_('Flash', fb.video, fb.audio);
    await sleep(3000);
    const ffmpegs = childExecutables(rec.pid).filter((exe) => /ffmpeg/.test(exe));
    expect(ffmpegs.length, 'encoder + two decoders').toBeGreaterThanOrEqual(3);
    expect(new Set(ffmpegs)).toEqual(new Set([BUNDLED]));
    await sleep(7000);
    rec.kill('SIGINT');
    const stopWall = Date.now();
    expect((await rec.exited).code, rec.stderr.join('\n')).toBe(0);

    const summary = JSON.parse(rec.stdout.at(-1)!) as Manifest & { dir: string };
    const manifest = JSON.parse(readFileSync(join(summary.dir, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.composite).toMatchObject({ file: 'recording.mp4', state: 'done', width: 1280, height: 720, fps: 30 });
    const file = join(summary.dir, 'recording.mp4');
    expect(await decodeErrors(file)).toEqual([]);
    const info = await probe(file);
    expect(info.streams.find((s) => s.type === 'video')).toMatchObject({ codec: 'h264', width: 1280, height: 720 });
    expect(info.streams.find((s) => s.type === 'audio')).toMatchObject({ codec: 'aac', sampleRate: 48_000 });
    const origin = manifest.composite!.startedAtMs;
    const wallSec = (stopWall - origin) / 1000;
    for (const kind of ['audio', 'video'] as const) {
      const sec = await streamDuration(file, kind);
      expect(Math.abs(sec - wallSec) / wallSec, `${kind} ${sec} s vs wall ${wallSec} s`).toBeLessThanOrEqual(0.02);
    }

    // Red's tile (left half) is red; with -vsync cfr the frames are evenly spaced, so sampling by time is exact.
    const red = manifest.tracks.find((t) => t.participantName === 'Red' && t.kind === 'video')!;
    const redFrom = (red.firstPacketAtMs! - origin) / 1000 + 2;
    for (const t of [redFrom, redFrom + 2, wallSec - 1.5]) {
      const c = await sampleColor(file, { timeSec: t, x: 310, y: 350, w: 20, h: 20 });
      expect(nearestNamedColor(c, { red: NAMED_COLORS.red!, black: NAMED_COLORS.black!, white: NAMED_COLORS.white! }).name, `at ${t.toFixed(1)} s`).toBe('red');
    }
    // Flash's tile (right half): each flash with its beep as the browser sent them.
    const mixed = (await flashBeepEvents(file, fb.beepFreq, { x: 680, y: 200, w: 560, h: 320 })).map((e) => ({ wall: origin + e.flashSec * 1000, offset: e.offsetMs }));
    const vsSent = pairOffsets(mixed, await sentFlashBeepEvents(summary.dir, fb.beepFreq, 'Flash'));
    const diffs = vsSent.map((x) => x.a - x.b);
    console.log(`bundled ffmpeg: A/V offset composite − sent per flash (ms): ${diffs.map((d) => d.toFixed(0)).join(' ')}`);
    expect(vsSent.length).toBeGreaterThanOrEqual(4);
    expect(Math.abs(median(diffs)), 'composite vs sent A/V offset').toBeLessThanOrEqual(33);
    // Both voices are in the mix: Red's steady 440 Hz tone and Flash's beeps (100 ms a second: ~9 % of the windows).
    const mixPcm = await decodeAudioPcm(file);
    const voices = tonePresence(mixPcm, 48_000, [440, fb.beepFreq], { minActiveFraction: 0.05 });
    expect(voices.present, JSON.stringify(voices.details)).toEqual([440, fb.beepFreq]);
    // …and whole through the bundled build's AAC encoder and muxer: every 20 ms cell in which a voice's own track has
    // its tone is in the mix (≤ 0.5 % missing; the check of test/e2e/mix-continuity.test.ts, which runs on the system
    // ffmpeg only).
    const continuity: ContinuityResult[] = [];
    for (const track of manifest.tracks.filter((t) => t.kind === 'audio')) {
      const freq = track.participantName === 'Red' ? 440 : fb.beepFreq;
      const trackOffsetMs = trackOffsetInMix(manifest, track);
      const trackPcm = await decodeAudioPcm(trackPath(summary.dir, track));
      continuity.push(
        voiceContinuity(mixPcm, { id: track.participantName, freq, trackPcm, trackOffsetMs, inMix: inMixFromTimeline(manifest.speakerTimeline ?? [], track.participantId) }, { searchMs: alignmentSearchMs(manifest, track) }),
      );
    }
    console.log(`bundled ffmpeg: mix continuity\n${describeContinuity(continuity)}`);
    expect(continuity.map((r) => r.id).sort()).toEqual(['Flash', 'Red']);
    expect(continuity.find((r) => r.id === 'Red')!.judgedCells, 'Red judged over seconds of talking').toBeGreaterThan(150);
    for (const r of continuity) expect(r.missingShare, describeContinuity([r])).toBeLessThanOrEqual(0.005);
  });
});
