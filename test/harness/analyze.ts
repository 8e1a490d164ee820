/**
 * Content checks for decoded recordings (tones, colours, A/V sync), all through ffmpeg/ffprobe.
 *
 * Timeline convention: every time value here is on ffmpeg's default output timeline for the file
 * (input timestamps shifted so the file's earliest stream starts at 0). Audio is resampled with
 * `first_pts=0` so leading gaps become silence, which keeps audio and video times comparable.
 */
import { z } from 'zod';
import { runFfmpeg, runFfprobe } from '../../src/media/ffmpeg/FfmpegProcess.js';
import { parseClock } from '../../src/media/ffmpeg/progress.js';

// ───────────────────────────── probing ─────────────────────────────

export interface ProbedStream {
  index: number;
  codec: string;
  type: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  durationSec?: number;
  startSec?: number;
}

export interface ProbeResult {
  durationSec: number | null;
  formatName: string;
  streams: ProbedStream[];
}

const numeric = z.union([z.string(), z.number()]).optional();
const ProbeJson = z.object({
  format: z.object({ duration: numeric, format_name: z.string().optional() }).optional(),
  streams: z
    .array(
      z.object({
        index: z.number(),
        codec_name: z.string().optional(),
        codec_type: z.string().optional(),
        width: z.number().optional(),
        height: z.number().optional(),
        sample_rate: numeric,
        channels: z.number().optional(),
        duration: numeric,
        start_time: numeric,
        tags: z.record(z.string(), z.string()).optional(),
      }),
    )
    .default([]),
});

function toNum(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number.parseFloat(v);
  return Number.isFinite(n) ? n : undefined;
}

