import { RtcRecordError } from '../../errors.js';
import { resolveFfmpeg, type ResolvedBinary } from './ffmpegBinary.js';
import { queryFfmpegSync } from './FfmpegProcess.js';

// What an ffmpeg binary can do, asked once per binary at start-up, so a missing encoder or filter is reported before
// a recording starts rather than mid-way, and options that changed between versions get the spelling the binary knows
// (the bundled ffmpeg is a 2018 4.1 build: no -fps_mode, no scale=force_divisible_by).

export interface FfmpegCapabilities {
  path: string;
  /** e.g. "5.1.9-0+deb12u1", "N-47683-g0e8eb07980-static". */
  version: string;
  encoders: ReadonlySet<string>;
  decoders: ReadonlySet<string>;
  filters: ReadonlySet<string>;
  /** Muxer and demuxer names together (`-formats`). */
  formats: ReadonlySet<string>;
  /** `-fps_mode` (ffmpeg ≥ 5.1); older builds spell it `-vsync`. */
  fpsMode: boolean;
  /** The scale filter's `force_divisible_by` (ffmpeg ≥ 4.3). */
  scaleDivisibleBy: boolean;
}

export interface CapabilityCheck {
  /** e.g. "encoder libx264", "option -fps_mode". */
  name: string;
  ok: boolean;
  /** A failed required check makes the binary unusable; an optional one only costs a feature (see `effect`). */
  required: boolean;
  /** What happens when it is missing: the equivalent used instead, or the feature lost. */
  effect?: string;
}

const REQUIRED: ReadonlyArray<[kind: 'encoders' | 'decoders' | 'filters' | 'formats', name: string, why: string]> = [
  ['encoders', 'libx264', 'mixed video'],
  ['encoders', 'aac', 'mixed audio'],
  ['decoders', 'vp8', 'VP8 tiles'],
  ['decoders', 'h264', 'H.264 tiles'],
  ['filters', 'scale', 'tiles'],
  ['filters', 'pad', 'tiles'],
  ['filters', 'setsar', 'tiles'],
  ['filters', 'format', 'tiles'],
  ['filters', 'showinfo', 'tile timing'],
  ['formats', 'ivf', 'decoder and encoder input'],
  ['formats', 'h264', 'decoder input'],
  ['formats', 's16le', 'encoder input'],
  ['formats', 'rawvideo', 'decoder output'],
  ['formats', 'mp4', 'mixed recording'],
  ['formats', 'webm', 'crash recovery'],
  ['formats', 'matroska', 'crash recovery'],
];

const KIND_LABELS = { encoders: 'encoder', decoders: 'decoder', filters: 'filter', formats: 'format' } as const;

const cache = new Map<string, FfmpegCapabilities>();

/** The capabilities of `binary` (default: the resolved ffmpeg); probed once per path, synchronously (~0.1-0.2 s). */
export function ffmpegCapabilities(binary: string = resolveFfmpeg().path): FfmpegCapabilities {
  let caps = cache.get(binary);
  if (!caps) {
    caps = probe(binary);
    cache.set(binary, caps);
  }
  return caps;
}

function probe(path: string): FfmpegCapabilities {
  const q = (...args: string[]): string => queryFfmpegSync(path, args);
  const version = /^ffmpeg version (\S+)/m.exec(q('-version'))?.[1] ?? 'unknown';
  return {
    path,
    version,
    encoders: listedNames(q('-encoders')),
    decoders: listedNames(q('-decoders')),
    filters: listedNames(q('-filters')),
    formats: listedNames(q('-formats')),
    fpsMode: /^-fps_mode\b/m.test(q('-h', 'long')),
    scaleDivisibleBy: /^\s*force_divisible_by\b/m.test(q('-h', 'filter=scale')),
  };
}

/** Names from ffmpeg's listings: ` V..... libx264  …`, ` ... amix  N->A  …`, ` DE matroska,webm  …`. */
function listedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*\S+\s+(\S+)/.exec(line);
    if (m) for (const n of m[1]!.split(',')) names.add(n);
  }
  return names;
}

/** Every check, required ones first. */
export function capabilityChecks(caps: FfmpegCapabilities): CapabilityCheck[] {
  const checks: CapabilityCheck[] = REQUIRED.map(([kind, name, why]) => ({
    name: `${KIND_LABELS[kind]} ${name}`,
    ok: caps[kind].has(name),
    required: true,
    effect: `needed for ${why}`,
  }));
  checks.push(
    { name: 'filter drawtext', ok: caps.filters.has('drawtext'), required: false, effect: 'participant names are not drawn' },
    { name: 'option -fps_mode', ok: caps.fpsMode, required: false, effect: '-vsync used instead' },
    { name: 'scale force_divisible_by', ok: caps.scaleDivisibleBy, required: false, effect: 'even tile sizes computed in the scale expression instead' },
  );
  return checks;
}

/**
 * The resolved ffmpeg with its capabilities, or FFMPEG_UNSUITABLE naming what it lacks: called at start-up by the
 * commands that record.
 */
export function requireUsableFfmpeg(): { binary: ResolvedBinary; caps: FfmpegCapabilities } {
  const binary = resolveFfmpeg();
  const caps = ffmpegCapabilities(binary.path);
  const missing = capabilityChecks(caps).filter((c) => c.required && !c.ok);
  if (missing.length) {
    throw new RtcRecordError(
      'FFMPEG_UNSUITABLE',
      `${binary.path} (ffmpeg ${caps.version}) lacks ${missing.map((c) => c.name).join(', ')}. ` +
        'Run `rtc-record doctor` to see every ffmpeg found, and point FFMPEG_PATH at a full build.',
    );
  }
  return { binary, caps };
}
