import { chmodSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtcRecordError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { clearFfmpegResolutionCache, ffmpegCandidates, ffmpegVersion, resolveFfmpeg, resolveFfprobe } from '../../../src/media/ffmpeg/ffmpegBinary.js';
import { FfmpegProcess, runFfmpeg, runFfprobe, type FfmpegExit, type FfmpegProgress } from '../../../src/media/ffmpeg/FfmpegProcess.js';
import { ProgressParser } from '../../../src/media/ffmpeg/progress.js';
import { decodeErrors, frameCount, probe } from '../../harness/analyze.js';

const quiet = createLogger({ level: 'silent' });
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtc-ffmpeg-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const systemFfmpeg = (): string => resolveFfmpeg({ env: { PATH: process.env.PATH }, loadStatic: () => null }).path;

function fakeBinary(sub: string, name: string, executable: boolean): string {
  const d = join(dir, sub);
  mkdirSync(d, { recursive: true });
  const p = join(d, name);
  writeFileSync(p, '#!/bin/sh\nexit 0\n');
  chmodSync(p, executable ? 0o755 : 0o644);
  return p;
}

function expectCode(err: unknown, code: string): RtcRecordError {
  expect(err).toBeInstanceOf(RtcRecordError);
  expect((err as RtcRecordError).code).toBe(code);
  return err as RtcRecordError;
}

describe('resolveFfmpeg / resolveFfprobe', () => {
  it('prefers FFMPEG_PATH over PATH and the packages', () => {
    const env = { FFMPEG_PATH: systemFfmpeg(), PATH: process.env.PATH };
    expect(resolveFfmpeg({ env, loadStatic: () => '/static/ffmpeg', loadBundled: () => '/bundled/ffmpeg' })).toEqual({ path: env.FFMPEG_PATH, source: 'env' });
  });

  it('uses PATH before ffmpeg-static, ffmpeg-static before the bundled binary', () => {
    const onPath = { env: { PATH: process.env.PATH }, loadStatic: () => '/static/ffmpeg', loadBundled: () => '/bundled/ffmpeg' };
    expect(resolveFfmpeg(onPath).source).toBe('path');
    const noPath = { ...onPath, env: { PATH: '' } };
    expect(resolveFfmpeg(noPath)).toEqual({ path: '/static/ffmpeg', source: 'ffmpeg-static' });
    expect(resolveFfmpeg({ ...noPath, loadStatic: () => null })).toEqual({ path: '/bundled/ffmpeg', source: 'bundled' });
  });

  it('finds the real bundled package when nothing else is there', () => {
    const r = resolveFfmpeg({ env: { PATH: '' }, loadStatic: () => null });
    expect(r).toEqual({ path: expect.stringMatching(/node_modules\/@ffmpeg-installer\/linux-x64\/ffmpeg$/), source: 'bundled' });
  });

  it('lists every candidate with why it is missing', () => {
    const list = ffmpegCandidates({ env: { FFMPEG_PATH: '/nonexistent/ffmpeg', PATH: '' }, loadStatic: () => null });
    expect(list.map((c) => [c.source, c.path === null])).toEqual([['env', true], ['path', true], ['ffmpeg-static', true], ['bundled', false]]);
    expect(list[0]!.note).toContain('/nonexistent/ffmpeg is not an executable file');
  });

  it('rejects a bad FFMPEG_PATH instead of silently falling back', () => {
    let err: unknown;
    try {
      resolveFfmpeg({ env: { FFMPEG_PATH: '/nonexistent/ffmpeg', PATH: process.env.PATH }, loadStatic: () => null });
    } catch (e) {
      err = e;
    }
    const e = expectCode(err, 'FFMPEG_NOT_FOUND');
    expect(e.message).toContain('FFMPEG_PATH=/nonexistent/ffmpeg');
    expect(e.message).toMatch(/apt-get install ffmpeg/);
  });

  it('skips non-executable PATH entries and fails clearly when nothing is found', () => {
    fakeBinary('noexec', 'ffmpeg', false);
    const good = fakeBinary('exec', 'ffmpeg', true);
    const PATH = [join(dir, 'noexec'), join(dir, 'exec')].join(':');
    const none = { loadStatic: () => null, loadBundled: () => null };
    expect(resolveFfmpeg({ env: { PATH }, ...none })).toEqual({ path: good, source: 'path' });
    expect(() => resolveFfmpeg({ env: { PATH: join(dir, 'noexec') }, ...none })).toThrow(/ffmpeg not found/);
  });

  it('finds ffprobe via FFPROBE_PATH, next to FFMPEG_PATH, then PATH', () => {
    const ff = fakeBinary('bundle', 'ffmpeg', true);
    const fp = fakeBinary('bundle', 'ffprobe', true);
    expect(resolveFfprobe({ env: { FFMPEG_PATH: ff, PATH: '' } })).toEqual({ path: fp, source: 'env' });
    expect(resolveFfprobe({ env: { FFPROBE_PATH: fp, PATH: '' } })).toEqual({ path: fp, source: 'env' });
    expect(resolveFfprobe({ env: { PATH: process.env.PATH } }).source).toBe('path');
    expect(() => resolveFfprobe({ env: { FFPROBE_PATH: join(dir, 'nope') } })).toThrow(RtcRecordError);
  });

  it('honours process.env changes despite caching', () => {
    const saved = process.env.FFMPEG_PATH;
    try {
      process.env.FFMPEG_PATH = systemFfmpeg();
      expect(resolveFfmpeg().source).toBe('env');
      expect(resolveFfmpeg()).toBe(resolveFfmpeg()); // cached object
      process.env.FFMPEG_PATH = join(dir, 'missing-ffmpeg');
      expect(() => resolveFfmpeg()).toThrow(/FFMPEG_PATH=/);
    } finally {
      if (saved === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = saved;
      clearFfmpegResolutionCache();
    }
  });

  it('reports the ffmpeg version', async () => {
    expect(await ffmpegVersion()).toMatch(/\d/);
  });
});

describe('ProgressParser', () => {
  it('parses -progress blocks and classic stats lines', () => {
    const p = new ProgressParser();
    for (const l of ['frame=42', 'fps=21.0', 'stream_0_0_q=-0.0', 'bitrate= 524.3kbits/s', 'out_time_us=1400000', 'speed=1.5x']) {
      expect(p.feed(l)).toEqual({ isProgress: true });
    }
    expect(p.feed('progress=continue').progress).toEqual({ frame: 42, fps: 21, time: 1.4, speed: 1.5, bitrateKbps: 524.3, done: false });
    expect(p.feed('progress=end').progress?.done).toBe(true);

    const stats = p.feed('frame=  100 fps= 25 q=-1.0 size=     256kB time=00:00:04.00 bitrate= 524.3kbits/s speed=N/A');
    expect(stats.progress).toMatchObject({ frame: 100, fps: 25, time: 4, bitrateKbps: 524.3, speed: null });
    expect(p.feed('Lsize=N/A time=00:01:02.50 bitrate=N/A speed= 10x').progress).toMatchObject({ frame: null, time: 62.5, speed: 10 });
    expect(p.feed('Stream #0:0: Video: h264').isProgress).toBe(false);
  });
});

describe('FfmpegProcess', () => {
  it('emits progress events', async () => {
    const proc = new FfmpegProcess(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=25:duration=3', '-f', 'null', '-'], { progress: true });
    const events: FfmpegProgress[] = [];
    proc.on('progress', (p) => events.push(p));
    const exit = await proc.exited;
    expect(exit).toEqual({ code: 0, signal: null, expected: true, forced: false });
    expect(events.length).toBeGreaterThan(0);
    const last = events.at(-1)!;
    expect(last.done).toBe(true);
    expect(last.frame).toBe(75);
    expect(last.time).toBeCloseTo(3, 1);
  });

  it('reports unexpected death (SIGKILL) as FFMPEG_DIED with the stderr tail', async () => {
    const proc = new FfmpegProcess(['-re', '-f', 'lavfi', '-i', 'sine=frequency=440', '-f', 'null', '-'], { label: 'victim' });
    const errors: RtcRecordError[] = [];
    const exits: FfmpegExit[] = [];
    proc.on('error', (e) => errors.push(e));
    proc.on('exit', (e) => exits.push(e));
    // Wait until ffmpeg has printed its stream mapping so the tail has content.
    await new Promise<void>((resolve) => proc.on('stderr', (l) => l.includes('Stream mapping') && resolve()));
    process.kill(proc.pid!, 'SIGKILL');
    const exit = await proc.exited;
    expect(exit).toMatchObject({ signal: 'SIGKILL', expected: false });
    expect(exits).toEqual([exit]);
    expect(errors).toHaveLength(1);
    const err = expectCode(errors[0], 'FFMPEG_DIED');
    expect(err.message).toContain('victim exited unexpectedly with signal SIGKILL');
    expect(err.message).toContain('Stream mapping');
    expect(proc.stderrTail().length).toBeLessThanOrEqual(50);
  });

  it('reports a non-zero exit as FFMPEG_DIED', async () => {
    const proc = new FfmpegProcess(['-i', join(dir, 'does-not-exist.webm'), '-f', 'null', '-']);
    const err = await new Promise<RtcRecordError>((resolve) => proc.on('error', resolve));
    expectCode(err, 'FFMPEG_DIED');
    expect(err.message).toMatch(/code 1.*\n.*No such file or directory/s);
  });

  it('does not crash without an error listener', async () => {
    const proc = new FfmpegProcess(['-i', join(dir, 'does-not-exist.webm'), '-f', 'null', '-'], { logger: quiet });
    expect((await proc.exited).expected).toBe(false);
  });

  it('reports a binary that cannot be started as FFMPEG_NOT_FOUND', async () => {
    const proc = new FfmpegProcess(['-version'], { binaryPath: join(dir, 'no-such-ffmpeg') });
    const err = await new Promise<RtcRecordError>((resolve) => proc.on('error', resolve));
    expectCode(err, 'FFMPEG_NOT_FOUND');
    expect((await proc.exited).expected).toBe(false);
    expect(proc.write(Buffer.alloc(10))).toBe(false);
  });

  it("stop() finalizes an MP4 via 'q' when stdin is not an input", async () => {
    const out = join(dir, 'live.mp4');
    const proc = new FfmpegProcess(
      ['-re', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-f', 'mp4', '-y', out],
      { progress: true },
    );
    const errors: unknown[] = [];
    proc.on('error', (e) => errors.push(e));
    await new Promise<void>((resolve) => proc.on('progress', (p) => (p.time ?? 0) >= 1 && resolve()));
    const exit = await proc.stop({ graceMs: 10_000 });
    expect(exit).toMatchObject({ expected: true, forced: false });
    expect(errors).toEqual([]);
    const info = await probe(out);
    expect(info.streams.map((s) => s.codec).sort()).toEqual(['aac', 'h264']);
    expect(info.durationSec).toBeGreaterThan(0.8);
    expect(await decodeErrors(out)).toEqual([]);
  });

  it('stop() finalizes an MP4 fed raw frames on stdin (EOF)', async () => {
    const out = join(dir, 'piped.mp4');
    const [w, h] = [64, 48];
    const proc = new FfmpegProcess([
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${w}x${h}`, '-r', '10', '-i', 'pipe:0',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'mp4', '-y', out,
    ]);
    const frame = Buffer.alloc(w * h * 3, 0x80);
    for (let i = 0; i < 20; i++) {
      if (!proc.write(frame)) await new Promise((r) => proc.stdin.once('drain', r));
    }
    const exit = await proc.stop({ graceMs: 10_000 });
    expect(exit).toMatchObject({ code: 0, expected: true, forced: false });
    expect(await frameCount(out)).toBe(20);
  });

  it('stop() falls back to SIGINT when ffmpeg does not read stdin', async () => {
    // -nostdin: the 'q' is never read; ffmpeg still exits cleanly on SIGINT.
    const proc = new FfmpegProcess(['-nostdin', '-re', '-f', 'lavfi', '-i', 'sine', '-f', 'null', '-']);
    await sleep(300);
    const t0 = Date.now();
    const exit = await proc.stop({ graceMs: 4000, sigintAfterMs: 200 });
    expect(exit).toMatchObject({ expected: true, forced: false });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('stop() escalates to SIGKILL after the grace period', async () => {
    const stubborn = join(dir, 'stubborn.sh');
    writeFileSync(stubborn, "#!/bin/sh\ntrap '' INT TERM\necho ready >&2\nwhile :; do sleep 0.05; done\n");
    chmodSync(stubborn, 0o755);
    const proc = new FfmpegProcess([], { binaryPath: stubborn, logger: quiet });
    await new Promise<void>((resolve) => proc.on('stderr', () => resolve()));
    const exit = await proc.stop({ graceMs: 400 });
    expect(exit).toMatchObject({ signal: 'SIGKILL', expected: true, forced: true });
  });

  it('survives writes to a dead ffmpeg (EPIPE)', async () => {
    const proc = new FfmpegProcess(['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', '16x16', '-i', 'pipe:0', '-frames:v', '1', '-f', 'null', '-']);
    const chunk = Buffer.alloc(64 * 1024, 1);
    let exited = false;
    void proc.exited.then(() => (exited = true));
    // Write straight to the stream (not the guarded write()) while and after ffmpeg exits.
    for (let i = 0; i < 200 && !exited; i++) {
      proc.stdin.write(chunk);
      await sleep(5);
    }
    await proc.exited;
    for (let i = 0; i < 5; i++) proc.stdin.write(chunk);
    expect(proc.write(chunk)).toBe(false);
    await sleep(100); // give async EPIPE/ERR_STREAM_DESTROYED errors time to surface
    expect(proc.running).toBe(false);
  });
});

describe('runFfmpeg / runFfprobe', () => {
  it('returns stdout of a one-shot job', async () => {
    const res = await runFfmpeg(['-f', 'lavfi', '-i', 'sine=frequency=1000:duration=0.1', '-ac', '1', '-ar', '8000', '-f', 's16le', '-']);
    expect(res.code).toBe(0);
    expect(res.stdout.length).toBe(800 * 2);
  });

  it('rejects with FFMPEG_DIED and stderr on failure, or returns it with check: false', async () => {
    const bad = ['-v', 'error', '-i', join(dir, 'nope.mp4'), '-f', 'null', '-'];
    await expect(runFfmpeg(bad)).rejects.toMatchObject({ code: 'FFMPEG_DIED', message: expect.stringContaining('No such file') });
    const res = await runFfmpeg(bad, { check: false });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('No such file');
  });

  it('times out', async () => {
    const t0 = Date.now();
    await expect(runFfmpeg(['-re', '-f', 'lavfi', '-i', 'sine', '-f', 'null', '-'], { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'FFMPEG_DIED',
      message: expect.stringContaining('timed out after 300 ms'),
    });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('parses ffprobe JSON', async () => {
    const out = join(dir, 'probe.wav');
    await runFfmpeg(['-f', 'lavfi', '-i', 'sine=duration=0.5', '-y', out]);
    const json = (await runFfprobe(['-v', 'error', '-print_format', 'json', '-show_streams', out])) as { streams: Array<{ codec_type: string }> };
    expect(json.streams[0]?.codec_type).toBe('audio');
    expect(typeof (await runFfprobe(['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', out]))).toBe('string');
  });
});
