import { ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpRrPacket, type RTCDtlsTransport, type RtcpPacket } from 'werift';
import type { Logger } from '../logger.js';
import { allocate, nextStepBudget, type VideoShare } from './bandwidthAllocation.js';
import { capOf, formatCap, sameCap, sendingRate, stepOf, videoLadder, wantedStep, type LadderStep, type VideoCap } from './videoLadder.js';
import { BandwidthBudget, type BudgetEvent } from './BandwidthBudget.js';
import type { DownTrack } from './DownTrack.js';

/** Allocation runs on every estimate (Chromium sends one every ~200 ms) and at least this often. */
const TICK_MS = 500;
/** A higher layer that the estimate allows is taken only once it has allowed it this long (no flapping). */
const RAISE_HOLD_MS = 2000;
/**
 * Layer bitrates move by ±15 % (keyframes, motion): a video keeps its layer while it fits this much more than the
 * budget, and a probe asks for this much more than the next step's measured rate.
 */
const RATE_SLACK = 1.15;

export interface SubscriberBandwidthContext {
  /** The subscriber's down tracks now. */
  downTracks(): Iterable<DownTrack>;
  /** A video was paused for bandwidth (true) or resumed (false). */
  pausedChanged(down: DownTrack, paused: boolean): void;
  logger: Logger;
  subscriber: string;
}

/**
 * Bandwidth adaptation for one subscriber: its receiver's estimate (REMB) and loss (receiver reports), from its
 * transports' RTCP, set a budget (BandwidthBudget); the budget is split among its shown videos (allocate over each
 * video's ladder of steps: 15 fps before a lower resolution, biggest first, then pause; see videoLadder); each video's
 * DownTrack is capped accordingly. Going down is at once, going up waits RAISE_HOLD_MS, except when a probe tries one
 * step more. The budget is the videos' alone, audio (never paused) is not in it: Chromium's receive-side estimate
 * covers only the packets that carry abs-send-time, our videos ("for audio, we only support send side BWE"), so it
 * is what the videos got through, the voices beside them. Taking the voices out of it again paused every video of a
 * six-person room of small cameras (five voices ~300 kbit/s against an estimate of 10-30 kbit/s for five 7 kbit/s
 * videos), and comparing the estimate with audio and video sent called that congestion within seconds of a join.
 */
