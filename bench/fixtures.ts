/**
 * Pre-encoded media the synthetic participants send and the ffmpeg floor reads: encoded once with ffmpeg and cached in
 * .cache/bench/fixtures/ (keyed by a hash of the parameters, written to a temp file and renamed).
 */
import { runFfmpeg } from '../src/media/ffmpeg/index.js';
import { fileCache } from '../test/harness/fileCache.js';
import { FIXTURE_DIR } from './paths.js';

/** Bump when the generated content changes so stale cache entries are not reused. */
const FIXTURE_VERSION = 1;

export interface VideoFixtureSpec {
  width: number;
  height: number;
  fps: number;
  /** Constant bitrate target (kbit/s); ~1500 for 720p30 like a browser camera. */
  kbps: number;
  /** Keyframe interval in seconds (the recorder's PLIs jump to the next keyframe in the file). */
  keyframeSeconds: number;
  /** Length of the loop. */
  seconds: number;
  /** Distinguishes participants' pictures (hue rotation of the test pattern). */
  variant: number;
}

export interface AudioFixtureSpec {
  freqHz: number;
  /** Peak amplitude 0..1; participants get different levels so "loudest N" is well defined. */
  amplitude: number;
  seconds: number;
  /** Speech-like tone bursts. */
  onMs: number;
  offMs: number;
  /**
   * Talking in turns: silent except during turn `index` of `count` turns of `seconds` each (then the cycle repeats), so
   * the loudest voice, and with it the speaker layout's big tile, changes every `seconds`.
   */
  turn?: { index: number; count: number; seconds: number };
}

export interface Fixture<S> {
  spec: S;
  path: string;
}

const cached = fileCache(FIXTURE_DIR, FIXTURE_VERSION);

/** VP8 in IVF at a constant bitrate, realtime encoder settings (no alt-ref, no lag) like a browser's. */
export function videoFixture(spec: VideoFixtureSpec): Promise<Fixture<VideoFixtureSpec>> {
  const { width, height, fps, kbps, keyframeSeconds, seconds, variant } = spec;
  if (width % 2 || height % 2) throw new Error(`video fixture size must be even, got ${width}x${height}`);
  const gop = Math.max(1, Math.round(fps * keyframeSeconds));
  // Temporal noise keeps the encoder busy like camera sensor noise does, so the CBR target is actually reached.
  const source = `testsrc2=size=${width}x${height}:rate=${fps},hue=h=${(variant * 67) % 360},noise=alls=6:allf=t`;
  const name = `vp8-${width}x${height}-${fps}-${kbps}k-v${variant}`;
  return cached(name, 'ivf', spec, (out) =>
    runFfmpeg(
      [
        '-loglevel', 'error', '-y',
        '-f', 'lavfi', '-i', source,
        '-t', String(seconds),
        '-c:v', 'libvpx', '-b:v', `${kbps}k`, '-minrate', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
        '-g', String(gop), '-keyint_min', String(gop),
        '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0', '-error-resilient', '1',
        '-pix_fmt', 'yuv420p', '-f', 'ivf', out,
      ],
      { label: `fixture ${name}`, timeoutMs: 10 * 60_000 },
    ).then(() => undefined),
  ).then((path) => ({ spec, path }));
}

/** Opus (20 ms frames, VoIP mode, 32 kbit/s) in Ogg: tone bursts at one frequency, on/off like syllables. */
export function audioFixture(spec: AudioFixtureSpec): Promise<Fixture<AudioFixtureSpec>> {
  const { freqHz, amplitude, seconds, onMs, offMs, turn } = spec;
  const period = (onMs + offMs) / 1000;
  const burst = `if(lt(mod(t\\,${period})\\,${onMs / 1000})\\,${amplitude}*sin(2*PI*${freqHz}*t)\\,0)`;
  const cycle = turn ? turn.count * turn.seconds : 0;
  const expr = turn ? `${burst}*gte(mod(t\\,${cycle})\\,${turn.index * turn.seconds})*lt(mod(t\\,${cycle})\\,${(turn.index + 1) * turn.seconds})` : burst;
  const name = `opus-${freqHz}hz-a${Math.round(amplitude * 100)}${turn ? `-turn${turn.index}of${turn.count}x${turn.seconds}s` : ''}`;
  return cached(name, 'ogg', spec, (out) =>
    runFfmpeg(
      [
        '-loglevel', 'error', '-y',
        '-f', 'lavfi', '-i', `aevalsrc=${expr}:s=48000:c=mono:d=${seconds}`,
        '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-frame_duration', '20', '-vbr', 'on',
        '-f', 'ogg', out,
      ],
      { label: `fixture ${name}`, timeoutMs: 5 * 60_000 },
    ).then(() => undefined),
  ).then((path) => ({ spec, path }));
}