export async function probe(file: string): Promise<ProbeResult> {
  const json = ProbeJson.parse(
    await runFfprobe(['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { timeoutMs: 30_000 }),
  );
  return {
    durationSec: toNum(json.format?.duration) ?? null,
    formatName: json.format?.format_name ?? '',
    streams: json.streams.map((s) => ({
      index: s.index,
      codec: s.codec_name ?? 'unknown',
      type: s.codec_type ?? 'unknown',
      width: s.width,
      height: s.height,
      sampleRate: toNum(s.sample_rate),
      channels: s.channels,
      // Matroska/WebM keep per-stream duration only in a DURATION tag.
      durationSec: toNum(s.duration) ?? parseClock(s.tags?.DURATION ?? s.tags?.duration) ?? undefined,
      startSec: toNum(s.start_time),
    })),
  };
}

/** Error lines from a full decode (`ffmpeg -v error -i f -f null -`); [] means it decodes cleanly. */
export async function decodeErrors(file: string): Promise<string[]> {
  // Frames keep their own timestamps (our tracks are variable frame rate): converting them to a guessed constant rate
  // would make the null muxer report rounding collisions that are not in the file.
  const res = await runFfmpeg(['-v', 'error', '-i', file, '-fps_mode', 'passthrough', '-enc_time_base', '-1', '-f', 'null', '-'], {
    check: false,
    timeoutMs: 120_000,
  });
  const lines = res.stderr.split('\n').filter((l) => l.trim() !== '');
  if (res.code !== 0 && lines.length === 0) lines.push(`ffmpeg exited with code ${res.code}`);
  return lines;
}

const PacketsJson = z.object({
  packets: z.array(z.object({ pts_time: numeric, dts_time: numeric, duration_time: numeric })).default([]),
});

/** Span of a stream's packets (last pts + duration − first pts), in seconds; 0 when the stream is absent. */
export async function streamDuration(file: string, kind: 'audio' | 'video'): Promise<number> {
  const json = PacketsJson.parse(
    await runFfprobe(
      ['-v', 'error', '-select_streams', kind === 'audio' ? 'a:0' : 'v:0', '-show_entries', 'packet=pts_time,dts_time,duration_time', '-print_format', 'json', file],
      { timeoutMs: 60_000 },
    ),
  );
  let start = Infinity;
  let end = -Infinity;
  for (const p of json.packets) {
    const t = toNum(p.pts_time) ?? toNum(p.dts_time);
    if (t === undefined) continue;
    start = Math.min(start, t);
    end = Math.max(end, t + (toNum(p.duration_time) ?? 0));
  }
  return end > start ? end - start : 0;
}

/** Number of decodable video frames (ffprobe -count_frames). */
export async function frameCount(file: string): Promise<number> {
  const json = z
    .object({ streams: z.array(z.object({ nb_read_frames: numeric })).default([]) })
    .parse(
      await runFfprobe(
        ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-print_format', 'json', file],
        { timeoutMs: 120_000 },
      ),
    );
  return toNum(json.streams[0]?.nb_read_frames) ?? 0;
}

// ───────────────────────────── audio ─────────────────────────────

export interface DecodeAudioOptions {
  sampleRate?: number;
  startSec?: number;
  durationSec?: number;
  /** Extra ffmpeg audio filters applied before resampling, e.g. "bandpass=f=1000". */
  filter?: string;
}

/** Decodes the first audio stream to mono float PCM on the file's timeline (see top of file). */
export async function decodeAudioPcm(file: string, opts: DecodeAudioOptions = {}): Promise<Float32Array> {
  const sr = opts.sampleRate ?? 48_000;
  const filters = [opts.filter, `aresample=${sr}:async=1:first_pts=0`].filter(Boolean).join(',');
  const args = [
    '-v', 'error',
    ...(opts.startSec !== undefined ? ['-ss', String(opts.startSec)] : []),
    '-i', file,
    ...(opts.durationSec !== undefined ? ['-t', String(opts.durationSec)] : []),
    '-map', '0:a:0', '-af', filters, '-ac', '1', '-f', 'f32le', '-',
  ];
  const { stdout } = await runFfmpeg(args, { timeoutMs: 120_000 });
  // Copy into a fresh, aligned buffer: Buffer slices may start at odd offsets.
  const bytes = new Uint8Array(stdout.length - (stdout.length % 4));
  bytes.set(stdout.subarray(0, bytes.length));
  return new Float32Array(bytes.buffer);
}

export interface ToneWindow {
  startSec: number;
  /** Estimated sine amplitude (0…1 full scale) per requested frequency, same order. */
  levels: number[];
}

export interface ToneWindowOptions {
  windowMs?: number;
  /** Default windowMs / 2. */
  hopMs?: number;
}

function hann(n: number): { w: Float64Array; sum: number } {
  const w = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    sum += w[i]!;
  }
  return { w, sum };
}

/** Goertzel at an arbitrary frequency over a Hann-windowed frame, scaled so a sine of amplitude A gives ≈A. */
function goertzel(pcm: Float32Array, start: number, win: { w: Float64Array; sum: number }, freq: number, sr: number): number {
  const coeff = 2 * Math.cos((2 * Math.PI * freq) / sr);
  let s1 = 0;
  let s2 = 0;
  const n = win.w.length;
  for (let i = 0; i < n; i++) {
    const s0 = pcm[start + i]! * win.w[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = Math.max(0, s1 * s1 + s2 * s2 - coeff * s1 * s2);
  return (2 * Math.sqrt(power)) / win.sum;
}

/** Goertzel magnitude of each frequency in each window. */
export function toneLevels(pcm: Float32Array, sampleRate: number, freqs: readonly number[], opts: ToneWindowOptions = {}): ToneWindow[] {
  const windowMs = opts.windowMs ?? 50;
  const n = Math.max(16, Math.round((sampleRate * windowMs) / 1000));
  const hop = Math.max(1, Math.round((sampleRate * (opts.hopMs ?? windowMs / 2)) / 1000));
  const win = hann(n);
  const out: ToneWindow[] = [];
  for (let start = 0; start + n <= pcm.length; start += hop) {
    out.push({ startSec: start / sampleRate, levels: freqs.map((f) => goertzel(pcm, start, win, f, sampleRate)) });
  }
  return out;
}

/** Per window, the strongest candidate frequency, or null when none reaches minLevel. */
export function dominantTones(
  pcm: Float32Array,
  sampleRate: number,
  freqs: readonly number[],
  opts: ToneWindowOptions & { minLevel?: number } = {},
): Array<{ startSec: number; freq: number | null; level: number }> {
  const minLevel = opts.minLevel ?? 0.01;
  return toneLevels(pcm, sampleRate, freqs, opts).map(({ startSec, levels }) => {
    let best = -1;
    for (let i = 0; i < levels.length; i++) if (best < 0 || levels[i]! > levels[best]!) best = i;
    const level = best < 0 ? 0 : levels[best]!;
    return { startSec, freq: level >= minLevel ? freqs[best]! : null, level };
  });
}

export interface TonePresenceOptions extends ToneWindowOptions {
  /** A tone counts in a window only if within this many dB of that window's strongest candidate (default -20). */
  relDb?: number;
  /** …and this far above the window's noise floor (default 15 dB). */
  snrDb?: number;
  /** …and at least this amplitude (default 0.003 ≈ -50 dBFS). */
  minLevel?: number;
  /** Present if active in at least this fraction of windows that contain any candidate tone (default 0.1). */
  minActiveFraction?: number;
  /** …and in at least this many windows (default 4). */
  minActiveWindows?: number;
}

export interface TonePresenceDetail {
  freq: number;
  present: boolean;
  /** Fraction of tone-bearing windows in which this frequency was active. */
  activeFraction: number;
  /** Median level in its active windows (or its 90th-percentile level if never active), dBFS. */
  levelDb: number;
}

export interface TonePresence {
  present: number[];
  absent: number[];
  details: TonePresenceDetail[];
}

function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return 0;
  // Long recordings: a strided sample of ≤1M values is plenty and keeps memory bounded.
  const stride = Math.ceil(values.length / 1_000_000);
  const sorted = Float64Array.from({ length: Math.ceil(values.length / stride) }, (_, i) => values[i * stride]!).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))]!;
}

