/** One video a subscriber is sent, as the allocator sees it. */
export interface VideoDemand {
  /** The layer the subscriber's tile wants (index into `rates`, lowest layer first). */
  wanted: number;
  /** Each layer's bitrate (bit/s) as the publisher sends it now; 0 when unknown (not sent yet). */
  rates: readonly number[];
}

/** A video's share: the highest layer it may be sent, or paused (not even its lowest layer fits). */
export type VideoShare = number | 'paused';

/** What a share costs (bit/s). */
export function shareCost(video: VideoDemand, share: VideoShare): number {
  return share === 'paused' ? 0 : (video.rates[share] ?? 0);
}

/**
 * Splits `budget` (bit/s, what the subscriber's estimate allows its videos) among its videos.
 * Every video starts at the layer its tile wants; while the total does not fit, the video sent in the costliest layer
 * that has a lower one steps down a layer (the biggest gives first, so small tiles keep their picture); when all are at
 * their lowest and it still does not fit, the costliest is paused, then the next. Deterministic: ties go to the later
 * video (the order is the caller's, e.g. oldest first, which then keeps its layer longest).
 */
export function allocate(budget: number, videos: readonly VideoDemand[]): VideoShare[] {
  const shares: VideoShare[] = videos.map((v) => v.wanted);
  let used = videos.reduce((sum, v, i) => sum + shareCost(v, shares[i]!), 0);
  while (used > budget) {
    const lower = costliest(videos, shares, (s) => s !== 'paused' && s > 0);
    const victim = lower ?? costliest(videos, shares, (s) => s !== 'paused');
    if (victim === undefined) break;
    const before = shareCost(videos[victim]!, shares[victim]!);
    const s = shares[victim] as number;
    shares[victim] = lower !== undefined ? s - 1 : 'paused';
    used += shareCost(videos[victim]!, shares[victim]!) - before;
  }
  return shares;
}

/** Index of the video whose current share costs most among those `eligible` (last on ties). */
function costliest(videos: readonly VideoDemand[], shares: readonly VideoShare[], eligible: (s: VideoShare) => boolean): number | undefined {
  let best: number | undefined;
  shares.forEach((s, i) => {
    if (!eligible(s)) return;
    if (best === undefined || shareCost(videos[i]!, s) >= shareCost(videos[best]!, shares[best]!)) best = i;
  });
  return best;
}

/**
 * The smallest budget that would send one video one step more than `shares` do (a paused one its lowest layer, another
 * its next layer up, never above the layer its tile wants): what a probe tries. Undefined when every video already
 * gets what it wants.
 */
export function nextStepBudget(videos: readonly VideoDemand[], shares: readonly VideoShare[]): number | undefined {
  const used = videos.reduce((sum, v, i) => sum + shareCost(v, shares[i]!), 0);
  let step: number | undefined;
  videos.forEach((v, i) => {
    const s = shares[i]!;
    const next = s === 'paused' ? 0 : s + 1;
    if (next > v.wanted) return;
    const delta = (v.rates[next] ?? 0) - shareCost(v, s);
    if (step === undefined || delta < step) step = delta;
  });
  return step === undefined ? undefined : used + Math.max(0, step);
}