export class SubscriberBandwidth {
  readonly budget = new BandwidthBudget();
  private readonly hooked = new WeakSet<RTCDtlsTransport>();
  private readonly unsubscribes: Array<() => void> = [];
  private readonly raiseSince = new WeakMap<DownTrack, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly ctx: SubscriberBandwidthContext) {
    this.timer = setInterval(() => this.reallocate(performance.now(), this.budget.tick(performance.now())), TICK_MS).unref();
  }

  /** Listens to `transport`'s RTCP for the receiver's estimate (once per transport; BUNDLE makes it one). */
  watch(transport: RTCDtlsTransport): void {
    if (this.hooked.has(transport)) return;
    this.hooked.add(transport);
    this.ctx.logger.debug({ subscriber: this.ctx.subscriber }, 'sfu: bandwidth: watching a transport');
    const sub = transport.onRtcp.subscribe((packet: RtcpPacket) => {
      if (packet.type === RtcpRrPacket.type) {
        const reports = (packet as RtcpRrPacket).reports;
        // The worst stream's loss since the receiver's previous report (fraction lost: 0..255).
        const lost = reports.reduce((max, r) => Math.max(max, r.fractionLost), 0) / 256;
        const now = performance.now();
        const backlogMs = this.backlog(reports);
        if (this.budget.probing && backlogMs !== undefined) this.ctx.logger.debug({ subscriber: this.ctx.subscriber, lost, backlogMs: Math.round(backlogMs) }, 'sfu: bandwidth: probe report');
        const event = this.budget.onLoss(lost, this.sending(now), now) ?? (backlogMs === undefined ? undefined : this.budget.onBacklog(backlogMs, now));
        if (event) this.reallocate(now, event);
        return;
      }
      if (packet.type !== RtcpPayloadSpecificFeedback.type) return;
      const feedback = (packet as RtcpPayloadSpecificFeedback).feedback;
      if (!(feedback instanceof ReceiverEstimatedMaxBitrate)) return;
      const now = performance.now();
      this.reallocate(now, this.budget.onEstimate(Number(feedback.bitrate), now, this.sending(now)));
    });
    this.unsubscribes.push(() => sub.unSubscribe());
  }

  private reallocate(now: number, event: BudgetEvent | 'probeStarted'): void {
    const videos: DownTrack[] = [];
    for (const down of this.ctx.downTracks()) {
      if (down.published.kind === 'audio') continue;
      if (down.wantedLayer !== undefined) videos.push(down);
      else this.apply(down, undefined, [], now, true); // hidden: nothing to allocate
    }
    let budget = this.budget.budget;
    let shares: Array<VideoCap | undefined> = videos.map(() => undefined);
    const ladders = videos.map((d) => videoLadder(d.published.layerRates(now), d.published.temporalRates(now)));
    if (budget !== undefined) {
      const demands = videos.map((d, i) => ({ wanted: wantedStep(ladders[i]!, d.wantedLayer!), rates: ladders[i]!.map((s) => s.rate) }));
      // One step above what is sent now (the caps in force, hysteresis included).
      const current = videos.map((d, i) => (d.bandwidthCap === undefined ? demands[i]!.wanted : stepOf(ladders[i]!, d.bandwidthCap)));
      const step = this.budget.canProbe(now) ? nextStepBudget(demands, current) : undefined;
      if (step !== undefined) {
        budget = step * RATE_SLACK;
        this.budget.startProbe(budget, now);
        event = 'probeStarted';
      }
      // Lower where even the loose allocation does; raise where even the strict one does; else keep (hysteresis).
      const strict = allocate(budget, demands);
      const loose = allocate(budget * RATE_SLACK, demands);
      shares = videos.map((d, i) => {
        const current = rank(ladders[i]!, d.bandwidthCap);
        if (current > rank(ladders[i]!, loose[i]!)) return capOf(ladders[i]!, loose[i]!);
        if (current < rank(ladders[i]!, strict[i]!)) return capOf(ladders[i]!, strict[i]!);
        return d.bandwidthCap;
      });
    }
    if (event) this.ctx.logger.debug({ subscriber: this.ctx.subscriber, event, estimate: this.budget.estimate, budget, rates: videos.map((d) => d.published.layerRates(now).map(Math.round)), steps: ladders.map((l) => l.map((s) => `${formatCap(s)}:${Math.round(s.rate / 1000)}k`).join(' ')) }, 'sfu: bandwidth');
    // Raises wait unless nothing limits (unconstrained) or a probe wants them now.
    const immediate = budget === undefined || this.budget.probing;
    videos.forEach((down, i) => this.apply(down, shares[i], ladders[i]!, now, immediate));
  }

  /** The largest backlog among the videos a receiver report covers (ms of send time); undefined when it covers none. */
  private backlog(reports: RtcpRrPacket['reports']): number | undefined {
    let max: number | undefined;
    for (const down of this.ctx.downTracks()) {
      if (down.published.kind !== 'video') continue;
      const report = reports.find((r) => r.ssrc === down.ssrc);
      const ms = report && down.backlogMs(report.highestSequence);
      if (ms !== undefined) max = Math.max(max ?? 0, ms);
    }
    return max;
  }

  /** What the subscriber's videos are sent now (bit/s): each one's forwarded layer. */
  private sending(now: number): number {
    let sum = 0;
    for (const down of this.ctx.downTracks()) {
      const layer = down.layers.current;
      if (down.published.kind !== 'video' || layer === undefined || down.paused || down.pausedForBandwidth) continue;
      sum += sendingRate(down.published.layerRates(now), down.published.temporalRates(now), layer, down.temporalLayer);
    }
    return sum;
  }

  private apply(down: DownTrack, share: VideoCap | undefined, ladder: readonly LadderStep[], now: number, immediate: boolean): void {
    const current = down.bandwidthCap;
    if (sameCap(share, current)) return void this.raiseSince.delete(down);
    const raise = rank(ladder, share) > rank(ladder, current);
    if (raise && !immediate) {
      const since = this.raiseSince.get(down) ?? now;
      this.raiseSince.set(down, since);
      if (now - since < RAISE_HOLD_MS) return;
    }
    this.raiseSince.delete(down);
    const wasPaused = down.pausedForBandwidth;
    down.setBandwidthCap(share);
    this.ctx.logger.debug({ subscriber: this.ctx.subscriber, mid: down.mid, from: formatCap(current), to: formatCap(share), estimate: this.budget.estimate }, 'sfu: bandwidth cap');
    if (wasPaused !== down.pausedForBandwidth) this.ctx.pausedChanged(down, down.pausedForBandwidth);
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribes.splice(0).forEach((u) => u());
  }
}

/** Order of caps: paused < each step of the ladder (cheapest first) < none. */
function rank(ladder: readonly LadderStep[], cap: VideoCap | VideoShare | undefined): number {
  if (cap === undefined) return Infinity;
  const share = typeof cap === 'object' ? stepOf(ladder, cap) : cap;
  return share === 'paused' ? -1 : share;
}
