/** Sequence numbers asked for again are forgotten after this: they will not come, and the numbers come round again. */
const FORGET_AFTER_MS = 10_000;

/**
 * What retransmission requests did for one RTP stream: NACK packets sent, distinct sequence numbers asked for, and
 * how many of those then arrived (a retransmission, or the original late: either way the jitter buffer got it).
 */
export class NackStats {
  nacksSent = 0;
  packetsNacked = 0;
  packetsRecovered = 0;
  /** Sequence number → when it was first asked for (insertion order = age). */
  private readonly pending = new Map<number, number>();

  onNack(lost: readonly number[], nowMs = Date.now()): void {
    this.nacksSent++;
    for (const seq of lost) {
      if (this.pending.has(seq)) continue; // asked again: werift repeats a NACK until the packet comes
      this.pending.set(seq, nowMs);
      this.packetsNacked++;
    }
    for (const [seq, at] of this.pending) {
      if (nowMs - at < FORGET_AFTER_MS) break;
      this.pending.delete(seq);
    }
  }

  onPacket(sequenceNumber: number): void {
    if (this.pending.size > 0 && this.pending.delete(sequenceNumber)) this.packetsRecovered++;
  }
}