const dB = (x: number): number => 20 * Math.log10(Math.max(x, 1e-9));

/** Off-candidate frequencies whose median level estimates each window's noise floor. */
function noiseProbeFreqs(freqs: readonly number[], sampleRate: number, windowMs: number): number[] {
  const guard = Math.max(80, (4 * 1000) / windowMs);
  const hi = Math.min(6000, sampleRate * 0.45);
  const probes: number[] = [];
  for (let i = 0; i < 32; i++) {
    const f = 200 * Math.pow(hi / 200, i / 31);
    if (freqs.every((c) => Math.abs(c - f) > guard)) probes.push(f);
  }
  return probes;
}

/**
 * Which candidate frequencies are present. Decided per window (so burst edges and silences don't
 * blur the result): a tone is active in a window when it is close to that window's strongest
 * candidate and well above the noise floor; it is present when active often enough. Robust to
 * tone bursts (e.g. 180 ms on / 70 ms off) with the default 50 ms windows. Candidates should be
 * ≥100 Hz apart.
 */
export function tonePresence(pcm: Float32Array, sampleRate: number, freqs: readonly number[], opts: TonePresenceOptions = {}): TonePresence {
  const windowMs = opts.windowMs ?? 50;
  const rel = Math.pow(10, (opts.relDb ?? -20) / 20);
  const snr = Math.pow(10, (opts.snrDb ?? 15) / 20);
  const minLevel = opts.minLevel ?? 0.003;
  const probes = noiseProbeFreqs(freqs, sampleRate, windowMs);
  const windows = toneLevels(pcm, sampleRate, [...freqs, ...probes], { ...opts, windowMs });

  const active: number[][] = freqs.map(() => []);
  const all: number[][] = freqs.map(() => []);
  let toneWindows = 0;
  for (const { levels } of windows) {
    const cand = levels.slice(0, freqs.length);
    const floor = percentile(levels.slice(freqs.length), 50);
    const strongest = Math.max(0, ...cand);
    let any = false;
    cand.forEach((l, i) => {
      all[i]!.push(l);
      if (l >= minLevel && l >= strongest * rel && l >= floor * snr) {
        active[i]!.push(l);
        any = true;
      }
    });
    if (any) toneWindows++;
  }

  const minFraction = opts.minActiveFraction ?? 0.1;
  const minWindows = opts.minActiveWindows ?? 4;
  const details = freqs.map((freq, i): TonePresenceDetail => {
    const hits = active[i]!;
    const activeFraction = toneWindows ? hits.length / toneWindows : 0;
    return {
      freq,
      present: hits.length >= minWindows && activeFraction >= minFraction,
      activeFraction,
      levelDb: dB(hits.length ? percentile(hits, 50) : percentile(all[i]!, 90)),
    };
  });
  return {
    present: details.filter((d) => d.present).map((d) => d.freq),
    absent: details.filter((d) => !d.present).map((d) => d.freq),
    details,
  };
}

