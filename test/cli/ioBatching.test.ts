// IoBatching with real UDP: a worker thread sends a datagram every ~1 ms to a socket on 127.0.0.1 while the main
// thread (the one that sleeps) receives. Batched, the packets arrive in clumps one period apart, none lost.
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoBatching } from '../../src/cli/IoBatching.js';
import { FfmpegProcess } from '../../src/media/ffmpeg/FfmpegProcess.js';
import { VideoTileDecoder } from '../../src/media/video/VideoTileDecoder.js';
import { vp8Frames } from '../harness/ivf.js';

const SENDER = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
let n = 0;
const buf = Buffer.alloc(8);
const timer = setInterval(() => {
  buf.writeDoubleBE(performance.timeOrigin + performance.now());
  s.send(buf, workerData.port, '127.0.0.1');
  if (++n === workerData.count) { clearInterval(timer); setTimeout(() => { s.close(); parentPort.postMessage('done'); }, 50); }
}, 1);
`;

interface Received {
  /** When the main thread handled each packet (ms, performance.now()). */
  at: number[];
  /** How long after it was sent, ms. */
  delay: number[];
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function receive(count: number): Promise<Received> {
  const socket: Socket = createSocket('udp4');
  cleanups.push(() => socket.close());
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const got: Received = { at: [], delay: [] };
  socket.on('message', (msg) => {
    const now = performance.now();
    got.at.push(now);
    got.delay.push(performance.timeOrigin + now - msg.readDoubleBE(0));
  });
  const worker = new Worker(SENDER, { eval: true, workerData: { port: socket.address().port, count } });
  cleanups.push(() => void worker.terminate());
  await new Promise((r) => worker.once('message', r));
  return got;
}

/** Runs of packets handled back to back (one loop turn handles its packets microseconds apart; they come ~1 ms apart). */
function clumps(at: number[]): number {
  let n = at.length ? 1 : 0;
  for (let i = 1; i < at.length; i++) if (at[i]! - at[i - 1]! > 0.3) n++;
  return n;
}

describe('IoBatching', () => {
  it('handles I/O in batches one period apart, losing nothing, adding at most about a period of delay', async () => {
    const unbatched = await receive(300);
    const batching = new IoBatching(20).start();
    cleanups.push(() => batching.stop());
    const batched = await receive(300);
    batching.stop();

    expect(unbatched.at.length).toBe(300);
    expect(batched.at.length).toBe(300);
    const spanMs = batched.at.at(-1)! - batched.at[0]!;
    // ~300 ms of packets: unbatched nearly every one is its own turn; batched, about one clump per 20 ms.
    const batchedClumps = clumps(batched.at);
    expect(batchedClumps, `batched clumps in ${spanMs.toFixed(0)} ms`).toBeLessThanOrEqual(Math.ceil(spanMs / 20) + 3);
    expect(clumps(unbatched.at), 'unbatched clumps').toBeGreaterThan(3 * batchedClumps);
    expect(batching.sleptMs).toBeGreaterThan(spanMs * 0.5);
    const sorted = [...batched.delay].sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length * 0.95)]!, 'p95 delay, ms').toBeLessThan(20 + 25);
  });

  it('never sleeps after a turn that took longer than the period', async () => {
    const batching = new IoBatching(10).start();
    cleanups.push(() => batching.stop());
    const busyTurn = async () => {
      await new Promise((r) => setImmediate(r));
      const until = performance.now() + 15;
      while (performance.now() < until);
    };
    // The turn before the first busy one was short: the sleep after it is fine.
    await busyTurn();
    const sleptBefore = batching.sleptMs;
    for (let i = 0; i < 10; i++) await busyTurn();
    batching.stop();
    expect(batching.sleptMs - sleptBefore).toBeLessThan(1);
  });

  it('lets an idle process sleep in epoll: no spinning without I/O', async () => {
    const batching = new IoBatching(20).start();
    cleanups.push(() => batching.stop());
    const cpu = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 300));
    const used = process.cpuUsage(cpu);
    batching.stop();
    // A spinning loop would burn ~300 ms; an idle one a few.
    expect((used.user + used.system) / 1000).toBeLessThan(60);
  });

  // A raw 720p picture (1.4 MB) is seven pipe-fulls: a sleep at every refill throttled the decoders and the encoder
  // to ~200 KB per period (the composite went slow-motion). Counted in time asleep, not wall time.
  it('stays awake while a raw frame is still being written to ffmpeg', async () => {
    const frameBytes = (1280 * 720 * 3) / 2;
    const proc = new FfmpegProcess(['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', '1280x720', '-i', 'pipe:0', '-f', 'null', '-']);
    const batching = new IoBatching(20).start();
    cleanups.push(() => batching.stop());
    const frame = Buffer.alloc(frameBytes, 0x80);
    for (let i = 0; i < 10; i++) {
      await new Promise<void>((resolve) => proc.writeAll([frame], undefined, resolve));
    }
    const slept = batching.sleptMs;
    batching.stop();
    await proc.stop();
    // Without the pipe watch: ~6 sleeps of 20 ms per frame, ~1.2 s in all.
    expect(slept, 'ms asleep while writing 10 frames').toBeLessThan(100);
  });

  it("stays awake while a decoder's picture is half read", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtc-iobatch-'));
    const frames = await vp8Frames(join(dir, 'clip.ivf'), 'testsrc=s=1280x720:r=30', 1, ['-b:v', '1M']);
    const dec = new VideoTileDecoder({ codec: 'vp8', width: 1280, height: 720, label: 'iobatch' });
    cleanups.push(() => void dec.stop());
    let pictures = 0;
    dec.on('frame', (f) => {
      dec.release(f.data);
      pictures++;
    });
    const batching = new IoBatching(20).start();
    cleanups.push(() => batching.stop());
    frames.forEach((f, i) => dec.push(f.data, f.key, i * 33));
    // Closing its input lets the decoder finish; every picture is read before stop() resolves.
    await dec.stop(10_000);
    batching.stop();
    expect(pictures).toBe(frames.length);
    // At most one sleep between two pictures; without the watch, ~6 per picture (each is seven pipe-fulls).
    expect(batching.sleptMs / frames.length, 'ms asleep per picture').toBeLessThan(25);
  });

  it('is off at 0 and refuses a period beyond 100 ms', () => {
    const off = new IoBatching(0).start();
    expect(off.sleptMs).toBe(0);
    off.stop();
    expect(() => new IoBatching(101)).toThrow(RangeError);
    expect(() => new IoBatching(-1)).toThrow(RangeError);
  });
});
