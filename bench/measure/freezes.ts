/**
 * Frozen tiles in a composite recording: ffmpeg's freezedetect on each tile of the grid. A tile whose pictures come late
 * or mistimed (decoders starved, a timestamp mapping gone wrong) stands still, which neither the CPU figures nor the
 * real-time factor show. The clips themselves freeze a little too after two lossy encodes (x264 skips blocks where
 * VP8 left little change): the floor's output, judged the same way, shows how much (~2.5 s a minute per tile here).
 */
import { runFfmpeg } from '../../src/media/ffmpeg/index.js';
import { computeLayout } from '../../src/media/video/layouts.js';
import type { ProbeInfo } from './output.js';

export interface TileRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface TileFreezes {
  /** Seconds of the output judged (from, to). */
  fromSec: number;
  toSec: number;
  /** Per tile: the frozen stretches of ≥ 0.1 s, summed (s). */
  frozenSec: number[];
  /** The longest frozen stretch of any tile (s). */
  longestSec: number;
  /** Frozen time per minute of output, mean over the tiles (s). */
  perMinute: number;
  /** Every frozen stretch: its tile (index into the rects judged), start in the output (s) and length (s). */
  stretches: FrozenStretch[];
}

export interface FrozenStretch {
  tile: number;
  startSec: number;
  durationSec: number;
}

const MIN_FREEZE_SEC = 0.1;

/** Where the content check starts: every participant joined and showing video (the floor's output is judged alike). */
const JOINS_SETTLED_SEC = 5;

/**
 * The middle half of each grid tile the recorder draws for `count` participants: away from the tile edges and from
 * the name label (bottom left), which never change.
 */
export function gridTileCenters(width: number, height: number, count: number): TileRect[] {
  return tileCenters(width, height, count, 'grid');
}

/**
 * The middle half of each tile of `mode`'s layout for `count` cameras. Speaker layout: the big tile first, then the
 * thumbnails; who sits where changes with the speaker, the rectangles do not.
 */
export function tileCenters(width: number, height: number, count: number, mode: 'grid' | 'speaker'): TileRect[] {
  const participants = Array.from({ length: count }, (_, i) => ({ id: `p${i}`, name: `p${i}` }));
  return computeLayout({ width, height, mode, participants, activeSpeakerId: 'p0' }).map((t) => ({
    x: t.x + Math.floor(t.w / 8) * 2,
    y: t.y + Math.floor(t.h / 8) * 2,
    w: Math.floor(t.w / 4) * 2,
    h: Math.floor(t.h / 4) * 2,
  }));
}

/**
 * The content check of a composite output (ours or the floor's, judged alike): its grid of `cameras` tiles, from when
 * the joins settled to a second before the end. Undefined when the output has no video to judge.
 */
export function compositeFreezes(file: string, info: ProbeInfo | undefined, cameras: number, mode: 'grid' | 'speaker' = 'grid'): Promise<TileFreezes> | undefined {
  const video = info?.streams.find((x) => x.type === 'video');
  if (!video?.width || !video.height || !info?.durationSec || cameras <= 0) return undefined;
  return tileFreezes(file, tileCenters(video.width, video.height, cameras, mode), JOINS_SETTLED_SEC, info.durationSec - 1);
}

/** Runs freezedetect over [fromSec, toSec) of `file` for each tile rect (one ffmpeg per tile, two at a time). */
export async function tileFreezes(file: string, tiles: readonly TileRect[], fromSec: number, toSec: number): Promise<TileFreezes> {
  const frozen: Array<{ totalSec: number; longestSec: number; stretches: Array<{ startSec: number; durationSec: number }> }> = [];
  for (let i = 0; i < tiles.length; i += 2) frozen.push(...(await Promise.all(tiles.slice(i, i + 2).map((t) => tileFreeze(file, t, fromSec, toSec)))));
  const frozenSec = frozen.map((f) => f.totalSec);
  const perMinute = frozenSec.length ? (frozenSec.reduce((a, b) => a + b, 0) / frozenSec.length / (toSec - fromSec)) * 60 : NaN;
  const stretches = frozen.flatMap((f, tile) => f.stretches.map((x) => ({ tile, startSec: fromSec + x.startSec, durationSec: x.durationSec })));
  return { fromSec, toSec, frozenSec, longestSec: Math.max(0, ...frozen.map((f) => f.longestSec)), perMinute, stretches };
}

async function tileFreeze(file: string, t: TileRect, fromSec: number, toSec: number): Promise<{ totalSec: number; longestSec: number; stretches: Array<{ startSec: number; durationSec: number }> }> {
  const { stderr } = await runFfmpeg(
    ['-v', 'info', '-nostats', '-ss', String(fromSec), '-to', String(toSec), '-i', file, '-vf', `crop=${t.w}:${t.h}:${t.x}:${t.y},freezedetect=n=-60dB:d=${MIN_FREEZE_SEC}`, '-an', '-f', 'null', '-'],
    { timeoutMs: 120_000, label: 'bench freezedetect' },
  );
  let totalSec = 0;
  let longestSec = 0;
  let openAt: number | undefined;
  const stretches: Array<{ startSec: number; durationSec: number }> = [];
  // "lavfi.freezedetect.freeze_start: 1" … "freeze_duration: 0.5"; a freeze still running at the end has no duration.
  for (const m of stderr.matchAll(/lavfi\.freezedetect\.freeze_(start|duration): (-?[\d.]+)/g)) {
    const v = Number(m[2]);
    if (m[1] === 'start') openAt = v;
    else {
      // Seeking input (-ss before -i): times count from fromSec.
      stretches.push({ startSec: openAt ?? 0, durationSec: v });
      openAt = undefined;
      totalSec += v;
      longestSec = Math.max(longestSec, v);
    }
  }
  if (openAt !== undefined) {
    const d = toSec - fromSec - openAt;
    totalSec += d;
    longestSec = Math.max(longestSec, d);
    stretches.push({ startSec: openAt, durationSec: d });
  }
  return { totalSec, longestSec, stretches };
}