/** RMS per consecutive window of `pcm`; tSec is the window start. */
export function envelope(pcm: Float32Array, sampleRate: number, windowMs: number): Array<{ tSec: number; rms: number }> {
  const n = Math.max(1, Math.round((sampleRate * windowMs) / 1000));
  const out: Array<{ tSec: number; rms: number }> = [];
  for (let start = 0; start + n <= pcm.length; start += n) {
    let sum = 0;
    for (let i = start; i < start + n; i++) sum += pcm[i]! * pcm[i]!;
    out.push({ tSec: start / sampleRate, rms: Math.sqrt(sum / n) });
  }
  return out;
}

export async function audioEnvelopeTimeline(
  file: string,
  opts: { windowMs?: number; sampleRate?: number; filter?: string } = {},
): Promise<Array<{ tSec: number; rms: number }>> {
  const sr = opts.sampleRate ?? 48_000;
  return envelope(await decodeAudioPcm(file, { sampleRate: sr, filter: opts.filter }), sr, opts.windowMs ?? 10);
}

// ───────────────────────────── video ─────────────────────────────

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Mean RGB of the w×h region whose top-left corner is (x, y), in the frame shown at timeSec. */
export async function sampleColor(file: string, opts: { timeSec: number; x: number; y: number; w?: number; h?: number }): Promise<Rgb> {
  const w = opts.w ?? 8;
  const h = opts.h ?? 8;
  const { stdout } = await runFfmpeg(
    [
      '-v', 'error', '-ss', String(opts.timeSec), '-i', file, '-map', '0:v:0', '-frames:v', '1',
      // Convert first so the crop is pixel-exact (yuv420p crops snap to even coordinates).
      '-vf', `format=rgb24,crop=${w}:${h}:${opts.x}:${opts.y}`,
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-',
    ],
    { timeoutMs: 60_000 },
  );
  const px = w * h;
  if (stdout.length < px * 3) throw new Error(`sampleColor: no frame at ${opts.timeSec}s in ${file} (got ${stdout.length} bytes)`);
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < px * 3; i += 3) {
    r += stdout[i]!;
    g += stdout[i + 1]!;
    b += stdout[i + 2]!;
  }
  return { r: r / px, g: g / px, b: b / px };
}

/** One decoded video frame, rgb24, row after row. */
export interface RgbFrame {
  width: number;
  height: number;
  data: Buffer;
}

/**
 * The whole frame `sampleColor` reads at `timeSec` (the first at or after it, converted to rgb24 before any crop), so
 * that several regions of one moment cost one ffmpeg run: `regionMean(frame, …)` equals `sampleColor(file, …)`.
 */
