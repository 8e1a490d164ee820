/** The estimate fell (the receiver saw its queue grow: overuse) when it drops below this share of its recent peak. */
const FALL_RATIO = 0.9;
/**
 * Before any congestion was seen: the estimate staying below this share of what is sent for LOW_ESTIMATE_MS (while
 * estimates keep coming and at least LOW_ESTIMATE_MIN_BPS is sent) is congestion too. Behind a full link Chromium's
 * first estimates are 20-45 % of what is sent, and may never fall; on a free one ~90 %.
 */
const LOW_ESTIMATE_SHARE = 0.5;
const LOW_ESTIMATE_MS = 2000;
const LOW_ESTIMATE_MIN_BPS = 150_000;
/** Loss (RTCP receiver report's fraction lost) from which the link counts as congested, as Chromium's sender has it. */
export const LOSS_CONGESTED = 0.1;
/** How long a probe sends one step more than the budget allows; it holds when no loss or fall came meanwhile. */
export const PROBE_MS = 2000;
/** Loss and falls in a probe's first moments are about what was sent before it. */
const PROBE_GRACE_MS = 400;
/** During a probe, less loss than LOSS_CONGESTED already fails it (the probe is what caused it). */
const PROBE_LOSS = 0.05;
/**
 * During a probe, the receiver this far behind what was sent (ms of send time, from its receiver reports) in two
 * reports in a row fails it: the probe fills a queue on the way (on a free link it stays under ~5 ms). Caught before the queue overflows (loss), so the
 * lower layer's keyframe that ends the probe waits behind less (~0.5 s behind a 0.5 s queue otherwise). Two reports,
 * not one: a moment of event-loop lag here looks like a backlog once.
 */
const PROBE_BACKLOG_MS = 100;
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
 * Chromium's receive-side estimate is no capacity measure while nothing is congested: it starts from what arrives,
 * rises by up to ~8 % a second (a few kbit/s a second once it has met a limit), never above 1.5 × what it receives, and
 * when its queue grows it mostly stops rising rather than falls. So the budget is unlimited until the link shows
 * congestion (loss ≥ LOSS_CONGESTED, the estimate falls, or at the start stays far below what is sent); from then on
 * it is the estimate, no higher than what got through. It rises only by probes: one step more (`startProbe`) for
 * PROBE_MS; without loss or a fall meanwhile the link carried it and it becomes the floor (until congestion again);
 * with them, or a backlog building at the receiver, the probe fails at once, back to the budget before it, and the next waits twice as long
 * (PROBE_BACKOFF_MIN_MS … PROBE_BACKOFF_MAX_MS). The estimate's rise is no verdict: too slow once it met a limit.
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
  private probe?: { budget: number; before?: number; startedAt: number };
  private backoffMs = PROBE_BACKOFF_MIN_MS;
  private nextProbeAt = 0;
  private settleUntil = -Infinity;
  /** Receiver reports in a row, during the current probe, that showed a backlog. */
  private backlogged = 0;
  /** Since when the estimate has been below LOW_ESTIMATE_SHARE of what is sent (unconstrained only). */
  private lowSince?: number;

  /** A new estimate from the receiver, while `sentBps` is being sent to it. */
  onEstimate(bps: number, now: number, sentBps = 0): BudgetEvent {
    this.estimate = bps;
    if (this.constrained || sentBps < LOW_ESTIMATE_MIN_BPS || bps >= sentBps * LOW_ESTIMATE_SHARE) this.lowSince = undefined;
    else if (now - (this.lowSince ??= now) >= LOW_ESTIMATE_MS) {
      this.lowSince = undefined;
      return this.congested(now);
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
    const threshold = this.probe ? PROBE_LOSS : LOSS_CONGESTED;
    return fraction >= threshold && !this.inGrace(now) ? this.congested(now, sentBps * (1 - fraction / 2)) : undefined;
  }

  /** How far behind what was sent the receiver is (ms of send time; see DownTrack.backlogMs). */
  onBacklog(ms: number, now: number): BudgetEvent {
    // No grace here: a receiver already behind when the probe starts is no better sign for it.
    if (!this.probe) return undefined;
    this.backlogged = ms >= PROBE_BACKLOG_MS ? this.backlogged + 1 : 0;
    return this.backlogged >= 2 ? this.failProbe(now) : undefined;
  }

  /** Ends a probe that ran its time without loss or a fall: it held. */
  tick(now: number): BudgetEvent {
    const probe = this.probe;
    if (!probe || now - probe.startedAt < PROBE_MS) return undefined;
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

  /** Allows `budget` for PROBE_MS, to see whether the link carries it (no loss, no fall). */
  startProbe(budget: number, now: number): void {
    this.probe = { budget, before: this.budget, startedAt: now };
    this.backlogged = 0;
    this.peak = this.estimate;
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
