import type { VideoShare } from './bandwidthAllocation.js';

/** What a video may be sent: spatial layers up to `spatial`, of it the temporal layers up to `temporal` (undefined: all). */
export interface LayerCap {
  spatial: number;
  temporal?: number;
}

/** A video's bandwidth cap, or paused (not even its lowest step fits). */
export type VideoCap = LayerCap | 'paused';

/** Whether two caps (undefined: none) are the same. */
export function sameCap(a: VideoCap | undefined, b: VideoCap | undefined): boolean {
  if (typeof a === 'object' && typeof b === 'object') return a.spatial === b.spatial && a.temporal === b.temporal;
  return a === b;
}

/** One step of a video's ladder, with what it costs (bit/s). */
export interface LadderStep extends LayerCap {
  rate: number;
}

/**
 * The steps a video can be sent in, cheapest first: for each spatial layer, first without its top temporal layer
 * (Chromium's three: 15 of 30 fps, ~60 % of the bitrate) when its packets carry temporal layers, then whole. So the
 * allocator, stepping down one step at a time, halves the frame rate before it lowers the resolution: full 30 fps →
 * full 15 fps → half 30 fps → half 15 fps → … → paused. The rates are measured per temporal layer (TrackLayer's
 * windows per TID), not a fixed share: a TL0 frame costs more than an upper layer's, and the share moves with the
 * content. `total[s]`: layer s's bitrate; `temporal[s]`: its temporal layers' cumulative bitrates (see
 * PublishedTrack.temporalRates).
 */
export function videoLadder(total: readonly number[], temporal: readonly (readonly number[])[]): LadderStep[] {
  const steps: LadderStep[] = [];
  total.forEach((rate, spatial) => {
    const t = temporal[spatial] ?? [];
    // A 15 fps step only where its rate is known and below the whole layer's.
    if (t.length >= 2 && t[t.length - 2]! > 0 && t[t.length - 2]! < rate) steps.push({ spatial, temporal: t.length - 2, rate: t[t.length - 2]! });
    steps.push({ spatial, rate });
  });
  return steps;
}

/** The step a tile wanting spatial layer `wanted` asks for: that layer, whole. */
export function wantedStep(ladder: readonly LadderStep[], wanted: number): number {
  const i = ladder.findIndex((s) => s.spatial === wanted && s.temporal === undefined);
  return i >= 0 ? i : ladder.length - 1;
}

/** Where `cap` stands on `ladder` (paused below every step; a cap the ladder lacks: the highest step within it). */
export function stepOf(ladder: readonly LadderStep[], cap: VideoCap): VideoShare {
  if (cap === 'paused') return 'paused';
  let found = 0;
  ladder.forEach((s, i) => {
    if (s.spatial < cap.spatial || (s.spatial === cap.spatial && (cap.temporal === undefined || (s.temporal ?? Infinity) <= cap.temporal))) found = i;
  });
  return found;
}

/** The cap for step `share` of `ladder`. */
export function capOf(ladder: readonly LadderStep[], share: VideoShare): VideoCap {
  if (share === 'paused') return 'paused';
  const s = ladder[share]!;
  return s.temporal === undefined ? { spatial: s.spatial } : { spatial: s.spatial, temporal: s.temporal };
}

/** What sending spatial layer `spatial` up to temporal layer `temporal` costs now (bit/s). */
export function sendingRate(total: readonly number[], temporal: readonly (readonly number[])[], spatial: number, temporalCap: number): number {
  const t = temporal[spatial] ?? [];
  if (temporalCap < t.length - 1 && t[temporalCap]! > 0) return t[temporalCap]!;
  return total[spatial] ?? 0;
}

/** A cap as logs show it: `2` (layer 2, all temporal layers), `2/t1`, `paused`, `none`. */
export function formatCap(cap: VideoCap | undefined): string {
  if (cap === undefined || cap === 'paused') return cap ?? 'none';
  return cap.temporal === undefined ? String(cap.spatial) : `${cap.spatial}/t${cap.temporal}`;
}