export async function frameRgb(file: string, timeSec: number): Promise<RgbFrame> {
  const { stdout } = await runFfmpeg(
    ['-v', 'error', '-ss', String(timeSec), '-i', file, '-map', '0:v:0', '-frames:v', '1', '-vf', 'format=rgb24', '-c:v', 'ppm', '-f', 'image2pipe', '-'],
    { timeoutMs: 60_000 },
  );
  // PPM: "P6", width, height, maxval, one whitespace byte, then the pixels.
  const head = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(stdout.subarray(0, 64).toString('latin1'));
  if (!head) throw new Error(`frameRgb: no frame at ${timeSec}s in ${file} (got ${stdout.length} bytes)`);
  const width = Number(head[1]);
  const height = Number(head[2]);
  const data = stdout.subarray(head[0].length, head[0].length + width * height * 3);
  if (data.length < width * height * 3) throw new Error(`frameRgb: short frame at ${timeSec}s in ${file} (${data.length} bytes)`);
  return { width, height, data };
}

/** Mean colour of a w×h region (default 8×8) at (x, y) of a frame: what sampleColor gives for the same region. */
export function regionMean(frame: RgbFrame, opts: { x: number; y: number; w?: number; h?: number }): Rgb {
  const w = opts.w ?? 8;
  const h = opts.h ?? 8;
  if (opts.x < 0 || opts.y < 0 || opts.x + w > frame.width || opts.y + h > frame.height) {
    throw new Error(`regionMean: ${w}x${h} at ${opts.x},${opts.y} is outside the ${frame.width}x${frame.height} frame`);
  }
  let r = 0;
  let g = 0;
  let b = 0;
  for (let row = opts.y; row < opts.y + h; row++) {
    for (let i = (row * frame.width + opts.x) * 3, end = i + w * 3; i < end; i += 3) {
      r += frame.data[i]!;
      g += frame.data[i + 1]!;
      b += frame.data[i + 2]!;
    }
  }
  const px = w * h;
  return { r: r / px, g: g / px, b: b / px };
}

export function colorDistance(a: Rgb, b: Rgb): number {
  return Math.hypot(a.r - b.r, a.g - b.g, a.b - b.b);
}

/** CSS/ffmpeg colour names (ffmpeg's "green" is #008000; pure green is "lime"). */
export const NAMED_COLORS: Readonly<Record<string, Rgb>> = {
  black: { r: 0, g: 0, b: 0 },
  white: { r: 255, g: 255, b: 255 },
  gray: { r: 128, g: 128, b: 128 },
  red: { r: 255, g: 0, b: 0 },
  lime: { r: 0, g: 255, b: 0 },
  green: { r: 0, g: 128, b: 0 },
  blue: { r: 0, g: 0, b: 255 },
  navy: { r: 0, g: 0, b: 128 },
  yellow: { r: 255, g: 255, b: 0 },
  cyan: { r: 0, g: 255, b: 255 },
  magenta: { r: 255, g: 0, b: 255 },
  orange: { r: 255, g: 165, b: 0 },
  purple: { r: 128, g: 0, b: 128 },
};

export function nearestNamedColor(c: Rgb, palette: Readonly<Record<string, Rgb>> = NAMED_COLORS): { name: string; distance: number } {
  let best = { name: '', distance: Infinity };
  for (const [name, ref] of Object.entries(palette)) {
    const distance = colorDistance(c, ref);
    if (distance < best.distance) best = { name, distance };
  }
  return best;
}

/**
 * Mean luma (Y, 0–255 limited range for YUV sources) of every frame with its pts. `fps` resamples
 * first (pts then snap to 1/fps); `region` restricts the measurement to part of the frame.
 */
