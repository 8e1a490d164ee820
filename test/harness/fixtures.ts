// Capture fixtures for Chromium's fake media devices, generated with ffmpeg and cached on disk.
//
// Chromium (--use-file-for-fake-video-capture / --use-file-for-fake-audio-capture) loops these
// files forever. Video is raw .y4m (I420), so keep it small: 320x240@15 is ~1.7 MB per second.
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fileCache } from './fileCache.js';

const execFileP = promisify(execFile);

/** Bump when the generated content changes so stale cache entries are not reused. */
const FIXTURE_VERSION = 1;

export const FIXTURE_DIR =
  process.env.RTC_RECORD_FIXTURE_DIR ??
  resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '.cache', 'fixtures');

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';

export const AUDIO_SAMPLE_RATE = 48_000;

// ---------------------------------------------------------------------------------------------
// Colours

const NAMED_COLORS: Record<string, string> = {
  black: '000000',
  white: 'ffffff',
  red: 'ff0000',
  green: '00ff00', // note: CSS "green" is #008000; here it means pure green
  lime: '00ff00',
  blue: '0000ff',
  yellow: 'ffff00',
  cyan: '00ffff',
  magenta: 'ff00ff',
  gray: '808080',
  grey: '808080',
};

export type Rgb = [r: number, g: number, b: number];

/** '#ff0000', 'ff0000', '0xff0000' or a name from a small table ('red', 'blue', …) → [r, g, b]. */
export function colorToRgb(color: string): Rgb {
  const c = color.trim().toLowerCase();
  const hex = NAMED_COLORS[c] ?? c.replace(/^(#|0x)/, '');
  if (!/^[0-9a-f]{6}$/.test(hex)) throw new Error(`unsupported colour ${JSON.stringify(color)}`);
  return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)) as Rgb;
}

