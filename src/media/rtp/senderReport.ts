/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** Converts a 64-bit NTP timestamp (RTCP sender report) to Unix epoch milliseconds. */
export function ntpToUnixMs(ntp: bigint): number {
  const seconds = Number(ntp >> 32n);
  const fraction = Number(ntp & 0xffffffffn) / 2 ** 32;
  return (seconds - NTP_UNIX_OFFSET_S + fraction) * 1000;
}

/** One sender report's RTP timestamp and sender NTP time (Unix ms). */
export interface SenderReportPoint {
  rtpTimestamp: number;
  ntpTimeMs: number;
}

/** `to` − `from` in RTP ticks across the 32-bit wrap (the two within 2^31 ticks of each other). */
export function rtpTicksBetween(from: number, to: number): number {
  return ((to - from + 2 ** 31) >>> 0) - 2 ** 31;
}

/** How far `next` moved the sender's RTP → NTP mapping from what `prev` predicted for its timestamp (ms). */
export function mappingMoveMs(prev: SenderReportPoint, next: SenderReportPoint, clockRate: number): number {
  return next.ntpTimeMs - (prev.ntpTimeMs + (rtpTicksBetween(prev.rtpTimestamp, next.rtpTimestamp) * 1000) / clockRate);
}

/**
 * The sender reports that moved a stream's RTP → NTP mapping: each differs by more than `thresholdMs` from what the
 * report before predicted. A sender's mapping is steady for video; a browser's audio mapping can step by hundreds of
 * ms when its capture was starved and caught up (measured: 370 ms in a busy CI run), and media between two such
 * reports lies on the sender's clock as the earlier one said. Bounded: the first `max` steps are kept.
 */
export class SenderReportSteps<T extends SenderReportPoint = SenderReportPoint> {
  readonly steps: T[] = [];
  private last?: T;

  constructor(
    private readonly clockRate: number,
    private readonly thresholdMs = 5,
    private readonly max = 100,
  ) {}

  /** A new report; true when it was a step (kept). */
  add(report: T): boolean {
    const prev = this.last;
    this.last = report;
    if (!prev || Math.abs(mappingMoveMs(prev, report, this.clockRate)) <= this.thresholdMs) return false;
    if (this.steps.length < this.max) this.steps.push(report);
    return true;
  }
}
