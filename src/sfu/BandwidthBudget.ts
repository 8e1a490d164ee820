/** The estimate fell (the receiver saw its queue grow: overuse) when it drops below this share of its recent peak. */
const FALL_RATIO = 0.9;
/** Loss (RTCP receiver report's fraction lost) from which the link counts as congested, as Chromium's sender has it. */
export const LOSS_CONGESTED = 0.1;
/** How long a probe sends one step more than the budget allows, at most. */
export const PROBE_MS = 2000;
/** A probe fails when the estimate has not risen for this long (after the first PROBE_GRACE_MS): the link is full. */
const PROBE_STALL_MS = 800;
const PROBE_GRACE_MS = 400;
/** A probe held when, by its end, the estimate rose at least this much (and never stalled, fell or saw loss). */
const PROBE_GROWTH = 1.08;
/** The wait before a probe after congestion, doubled after each failed probe up to the maximum. */
export const PROBE_BACKOFF_MIN_MS = 4000;
export const PROBE_BACKOFF_MAX_MS = 10_000;
/** After a probe that held, the next step is tried this soon. */
const PROBE_AFTER_HELD_MS = 1000;
/** Loss and falls reported this soon after congestion or a failed probe are the queue draining: not new congestion. */
const SETTLE_MS = 1500;

export type BudgetEvent = 'congested' | 'probeHeld' | 'probeFailed' | undefined;

/**
 * What a subscriber's downlink allows, from its receiver's estimate (REMB, bit/s) and loss (RTCP receiver reports),
 * with time passed in (ms).
 *
 * Chromium's receive-side estimate is no capacity measure while nothing is congested: it starts from what arrives, rises
 * by ~8 % a second, never above 1.5 × what it receives, and when its queue grows it mostly stops rising rather than
 * falls. So the budget is unlimited until the link shows congestion (loss ≥ LOSS_CONGESTED, or the estimate falls);
 * from then on it is the estimate. To find out whether the link got better, a probe raises the budget by one step
 * (`startProbe`) for up to PROBE_MS: on a free link the estimate keeps rising and the probed budget becomes the floor
 * (until congestion again); on a full one the estimate stalls or falls, or loss comes, the probe fails at once, and the
 * next waits twice as long (PROBE_BACKOFF_MIN_MS … PROBE_BACKOFF_MAX_MS).
 */
export class BandwidthBudget {
  /** The latest estimate (undefined until the receiver sent one). */
  estimate?: number;
  private peak?: number;
  private constrained = false;
  /** A probed budget that held: the link carried it, whatever the (slowly rising) estimate says. */
  private floor?: number;
  /**
   * Since congestion: at most what got through then (loss: what was sent less half the share lost, as Chromium's
   * sender does), however high an estimate from before the loss still is. A probe that holds lifts it.
   */
  private ceiling = Infinity;
  private probe?: { budget: number; before?: number; from: number; startedAt: number; max: number; roseAt: number };
  private backoffMs = PROBE_BACKOFF_MIN_MS;
  private nextProbeAt = 0;
  private settleUntil = -Infinity;

  /** A new estimate from the receiver. */
  onEstimate(bps: number, now: number): BudgetEvent {
    this.estimate = bps;
    const probe = this.probe;
    if (probe && bps > probe.max) {
      probe.max = bps;
      probe.roseAt = now;
    }
    if (this.peak !== undefined && bps < this.peak * FALL_RATIO && !this.inGrace(now)) {
      this.peak = bps;
      return this.congested(now);
    }
    this.peak = Math.max(this.peak ?? bps, bps);
    return this.tick(now);
  }

  /** The receiver's loss since its last report (0..1), while `sentBps` was being sent to it. */
  onLoss(fraction: number, sentBps: number, now: number): BudgetEvent {
    return fraction >= LOSS_CONGESTED && !this.inGrace(now) ? this.congested(now, sentBps * (1 - fraction / 2)) : undefined;
  }

  /** Judges a running probe: stalled (failed), or over (held if the estimate rose). */
  tick(now: number): BudgetEvent {
    const probe = this.probe;
    if (!probe) return undefined;
    if (now - probe.startedAt >= PROBE_GRACE_MS && now - probe.roseAt >= PROBE_STALL_MS) return this.failProbe(now);
    if (now - probe.startedAt < PROBE_MS) return undefined;
    if ((this.estimate ?? 0) < probe.from * PROBE_GROWTH) return this.failProbe(now);
    this.probe = undefined;
    this.floor = probe.budget;
    this.ceiling = Infinity;
    this.backoffMs = PROBE_BACKOFF_MIN_MS;
    this.nextProbeAt = now + PROBE_AFTER_HELD_MS;
    return 'probeHeld';
  }

  /** The budget (bit/s) to allocate by; undefined when unlimited. */
  get budget(): number | undefined {
    if (!this.constrained) return undefined;
    if (this.probe) return this.probe.budget;
    const b = Math.max(this.floor ?? 0, Math.min(this.estimate ?? Infinity, this.ceiling));
    return b > 0 && b < Infinity ? b : undefined;
  }

  get probing(): boolean {
    return this.probe !== undefined;
  }

  /** Constrained, not probing, and the back-off since the last congestion or failed probe is over. */
  canProbe(now: number): boolean {
    return this.constrained && !this.probe && this.estimate !== undefined && now >= this.nextProbeAt;
  }

  /** Allows `budget` for up to PROBE_MS, to see whether the estimate keeps rising under it. */
  startProbe(budget: number, now: number): void {
    const from = this.estimate ?? 0;
    this.probe = { budget, before: this.budget, from, startedAt: now, max: from, roseAt: now };
    this.peak = from;
  }

  /** The first moments of a probe: loss and falls reported then are about what was sent before it. */
  private inGrace(now: number): boolean {
    return this.probe !== undefined && now - this.probe.startedAt < PROBE_GRACE_MS;
  }

  private congested(now: number, got = Infinity): BudgetEvent {
    if (now < this.settleUntil) return undefined;
    if (this.probe) return this.failProbe(now);
    const was = this.constrained && this.floor === undefined;
    this.constrained = true;
    this.floor = undefined;
    this.ceiling = Math.min(this.ceiling, got, this.estimate ?? Infinity);
    this.settleUntil = now + SETTLE_MS;
    this.nextProbeAt = Math.max(this.nextProbeAt, now + this.backoffMs);
    return was ? undefined : 'congested';
  }

  /** Back to the budget from before the probe (the estimate has just fallen because of the probe itself). */
  private failProbe(now: number): BudgetEvent {
    this.floor = this.probe?.before;
    this.probe = undefined;
    this.settleUntil = now + SETTLE_MS;
    this.nextProbeAt = now + this.backoffMs;
    this.backoffMs = Math.min(PROBE_BACKOFF_MAX_MS, this.backoffMs * 2);
    return 'probeFailed';
  }
}