function rgbHex([r, g, b]: Rgb): string {
  return [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------------------------------------
// Cache plumbing

const cached = fileCache(FIXTURE_DIR, FIXTURE_VERSION);

async function ffmpeg(args: string[]): Promise<void> {
  try {
    await execFileP(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], {
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ffmpeg failed: ${e.message}\n${e.stderr ?? ''}`, { cause: err });
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer, got ${v}`);
  return v;
}

function checkVideoGeometry(width: number, height: number, fps: number): void {
  positiveInt('width', width);
  positiveInt('height', height);
  positiveInt('fps', fps);
  // I420 subsamples chroma 2x2.
  if (width % 2 || height % 2) throw new Error(`width/height must be even for I420, got ${width}x${height}`);
}

function frameCount(fps: number, seconds: number): number {
  const frames = Math.round(fps * seconds);
  if (frames <= 0) throw new Error(`seconds must give at least one frame (fps=${fps}, seconds=${seconds})`);
  return frames;
}

// Raw I420 y4m is what Chromium's file capture device reads; ffmpeg's muxer for it is yuv4mpegpipe.
const Y4M_OUT = ['-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe'];
const WAV_OUT = ['-c:a', 'pcm_s16le', '-ar', String(AUDIO_SAMPLE_RATE), '-ac', '1', '-bitexact', '-map_metadata', '-1', '-f', 'wav'];

// ---------------------------------------------------------------------------------------------
// Video

interface VideoGeometry {
  width?: number;
  height?: number;
  fps?: number;
  /** Length of the file; Chromium loops it. */
  seconds?: number;
}

export type VideoFixtureOptions =
  | ({
      kind: 'color';
      color: string;
      /**
       * Strength (0-100) of a fixed grain over the colour, the same in every frame: the picture still averages to the
       * colour and barely changes, but its keyframes are large (several packets), as a real camera's are.
       */
      grain?: number;
      /**
       * Two white bars half a width apart crossing the picture every 2 s: a picture that changes in every frame, in
       * either half of it, still mostly the colour.
       */
      bar?: boolean;
    } & VideoGeometry)
  | ({ kind: 'testsrc' } & VideoGeometry);

/** A .y4m (I420) that is a solid colour or ffmpeg's moving test pattern. Defaults: 320x240@15, 2 s. */
export function videoFixture(opts: VideoFixtureOptions): Promise<string> {
  const { width = 320, height = 240, fps = 15, seconds = 2 } = opts;
  checkVideoGeometry(width, height, fps);
  const frames = frameCount(fps, seconds);
  if (opts.kind === 'color') {
    const hex = rgbHex(colorToRgb(opts.color));
    const grain = opts.grain ? `,noise=alls=${opts.grain}:allf=u,loop=loop=-1:size=1` : '';
    const barWidth = Math.max(4, Math.round(width / 40 / 2) * 2);
    const bar = opts.bar
      ? `[bg];color=c=white:s=${barWidth}x${height}:r=${fps},split[b1][b2];[bg][b1]overlay=x='mod(t*${width / 2},${width})':y=0[o1];` +
        `[o1][b2]overlay=x='mod(t*${width / 2}+${width / 2},${width})':y=0`
      : '';
    const graph = `color=c=0x${hex}:s=${width}x${height}:r=${fps}${grain}${bar}`;
    const params = { kind: 'color', hex, width, height, fps, frames, ...(grain || bar ? { graph } : {}) };
    const name = `color-${hex}${grain ? `-grain${opts.grain}` : ''}${bar ? '-bar' : ''}-${width}x${height}-${fps}`;
    return cached(name, 'y4m', params, (out) => ffmpeg(['-f', 'lavfi', '-i', graph, '-frames:v', String(frames), ...Y4M_OUT, out]));
  }
  if (opts.kind === 'testsrc') {
    const params = { kind: 'testsrc', width, height, fps, frames };
    return cached(`testsrc-${width}x${height}-${fps}`, 'y4m', params, (out) =>
      ffmpeg(['-f', 'lavfi', '-i', `testsrc=s=${width}x${height}:r=${fps}`, '-frames:v', String(frames), ...Y4M_OUT, out]),
    );
  }
  throw new Error(`unknown video fixture kind ${JSON.stringify((opts as { kind: unknown }).kind)}`);
}

// ---------------------------------------------------------------------------------------------
// Audio

export interface AudioPhase {
  seconds: number;
  /** Peak amplitude, 0..1 of full scale. */
  amplitude: number;
}

export interface AudioFixtureOptions {
  /** Tone frequency in Hz. Default 440. */
  freq?: number;
  /** Total length (default 4 s). Ignored when `phases` is given (their sum is used). */
  seconds?: number;
  /** Peak amplitude 0..1 when `phases` is not given. Default 0.5. */
  amplitude?: number;
  /**
   * Tone bursts: on for burstOnMs, silent for burstOffMs, repeating. Speech-like on/off keeps
   * Chromium's noise suppression from fading the tone out (a steady sine is gone in ~2 s).
   * burstOffMs = 0 gives a steady tone.
   */
  burstOnMs?: number;
  burstOffMs?: number;
  /** Loudness schedule: consecutive phases, each with its own amplitude (0 = silence). */
  phases?: AudioPhase[];
}

// Short linear fades on each burst edge avoid clicks (broadband energy that VAD/NS react to).
const RAMP_S = 0.005;

/** A 48 kHz mono 16-bit .wav of tone bursts, optionally with per-phase loudness. */
export function audioFixture(opts: AudioFixtureOptions = {}): Promise<string> {
  const { freq = 440, burstOnMs = 180, burstOffMs = 70 } = opts;
  const phases: AudioPhase[] = opts.phases ?? [{ seconds: opts.seconds ?? 4, amplitude: opts.amplitude ?? 0.5 }];
  if (!(freq > 0 && freq < AUDIO_SAMPLE_RATE / 2)) throw new Error(`freq out of range: ${freq}`);
  if (!(burstOnMs > 0) || !(burstOffMs >= 0)) throw new Error('burstOnMs must be > 0 and burstOffMs >= 0');
  if (phases.length === 0) throw new Error('phases must not be empty');
  for (const p of phases) {
    if (!(p.seconds > 0)) throw new Error(`phase seconds must be > 0, got ${p.seconds}`);
    if (!(p.amplitude >= 0 && p.amplitude <= 1)) throw new Error(`phase amplitude must be within 0..1, got ${p.amplitude}`);
  }
  const total = phases.reduce((s, p) => s + p.seconds, 0);

  // Amplitude as a piecewise-constant function of t: if(lt(t,T1),a1,if(lt(t,T2),a2,...,aN)).
  let amp = String(phases[phases.length - 1]!.amplitude);
  let end = total;
  for (let i = phases.length - 2; i >= 0; i--) {
    end -= phases[i + 1]!.seconds;
    amp = `if(lt(t,${end}),${phases[i]!.amplitude},${amp})`;
  }
  const on = burstOnMs / 1000;
  const period = (burstOnMs + burstOffMs) / 1000;
  const env =
    burstOffMs === 0
      ? '1'
      : `if(lt(mod(t,${period}),${on}),min(1,min(mod(t,${period})/${RAMP_S},(${on}-mod(t,${period}))/${RAMP_S})),0)`;
  const expr = `(${amp})*${env}*sin(2*PI*${freq}*t)`;
  const params = { freq, burstOnMs, burstOffMs, phases };
  return cached(`tone-${freq}hz-${Math.round(total * 1000)}ms`, 'wav', params, (out) =>
    ffmpeg(['-f', 'lavfi', '-i', `aevalsrc=exprs='${expr}':s=${AUDIO_SAMPLE_RATE}:c=mono:d=${total}`, ...WAV_OUT, out]),
  );
}

/**
 * The same tone schedule as `audioFixture`, encoded as a browser would send it (Opus, 20 ms frames, 32 kbit/s) in Ogg,
 * for synthetic werift publishers (bench/loadgen), which send exactly these packets with exact timing.
 */
export async function opusToneFixture(opts: AudioFixtureOptions = {}): Promise<string> {
  const wav = await audioFixture(opts);
  return cached('opus-' + wav.split('/').pop()!.replace(/\.wav$/, ''), 'ogg', { wav, opts }, (out) =>
    ffmpeg(['-i', wav, '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-frame_duration', '20', '-vbr', 'on', '-f', 'ogg', out]),
  );
}

// ---------------------------------------------------------------------------------------------
// A/V sync

export interface FlashBeepOptions {
  /** One flash + beep per period, at t = k * periodSeconds. Default 1. fps * periodSeconds must be an integer. */
  periodSeconds?: number;
  /** File length in periods (both files loop with the same length). Default 4. */
  periods?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** Frames that are white at the start of each period (rest is black). Default 2. */
  flashFrames?: number;
  /** Beep length. Default 100 ms. */
  beepMs?: number;
  beepFreq?: number;
  amplitude?: number;
}

export interface FlashBeepFixture {
  video: string;
  audio: string;
  periodSeconds: number;
  fps: number;
  flashFrames: number;
  beepMs: number;
  beepFreq: number;
}

/**
 * Matching .y4m + .wav: at every t = k * periodSeconds the video turns white for `flashFrames`
 * frames (black otherwise) and the audio plays a `beepMs` beep (silent otherwise).
 */
export async function flashBeepFixture(opts: FlashBeepOptions = {}): Promise<FlashBeepFixture> {
  const {
    periodSeconds = 1,
    periods = 4,
    width = 320,
    height = 240,
    fps = 15,
    flashFrames = 2,
    beepMs = 100,
    beepFreq = 1000,
    amplitude = 0.5,
  } = opts;
  checkVideoGeometry(width, height, fps);
  positiveInt('periods', periods);
  positiveInt('flashFrames', flashFrames);
  const framesPerPeriod = fps * periodSeconds;
  if (!Number.isInteger(framesPerPeriod) || framesPerPeriod <= flashFrames) {
    throw new Error(`fps * periodSeconds must be an integer > flashFrames (got ${framesPerPeriod})`);
  }
  if (!(beepMs > 0 && beepMs < periodSeconds * 1000)) throw new Error(`beepMs out of range: ${beepMs}`);
  const frames = framesPerPeriod * periods;
  const seconds = periodSeconds * periods;

  const vParams = { width, height, fps, framesPerPeriod, flashFrames, frames };
  const video = cached(`flash-${width}x${height}-${fps}`, 'y4m', vParams, (out) =>
    ffmpeg([
      '-f', 'lavfi',
      '-i', `color=c=black:s=${width}x${height}:r=${fps},drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(n,${framesPerPeriod}),${flashFrames})'`,
      '-frames:v', String(frames),
      ...Y4M_OUT,
      out,
    ]),
  );

  const beep = beepMs / 1000;
  const ramp = 0.001; // 1 ms: no click, yet a sharp onset to time against.
  const env = `if(lt(mod(t,${periodSeconds}),${beep}),min(1,min(mod(t,${periodSeconds})/${ramp},(${beep}-mod(t,${periodSeconds}))/${ramp})),0)`;
  const aParams = { periodSeconds, beepMs, beepFreq, amplitude, seconds };
  const audio = cached(`beep-${beepFreq}hz-${Math.round(seconds * 1000)}ms`, 'wav', aParams, (out) =>
    ffmpeg([
      '-f', 'lavfi',
      '-i', `aevalsrc=exprs='${amplitude}*${env}*sin(2*PI*${beepFreq}*t)':s=${AUDIO_SAMPLE_RATE}:c=mono:d=${seconds}`,
      ...WAV_OUT,
      out,
    ]),
  );

  return { video: await video, audio: await audio, periodSeconds, fps, flashFrames, beepMs, beepFreq };
}

// ---------------------------------------------------------------------------------------------
// Inspection

export interface ProbeStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  sample_fmt?: string;
  duration?: string;
  nb_frames?: string;
}

export interface ProbeResult {
  streams: ProbeStream[];
  format: { format_name: string; duration?: string };
}

/** ffprobe -show_streams -show_format as JSON. */
export async function probeFile(path: string): Promise<ProbeResult> {
  const { stdout } = await execFileP(
    FFPROBE,
    ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', path],
    { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as ProbeResult;
}
