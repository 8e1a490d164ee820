// Self-test of the non-browser harness pieces: fixtures (checked with ffprobe/ffmpeg), util
// helpers and scripts/in-netns.mjs.
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  AUDIO_SAMPLE_RATE,
  audioFixture,
  colorToRgb,
  flashBeepFixture,
  probeFile,
  videoFixture,
} from '../harness/fixtures.js';
import { isNetworkIsolated } from '../harness/netns.js';
import { freePort, waitFor } from '../harness/util.js';

const execFileP = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const inNetns = resolve(repoRoot, 'scripts', 'in-netns.mjs');

/** Decodes video frames to raw pixels with ffmpeg. */
async function decodeFrames(path: string, pixFmt: 'rgb24' | 'gray', frames: number): Promise<Buffer> {
  const { stdout } = await execFileP(
    'ffmpeg',
    ['-v', 'error', '-i', path, '-frames:v', String(frames), '-f', 'rawvideo', '-pix_fmt', pixFmt, '-'],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: 30_000 },
  );
  return stdout;
}

/** 16-bit mono PCM samples of a .wav, as -1..1 floats. */
async function readWav(path: string): Promise<Float32Array> {
  const buf = await readFile(path);
  expect(buf.toString('ascii', 0, 4)).toBe('RIFF');
  expect(buf.toString('ascii', 8, 12)).toBe('WAVE');
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const out = new Float32Array(size / 2);
      for (let i = 0; i < out.length; i++) out[i] = buf.readInt16LE(off + 8 + i * 2) / 32768;
      return out;
    }
    off += 8 + size + (size % 2);
  }
  throw new Error(`no data chunk in ${path}`);
}

function peak(samples: Float32Array, fromS: number, toS: number): number {
  let m = 0;
  const end = Math.min(samples.length, Math.round(toS * AUDIO_SAMPLE_RATE));
  for (let i = Math.round(fromS * AUDIO_SAMPLE_RATE); i < end; i++) m = Math.max(m, Math.abs(samples[i]!));
  return m;
}

describe('fixtures', () => {
  it('colorToRgb accepts hex and names', () => {
    expect(colorToRgb('#ff0000')).toEqual([255, 0, 0]);
    expect(colorToRgb('red')).toEqual([255, 0, 0]);
    expect(colorToRgb('0x00FF80')).toEqual([0, 255, 128]);
    expect(() => colorToRgb('chartreuse-ish')).toThrow(/unsupported colour/);
  });

  it('videoFixture(color) is a cached I420 y4m of the requested size, rate, length and colour', async () => {
    const opts = { kind: 'color', color: '#ff0000', width: 160, height: 120, fps: 15, seconds: 1 } as const;
    const path = await videoFixture(opts);
    expect(path).toMatch(/\.cache\/fixtures\/.*\.y4m$/);
    const header = (await readFile(path)).subarray(0, 64).toString('latin1');
    expect(header.startsWith('YUV4MPEG2 ')).toBe(true);
    expect(header).toMatch(/ C420/);

    const probe = await probeFile(path);
    expect(probe.format.format_name).toBe('yuv4mpegpipe');
    const v = probe.streams[0]!;
    expect(v).toMatchObject({ codec_type: 'video', codec_name: 'rawvideo', width: 160, height: 120, pix_fmt: 'yuv420p', r_frame_rate: '15/1' });
    expect(Number(probe.format.duration)).toBeCloseTo(1, 1);

    const rgb = await decodeFrames(path, 'rgb24', 1);
    const centre = ((60 * 160 + 80) * 3) as number;
    const px = [rgb[centre]!, rgb[centre + 1]!, rgb[centre + 2]!];
    px.forEach((c, i) => expect(Math.abs(c - [255, 0, 0][i]!)).toBeLessThanOrEqual(8));

    // Same parameters (name or hex) → same file, not regenerated.
    const before = (await stat(path)).mtimeMs;
    const t0 = Date.now();
    expect(await videoFixture({ ...opts, color: 'red' })).toBe(path);
    expect(Date.now() - t0).toBeLessThan(200);
    expect((await stat(path)).mtimeMs).toBe(before);
    // Different parameters → different file.
    expect(await videoFixture({ ...opts, color: 'blue' })).not.toBe(path);
  });

  it('videoFixture(testsrc) is a moving pattern', async () => {
    const path = await videoFixture({ kind: 'testsrc', width: 160, height: 120, fps: 15, seconds: 2 });
    const probe = await probeFile(path);
    expect(probe.streams[0]).toMatchObject({ codec_name: 'rawvideo', width: 160, height: 120, pix_fmt: 'yuv420p', r_frame_rate: '15/1' });
    expect(Number(probe.format.duration)).toBeCloseTo(2, 1);
    const frames = await decodeFrames(path, 'gray', 2);
    const size = 160 * 120;
    expect(frames.subarray(0, size).equals(frames.subarray(size, 2 * size))).toBe(false);
  });

  it('videoFixture rejects odd sizes', () => {
    expect(() => videoFixture({ kind: 'testsrc', width: 161, height: 120 })).toThrow(/even/);
  });

  it('audioFixture makes 48 kHz mono s16 tone bursts', async () => {
    const path = await audioFixture({ freq: 440, seconds: 2, amplitude: 0.5 });
    const probe = await probeFile(path);
    expect(probe.streams[0]).toMatchObject({ codec_type: 'audio', codec_name: 'pcm_s16le', sample_rate: '48000', channels: 1 });
    expect(Number(probe.format.duration)).toBeCloseTo(2, 2);

    const s = await readWav(path);
    expect(s.length).toBe(2 * AUDIO_SAMPLE_RATE);
    // Default bursts: 180 ms on, 70 ms off, period 250 ms.
    for (const k of [0, 1, 4, 7]) {
      const t = k * 0.25;
      expect(peak(s, t + 0.02, t + 0.16)).toBeCloseTo(0.5, 1);
      expect(peak(s, t + 0.185, t + 0.245)).toBe(0);
    }
  });

  it('audioFixture phases change loudness', async () => {
    const phases = [
      { seconds: 1, amplitude: 0.1 },
      { seconds: 0.5, amplitude: 0 },
      { seconds: 1, amplitude: 0.8 },
    ];
    const path = await audioFixture({ freq: 500, phases, burstOnMs: 200, burstOffMs: 50 });
    expect(Number((await probeFile(path)).format.duration)).toBeCloseTo(2.5, 2);
    const s = await readWav(path);
    expect(peak(s, 0, 1)).toBeCloseTo(0.1, 2);
    expect(peak(s, 1, 1.5)).toBe(0);
    expect(peak(s, 1.5, 2.5)).toBeCloseTo(0.8, 2);
    // Steady tone when burstOffMs = 0.
    const steady = await readWav(await audioFixture({ freq: 500, seconds: 1, burstOffMs: 0 }));
    for (let t = 0; t < 0.95; t += 0.05) expect(peak(steady, t, t + 0.05)).toBeGreaterThan(0.45);
  });

  it('flashBeepFixture flashes and beeps together once per period', async () => {
    const fx = await flashBeepFixture({ periodSeconds: 1, periods: 2, width: 160, height: 120, fps: 15 });
    const vp = await probeFile(fx.video);
    expect(vp.streams[0]).toMatchObject({ width: 160, height: 120, pix_fmt: 'yuv420p', r_frame_rate: '15/1' });
    expect(Number(vp.format.duration)).toBeCloseTo(2, 1);
    const ap = await probeFile(fx.audio);
    expect(ap.streams[0]).toMatchObject({ codec_name: 'pcm_s16le', sample_rate: '48000', channels: 1 });
    expect(Number(ap.format.duration)).toBeCloseTo(2, 2);

    const size = 160 * 120;
    const gray = await decodeFrames(fx.video, 'gray', 30);
    const luma = Array.from({ length: 30 }, (_, f) => gray[f * size + size / 2 + 80]!);
    const white = luma.map((y) => y > 200);
    const expected = luma.map((_, f) => f % 15 < fx.flashFrames);
    expect(white).toEqual(expected);
    expect(Math.max(...luma.filter((_, f) => !expected[f]))).toBeLessThan(30);

    const s = await readWav(fx.audio);
    for (const t of [0, 1]) {
      expect(peak(s, t, t + 0.005)).toBeGreaterThan(0.1); // sharp onset at the flash
      expect(peak(s, t + 0.01, t + fx.beepMs / 1000 - 0.01)).toBeCloseTo(0.5, 1);
      expect(peak(s, t + fx.beepMs / 1000 + 0.001, t + 0.99)).toBe(0);
    }
  });
});