export interface ParticipantMediaSpec {
  name: string;
  /** The full-size picture (the floor reads it; a simulcast participant's highest layer). */
  video?: Fixture<VideoFixtureSpec>;
  audio?: Fixture<AudioFixtureSpec>;
  /** Simulcast (SFU rooms): the layers sent, lowest first; the last is `video`. */
  layers?: { rid: string; video: Fixture<VideoFixtureSpec> }[];
}

/** A simulcast layer below the full size: its rid, its scale-down and bitrate (Chromium's defaults for a 720p camera). */
export interface SimulcastLayerSpec {
  rid: string;
  divisor: number;
  kbps: number;
}

export interface ParticipantSetSpec {
  count: number;
  video?: Omit<VideoFixtureSpec, 'variant'> & { variants: number };
  /** VP8 simulcast: these lower layers (lowest first) under `video`, which is the highest layer (rid `f`). */
  simulcast?: readonly SimulcastLayerSpec[];
  /** `turnSeconds`: the participants talk in turns of this long, one at a time (AudioFixtureSpec.turn). */
  audio?: { seconds: number; turnSeconds?: number };
}

/** Distinct tone per participant: spaced so no two are harmonics of each other within the set. */
export function participantTone(i: number): { freqHz: number; amplitude: number } {
  return { freqHz: 310 + 83 * i, amplitude: Math.max(0.08, 0.6 - 0.025 * i) };
}

/**
 * Fixtures for `count` participants: a distinct tone each, and `variants` distinct pictures shared round-robin (encoding
 * 20 different 720p clips would cost minutes for no measurable difference). Encodes sequentially: the machine has 2 cores.
 */
export async function participantFixtures(set: ParticipantSetSpec): Promise<ParticipantMediaSpec[]> {
  const videos: Fixture<VideoFixtureSpec>[] = [];
  /** Per variant, the simulcast layers (the same pictures: testsrc2 draws by time, so every size shows the same frame). */
  const layerSets: { rid: string; video: Fixture<VideoFixtureSpec> }[][] = [];
  if (set.video) {
    const { variants, ...rest } = set.video;
    for (let v = 0; v < Math.min(variants, set.count); v++) {
      const full = await videoFixture({ ...rest, variant: v });
      videos.push(full);
      if (!set.simulcast) continue;
      const lower = [];
      for (const l of set.simulcast) {
        const even = (n: number) => Math.round(n / l.divisor / 2) * 2;
        lower.push({ rid: l.rid, video: await videoFixture({ ...rest, width: even(rest.width), height: even(rest.height), kbps: l.kbps, variant: v }) });
      }
      layerSets.push([...lower, { rid: 'f', video: full }]);
    }
  }
  const out: ParticipantMediaSpec[] = [];
  for (let i = 0; i < set.count; i++) {
    const turn = set.audio?.turnSeconds ? { index: i, count: set.count, seconds: set.audio.turnSeconds } : undefined;
    const audio = set.audio ? await audioFixture({ ...participantTone(i), seconds: set.audio.seconds, onMs: 180, offMs: 70, ...(turn ? { turn } : {}) }) : undefined;
    const layers = layerSets.length ? layerSets[i % layerSets.length] : undefined;
    out.push({ name: `bench p${String(i + 1).padStart(2, '0')}`, video: videos.length ? videos[i % videos.length] : undefined, audio, ...(layers ? { layers } : {}) });
  }
  return out;
}
