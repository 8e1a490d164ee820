/**
 * Unwraps 32-bit RTP timestamps into a monotonically extended count. Media times are derived from the *total* since the
 * first packet (not summed per packet), so rounding never accumulates into drift on long recordings.
 */
export class RtpClock {
  private last?: number;
  private extended = 0;

  constructor(readonly clockRate: number) {}

  /** Ticks since the first timestamp seen. */
  update(timestamp: number): number {
    if (this.last === undefined) this.last = timestamp;
    let delta = timestamp - this.last;
    if (delta < -0x80000000) delta += 0x100000000;
    else if (delta > 0x80000000) delta -= 0x100000000;
    this.extended += delta;
    this.last = timestamp;
    return this.extended;
  }

  toMs(ticks: number): number {
    return Math.round((ticks / this.clockRate) * 1000);
  }
}
