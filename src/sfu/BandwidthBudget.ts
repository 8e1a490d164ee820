/** The estimate fell (the receiver saw its queue grow: overuse) when it drops below this share of its recent peak. */
const FALL_RATIO = 0.9;
/** How long a probe sends one step more than the estimate allows before it is judged. */
export const PROBE_MS = 2000;
/** A probe held when, by its end, the estimate rose at least this much (and never fell). */
const PROBE_GROWTH = 1.08;
/** The wait before the first probe after a fall, doubled after each failed probe up to the maximum. */
export const PROBE_BACKOFF_MIN_MS = 4000;
export const PROBE_BACKOFF_MAX_MS = 16_000;

export type BudgetEvent = 'constrained' | 'probeHeld' | 'probeFailed' | undefined;

/**
 * What a subscriber's downlink allows, from its receiver's estimate (REMB, bit/s), with time passed in (ms).
 *
 * Chromium's receive-side estimate is no capacity measure while nothing is congested: it rises by ~8 % a second and
 * never above 1.5 × what it receives, so a subscriber sent a 70 kbit/s layer reports ~100 kbit/s on any link. What does
 * mean something is a fall: it lowers the estimate only when the delay between packets grows (a queue fills). So the
 * budget is unlimited until the estimate falls; from then on it is the estimate (constrained). To find out whether the
 * link got better, a probe raises the budget to one step more (`startProbe`) for PROBE_MS: on a free link the estimate
 * goes on rising and the budget is unlimited again; on a full one it stops rising or falls, the probe fails, and the
 * next waits twice as long (PROBE_BACKOFF_MIN_MS … PROBE_BACKOFF_MAX_MS).
 */
export class BandwidthBudget {
  /** The latest estimate (undefined until the receiver sent one). */
  estimate?: number;
  private peak?: number;
  private constrained = false;
  private probe?: { budget: number; from: number; until: number };
  private backoffMs = PROBE_BACKOFF_MIN_MS;
  private nextProbeAt = 0;

  /** A new estimate from the receiver. */
  onEstimate(bps: number, now: number): BudgetEvent {
    this.estimate = bps;
    if (this.peak !== undefined && bps < this.peak * FALL_RATIO) {
      this.peak = bps;
      const probing = this.probe !== undefined;
      if (probing) this.failProbe(now);
      else this.nextProbeAt = now + this.backoffMs;
      const was = this.constrained;
      this.constrained = true;
      return probing ? 'probeFailed' : was ? undefined : 'constrained';
    }
    this.peak = Math.max(this.peak ?? bps, bps);
    return undefined;
  }

  /** Ends a probe whose time is up. */
  tick(now: number): BudgetEvent {
    const probe = this.probe;
    if (!probe || now < probe.until) return undefined;
    if ((this.estimate ?? 0) >= probe.from * PROBE_GROWTH) {
      this.probe = undefined;
      this.constrained = false;
      this.backoffMs = PROBE_BACKOFF_MIN_MS;
      return 'probeHeld';
    }
    this.failProbe(now);
    return 'probeFailed';
  }

  /** The budget (bit/s) to allocate by; undefined when unlimited. */
  get budget(): number | undefined {
    if (!this.constrained || this.estimate === undefined) return undefined;
    return Math.max(this.estimate, this.probe?.budget ?? 0);
  }

  get probing(): boolean {
    return this.probe !== undefined;
  }

  /** Constrained, not probing, and the back-off since the last fall or failed probe is over. */
  canProbe(now: number): boolean {
    return this.constrained && !this.probe && this.estimate !== undefined && now >= this.nextProbeAt;
  }

  /** Allows `budget` for PROBE_MS, to see whether the estimate keeps rising under it. */
  startProbe(budget: number, now: number): void {
    this.probe = { budget, from: this.estimate ?? 0, until: now + PROBE_MS };
    this.peak = this.estimate;
  }

  private failProbe(now: number): void {
    this.probe = undefined;
    this.nextProbeAt = now + this.backoffMs;
    this.backoffMs = Math.min(PROBE_BACKOFF_MAX_MS, this.backoffMs * 2);
  }
}
