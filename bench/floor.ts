/**
 * The ffmpeg-only floor: the same transcoding work as our composite, from the same fixture files, in one ffmpeg at
 * real-time pace (-re) — decode the N VP8 inputs, scale them into the same grid at the same output size/fps (xstack),
 * x264 with the same preset and bitrate, amix the Opus inputs, AAC. Measured exactly like the recorder.
 */
import { join } from 'node:path';
import { FfmpegProcess, type FfmpegProgress } from '../src/media/ffmpeg/index.js';
import { createLogger } from '../src/logger.js';
import type { ParticipantMediaSpec } from './fixtures.js';
import { cores, coresByComm, median, TreeSampler } from './measure/procTree.js';
import { mixContinuity, type MixContinuity } from './measure/continuity.js';
import { compositeFreezes, type TileFreezes } from './measure/freezes.js';
import { probe, type ProbeInfo } from './measure/output.js';
import { audioEncoderArgs, videoEncoderArgs } from '../src/media/encoder/Mp4Encoder.js';
import { tileFitFilter } from '../src/media/video/VideoTileDecoder.js';
import { COMPOSITE_OUTPUT } from './scenarios.js';

export interface Grid {
  cols: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
}

/** The grid a composite of n tiles uses: as square as possible, tiles of even size. */
export function gridFor(n: number, width: number, height: number): Grid {
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const even = (v: number) => Math.max(2, Math.floor(v / 2) * 2);
  return { cols, rows, tileWidth: even(width / cols), tileHeight: even(height / rows) };
}

export function floorArgs(kind: 'composite' | 'audio', media: ParticipantMediaSpec[], seconds: number, out: string): string[] {
  const o = COMPOSITE_OUTPUT;
  // One thread per decoder and for the filters, as the recorder's decoders run: measured 5 % cheaper than ffmpeg's
  // default threading for this work (7.5 against 7.9 CPU-s per 20 s), and the floor must be the cheapest way to do it.
  const loop = ['-threads', '1', '-re', '-stream_loop', '-1'];
  const videos = kind === 'composite' ? media.filter((m) => m.video) : [];
  const audios = media.filter((m) => m.audio);
  const inputs = [...videos.flatMap((m) => [...loop, '-i', m.video!.path]), ...audios.flatMap((m) => [...loop, '-i', m.audio!.path])];
  const filters: string[] = [];
  const maps: string[] = [];
  if (videos.length > 0) {
    const g = gridFor(videos.length, o.width, o.height);
    videos.forEach((_, i) => {
      // The recorder's own tile fit (scaler included): the floor must do the same work, not more.
      filters.push(`[${i}:v]${tileFitFilter(g.tileWidth, g.tileHeight)},fps=${o.fps}[v${i}]`);
    });
    const layout = videos.map((_, i) => `${(i % g.cols) * g.tileWidth}_${Math.floor(i / g.cols) * g.tileHeight}`).join('|');
    const stacked = videos.length > 1 ? `${videos.map((_, i) => `[v${i}]`).join('')}xstack=inputs=${videos.length}:layout=${layout}:fill=black,` : '[v0]';
    filters.push(`${stacked}pad=${o.width}:${o.height}:0:0:black,format=yuv420p[vout]`);
    maps.push('-map', '[vout]', ...videoEncoderArgs(o), '-r', String(o.fps));
  }
  const a0 = videos.length;
  filters.push(`${audios.map((_, i) => `[${a0 + i}:a]`).join('')}amix=inputs=${audios.length}:duration=longest,aresample=48000[aout]`);
  maps.push('-map', '[aout]', ...audioEncoderArgs({ sampleRate: 48_000, channels: 1 }));
  return ['-nostdin', '-loglevel', 'error', '-y', '-filter_complex_threads', '1', ...inputs, '-filter_complex', filters.join(';'), ...maps, '-t', String(seconds), out];
}

export interface FloorResult {
  args: string[];
  /** Steady-window cores (same window rule as ours: after warm-up, for the measured seconds). */
  cores: number;
  coresByComm: Record<string, number>;
  cpuTotalSec: number;
  peakRssMB: number;
  steadyRssMB: number;
  steadyPssMB: number;
  /** Output duration / wall time from spawn to exit. */
  rtf: number;
  /** ffmpeg's own last reported speed (1.0 = kept real time). */
  speed?: number;
  wallSec: number;
  output?: ProbeInfo;
  /** Composite: frozen stretches per grid tile of the output, judged as ours are (the clips' own share). */
  freezes?: TileFreezes;
  /** Each voice's talking time missing from the amix (all voices, each at 1/N), judged as ours are. */
  continuity?: MixContinuity;
  exitCode: number | null;
  error?: string;
}

const logger = createLogger({ level: 'warn', name: 'bench' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFloor(
  kind: 'composite' | 'audio',
  media: ParticipantMediaSpec[],
  opts: { warmupSec: number; seconds: number; workDir: string; onStart?: (p: FfmpegProcess) => void },
): Promise<FloorResult> {
  const out = join(opts.workDir, kind === 'composite' ? 'floor.mp4' : 'floor.m4a');
  const total = opts.warmupSec + opts.seconds;
  const args = floorArgs(kind, media, total, out);
  const t0 = Date.now();
  const proc = new FfmpegProcess(args, { label: `floor ${kind}`, logger, progress: true });
  opts.onStart?.(proc);
  let progress: FfmpegProgress | undefined;
  proc.on('progress', (p) => (progress = p));
  let failure: string | undefined;
  proc.on('error', (e) => (failure = e.message));
  const sampler = new TreeSampler(proc.pid!, 1000, true).start();
  await sleep(opts.warmupSec * 1000);
  const w0 = sampler.sampleNow();
  await Promise.race([proc.exited, sleep(opts.seconds * 1000)]);
  const w1 = sampler.sampleNow();
  // Bounded: ffmpeg ends by itself at -t; if it does not, stop it (q, SIGINT, SIGKILL).
  const hardStop = setTimeout(() => void proc.stop({ graceMs: 5000 }), (opts.seconds + 60) * 1000);
  const exit = await proc.exited;
  clearTimeout(hardStop);
  sampler.stop();
  const wallSec = (Date.now() - t0) / 1000;
  const output = await probe(out);
  const freezes = kind === 'composite' ? await compositeFreezes(out, output, media.filter((m) => m.video).length) : undefined;
  const audios = media.filter((m) => m.audio);
  const continuity = audios.length
    ? await mixContinuity(out, audios.map((m) => ({ media: m, startPacket: 0, offsetMs: 0 })), { mixGain: 1 / audios.length })
    : undefined;
  const steady = w0 && w1 ? sampler.between(w0.atMs, w1.atMs) : [];
  const last = sampler.last;
  return {
    args,
    cores: w0 && w1 ? cores(w0, w1) : NaN,
    coresByComm: w0 && w1 ? coresByComm(w0, w1) : {},
    cpuTotalSec: last?.cpuSec ?? NaN,
    peakRssMB: sampler.peakRssBytes / 2 ** 20,
    steadyRssMB: median(steady.map((s) => s.rssBytes)) / 2 ** 20,
    steadyPssMB: median(steady.map((s) => s.pssBytes ?? NaN)) / 2 ** 20,
    rtf: output?.durationSec ? output.durationSec / wallSec : NaN,
    speed: progress?.speed ?? undefined,
    wallSec,
    output,
    freezes,
    continuity,
    exitCode: exit.code,
    error: failure ?? (w0 && w1 ? undefined : 'ffmpeg exited before the measurement window ended'),
  };
}