export async function videoBrightnessTimeline(
  file: string,
  opts: { fps?: number; region?: Region } = {},
): Promise<Array<{ ptsSec: number; luma: number }>> {
  const { region: r } = opts;
  const filters = [
    opts.fps ? `fps=${opts.fps}` : '',
    r ? `crop=${r.w}:${r.h}:${r.x}:${r.y}` : '',
    'signalstats',
    'metadata=print:key=lavfi.signalstats.YAVG:file=-',
  ].filter(Boolean);
  const { stdout } = await runFfmpeg(['-v', 'error', '-i', file, '-map', '0:v:0', '-vf', filters.join(','), '-f', 'null', '-'], {
    timeoutMs: 120_000,
  });
  const out: Array<{ ptsSec: number; luma: number }> = [];
  let pts: number | null = null;
  for (const line of stdout.toString('utf8').split('\n')) {
    const head = /pts_time:(-?[\d.]+)/.exec(line);
    if (head) pts = Number(head[1]);
    const val = /^lavfi\.signalstats\.YAVG=([\d.]+)/.exec(line);
    if (val && pts !== null) {
      out.push({ ptsSec: pts, luma: Number(val[1]) });
      pts = null;
    }
  }
  return out;
}

// ───────────────────────────── A/V sync ─────────────────────────────

/** Times (s) where luma rises through the midpoint between dark and bright; [] without enough contrast. */
export function detectFlashOnsets(timeline: ReadonlyArray<{ ptsSec: number; luma: number }>, minLumaJump = 30): number[] {
  const lumas = timeline.map((f) => f.luma);
  const low = percentile(lumas, 2);
  const high = percentile(lumas, 98);
  if (high - low < minLumaJump) return [];
  const thr = (low + high) / 2;
  const onsets: number[] = [];
  for (let i = 1; i < timeline.length; i++) {
    if (timeline[i]!.luma >= thr && timeline[i - 1]!.luma < thr) onsets.push(timeline[i]!.ptsSec);
  }
  return onsets;
}

/**
 * Sample-accurate beep onsets (s): first sample above 30 % of the beep peak after at least
 * minGapMs below it. [] when the audio never rises above minPeak.
 */
export function detectBeepOnsets(pcm: Float32Array, sampleRate: number, opts: { minGapMs?: number; minPeak?: number } = {}): number[] {
  const abs = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) abs[i] = Math.abs(pcm[i]!);
  const peak = percentile(abs, 99.9);
  if (peak < (opts.minPeak ?? 0.02)) return [];
  const thr = 0.3 * peak;
  const gap = Math.round(((opts.minGapMs ?? 50) * sampleRate) / 1000);
  const onsets: number[] = [];
  let lastAbove = -Infinity;
  for (let i = 0; i < abs.length; i++) {
    if (abs[i]! < thr) continue;
    if (i - lastAbove > gap) onsets.push(i / sampleRate);
    lastAbove = i;
  }
  return onsets;
}

export interface FlashBeepOptions {
  /** Pair a flash with the nearest beep no further than this (default 400 ms). */
  maxOffsetMs?: number;
  /** Band-pass the audio around the beep frequency (helps when other sound is mixed in). */
  beepHz?: number;
  /** Measure the flash only inside this region (e.g. one tile of a grid layout). */
  region?: Region;
}

/** For each video flash: (audio beep onset − video flash onset) in ms; positive = audio late. */
export async function flashBeepOffsets(file: string, opts: FlashBeepOptions = {}): Promise<number[]> {
  const sr = 48_000;
  const [timeline, pcm] = await Promise.all([
    videoBrightnessTimeline(file, { region: opts.region }),
    decodeAudioPcm(file, { sampleRate: sr, filter: opts.beepHz ? `bandpass=f=${opts.beepHz}:width_type=q:w=4` : undefined }),
  ]);
  const flashes = detectFlashOnsets(timeline);
  const beeps = detectBeepOnsets(pcm, sr);
  const maxOffset = (opts.maxOffsetMs ?? 400) / 1000;
  const used = new Set<number>();
  const offsets: number[] = [];
  for (const v of flashes) {
    let best = -1;
    for (let i = 0; i < beeps.length; i++) {
      if (used.has(i) || Math.abs(beeps[i]! - v) > maxOffset) continue;
      if (best < 0 || Math.abs(beeps[i]! - v) < Math.abs(beeps[best]! - v)) best = i;
    }
    if (best >= 0) {
      used.add(best);
      offsets.push((beeps[best]! - v) * 1000);
    }
  }
  return offsets;
}
