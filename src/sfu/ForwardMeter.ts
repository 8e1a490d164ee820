/**
 * What the SFU's forwarding path counts: packets handed to subscribers' senders, and the forwarding delay of a sample
 * of them (packet handed to the SFU by werift's receiver → the subscriber's sender has encrypted and sent it).
 *
 * Sampling keeps the cost off the media path: one packet in SAMPLE_EVERY per published track is timed (one promise
 * callback per subscriber for that packet), the rest only counted.
 */
export const SAMPLE_EVERY = 16;

/** Bucket upper bounds (ms) of the delay histogram; also the Prometheus histogram's buckets (in seconds). */
export const DELAY_BUCKETS_MS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 100, 250] as const;

export class ForwardMeter {
  /** Packets written to subscribers' senders (each subscriber's copy counts). */
  packets = 0;
  /** Cumulative sample counts per bucket of DELAY_BUCKETS_MS, plus one for everything above the last bound. */
  readonly delayCounts = new Array<number>(DELAY_BUCKETS_MS.length + 1).fill(0);
  delaySamples = 0;
  delaySumMs = 0;
  private readonly listeners = new Set<(ms: number) => void>();

  observeDelay(ms: number): void {
    let i = 0;
    while (i < DELAY_BUCKETS_MS.length && ms > DELAY_BUCKETS_MS[i]!) i++;
    this.delayCounts[i]!++;
    this.delaySamples++;
    this.delaySumMs += ms;
    for (const l of this.listeners) l(ms);
  }

  /** Every delay sample as it is taken (the /metrics histogram). Returns the unsubscribe function. */
  onDelay(listener: (ms: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The q-quantile of the samples so far (ms), interpolated within its bucket as Prometheus' histogram_quantile does. */
  delayQuantileMs(q: number): number | undefined {
    return histogramQuantile(q, DELAY_BUCKETS_MS, this.delayCounts);
  }
}

/**
 * The q-quantile of a histogram given per-bucket (not cumulative) counts; the last count is the overflow bucket, whose
 * quantiles read as the last bound. Linear within a bucket, from 0 for the first.
 */
export function histogramQuantile(q: number, boundsMs: readonly number[], counts: readonly number[]): number | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let acc = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (acc + c >= rank && c > 0) {
      if (i >= boundsMs.length) return boundsMs[boundsMs.length - 1];
      const lo = i === 0 ? 0 : boundsMs[i - 1]!;
      return lo + (boundsMs[i]! - lo) * ((rank - acc) / c);
    }
    acc += c;
  }
  return boundsMs[boundsMs.length - 1];
}
