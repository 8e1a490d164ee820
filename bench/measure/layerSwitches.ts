/**
 * Layer switches of the recorder's simulcast videos and the frozen tiles around them (issue 17: "no frozen tile longer
 * than 1 s at a switch"). The SFU forwards one layer per video to the recorder and switches at a keyframe of the target
 * layer; each switch is a debug line of the serve process ("sfu: layer switched", src/sfu/Subscriber.ts). Its wall time
 * maps onto the output: the composite's t = 0 is its recording start (manifest composite.startedAtMs), and the media a
 * publisher sent at wall time W lies at W − start there (the timeline follows the senders' reports).
 */
import type { Line } from '../cliProcess.js';
import type { FrozenStretch, TileFreezes } from './freezes.js';

export interface LayerSwitch {
  /** Wall time of the log line (ms). */
  atMs: number;
  /** Where it lies in the output (s). */
  outputSec: number;
  from: string;
  fromLayer: string;
  toLayer: string;
  /** How long the target layer's keyframe took since the switch was decided (ms). */
  waitedMs?: number;
}

/**
 * Switches the SFU was asked for: its "sfu: tile size" lines (a new tile size from the recorder) whose target layer is
 * not the one forwarded. Each should be followed by a switch; fewer switches than asked means one never completed.
 */
export function parseSwitchesAsked(lines: readonly Line[], fromMs: number, toMs: number): number {
  let asked = 0;
  for (const line of lines) {
    if (line.atMs < fromMs || line.atMs > toMs || !line.text.includes('tile size')) continue;
    try {
      const j = JSON.parse(line.text) as { msg?: unknown; current?: unknown; target?: unknown };
      if (j.msg === 'sfu: tile size' && typeof j.current === 'number' && j.current !== j.target) asked++;
    } catch {
      // not a log line
    }
  }
  return asked;
}

export interface LayerSwitchJudgement {
  /** Switches inside the output's judged span (the frozen-tile check's [from, to)). */
  count: number;
  /** All switches while the recorder ran, by direction ("q→f": n). */
  total: number;
  byDirection: Record<string, number>;
  /** Switches asked for while the recorder ran (parseSwitchesAsked), when known. */
  asked?: number;
  switches: LayerSwitch[];
  /** The longest keyframe wait of a switch in the span (ms). */
  longestWaitMs?: number;
  /** A frozen stretch counts as at a switch when it overlaps [switch − margin, switch + margin]. */
  marginSec: number;
  /** The longest such stretch (s; 0 when none), undefined when no switch happened in the span. */
  longestFreezeSec?: number;
  /** That stretch (tile index into the judged rects, start in the output). */
  longestFreeze?: FrozenStretch;
  /** Frozen stretches at a switch, all tiles. */
  freezesAtSwitches: number;
}

/**
 * Frozen stretches within this much of a switch count as at it: the freeze a switch can cause lies between the recorder's
 * re-layout (its new tile size asked) and the target layer's keyframe (the switch's log line), so it ends near the line.
 */
export const SWITCH_MARGIN_SEC = 1;

/** The "sfu: layer switched" lines (pino JSON on the serve process's stderr) between `fromMs` and `toMs`. */
export function parseLayerSwitches(lines: readonly Line[], fromMs: number, toMs: number, outputStartMs: number): LayerSwitch[] {
  const out: LayerSwitch[] = [];
  for (const line of lines) {
    if (line.atMs < fromMs || line.atMs > toMs || !line.text.includes('layer switched')) continue;
    let j: { msg?: unknown; from?: unknown; fromLayer?: unknown; toLayer?: unknown; waitedMs?: unknown; time?: unknown };
    try {
      j = JSON.parse(line.text) as typeof j;
    } catch {
      continue;
    }
    if (j.msg !== 'sfu: layer switched') continue;
    // pino's time is when the server wrote the line; the bench's is when it read it (the same up to pipe latency).
    const atMs = typeof j.time === 'number' ? j.time : line.atMs;
    out.push({
      atMs,
      outputSec: (atMs - outputStartMs) / 1000,
      from: String(j.from),
      fromLayer: String(j.fromLayer),
      toLayer: String(j.toLayer),
      waitedMs: typeof j.waitedMs === 'number' ? j.waitedMs : undefined,
    });
  }
  return out;
}

/** The switches against the output's frozen tiles: how many fell in the judged span, the longest freeze at one. */
export function judgeSwitches(switches: readonly LayerSwitch[], freezes: TileFreezes | undefined, asked?: number, marginSec = SWITCH_MARGIN_SEC): LayerSwitchJudgement {
  const byDirection: Record<string, number> = {};
  for (const s of switches) byDirection[`${s.fromLayer}→${s.toLayer}`] = (byDirection[`${s.fromLayer}→${s.toLayer}`] ?? 0) + 1;
  const inSpan = freezes ? switches.filter((s) => s.outputSec >= freezes.fromSec && s.outputSec < freezes.toSec) : [];
  const atSwitch = (f: FrozenStretch) => inSpan.some((s) => f.startSec <= s.outputSec + marginSec && f.startSec + f.durationSec >= s.outputSec - marginSec);
  const stretches = freezes ? freezes.stretches.filter(atSwitch) : [];
  const longestFreeze = stretches.reduce<FrozenStretch | undefined>((a, f) => (!a || f.durationSec > a.durationSec ? f : a), undefined);
  const waits = inSpan.flatMap((s) => (s.waitedMs === undefined ? [] : [s.waitedMs]));
  return {
    count: inSpan.length,
    total: switches.length,
    byDirection,
    asked,
    switches: [...switches],
    longestWaitMs: waits.length ? Math.max(...waits) : undefined,
    marginSec,
    longestFreezeSec: inSpan.length ? (longestFreeze?.durationSec ?? 0) : undefined,
    longestFreeze,
    freezesAtSwitches: stretches.length,
  };
}