describe('util', () => {
  it('freePort gives a port free on TCP and UDP', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    await new Promise<void>((r) => srv.close(() => r()));
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(port, '127.0.0.1', r));
    await new Promise<void>((r) => sock.close(r));
  });

  it('waitFor returns the first truthy value, tolerating errors meanwhile', async () => {
    let n = 0;
    const v = await waitFor(
      () => {
        n++;
        if (n < 3) throw new Error('not yet');
        return n >= 4 ? { n } : null;
      },
      { timeoutMs: 2000, intervalMs: 5 },
    );
    expect(v).toEqual({ n: 4 });
  });

  it('waitFor times out with the description and last error', async () => {
    const t0 = Date.now();
    await expect(
      waitFor(
        () => {
          throw new Error('boom');
        },
        { timeoutMs: 150, intervalMs: 20, description: 'the thing' },
      ),
    ).rejects.toThrow(/the thing not met within 150 ms: last error: boom/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('scripts/in-netns.mjs', () => {
  it.runIf(process.env.RTC_RECORD_NETNS === '1')('this run itself is network-isolated', () => {
    expect(isNetworkIsolated()).toBe(true);
  });

  // Always exercise the unshare path, even when this test already runs in a namespace.
  const env = { ...process.env, RTC_RECORD_NETNS: '', RTC_RECORD_NO_NETNS: '' };
  const run = (args: string[]) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolvePromise, reject) => {
      const child = spawn(process.execPath, [inNetns, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolvePromise({ code, signal, stdout });
      });
    });
  const isRoot = process.getuid?.() === 0;

  it.runIf(isRoot)('runs the command with only lo, up, and forwards the exit code', async () => {
    const r = await run(['sh', '-c', 'ip -o link show; echo "netns=$RTC_RECORD_NETNS"; exit 7']);
    expect(r.code).toBe(7);
    const links = r.stdout.split('\n').filter((l) => /^\d+: /.test(l));
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    expect(r.stdout).toContain('netns=1');
  });

  it.runIf(isRoot)('resolves commands from node_modules/.bin', async () => {
    const r = await run(['vitest', '--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/vitest\/\d/);
  });

  it.runIf(isRoot)('forwards signals to the command and dies by the same signal', async () => {
    const child = spawn(process.execPath, [inNetns, 'sh', '-c', 'echo ready; exec sleep 30'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      await new Promise<void>((r) => child.stdout.once('data', () => r()));
      const t0 = Date.now();
      child.kill('SIGTERM');
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
      expect({ code, signal }).toEqual({ code: null, signal: 'SIGTERM' });
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
  });
});
