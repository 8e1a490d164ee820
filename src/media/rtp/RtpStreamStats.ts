/**
 * Receive statistics of one RTP stream as RFC 3550 A.3 defines them: expected = highest extended sequence - first + 1,
 * lost = expected - received (duplicates/retransmissions can make it briefly negative; clamped at 0).
 */
export class RtpStreamStats {
  packetsReceived = 0;
  bytesReceived = 0;
  firstPacketAtMs?: number;
  lastPacketAtMs?: number;
  private baseSeq?: number;
  private cycles = 0;
  private maxSeq = 0;

  onPacket(sequenceNumber: number, payloadBytes: number, nowMs = Date.now()): void {
    this.packetsReceived++;
    this.bytesReceived += payloadBytes;
    this.firstPacketAtMs ??= nowMs;
    this.lastPacketAtMs = nowMs;
    if (this.baseSeq === undefined) {
      this.baseSeq = sequenceNumber;
      this.maxSeq = sequenceNumber;
      return;
    }
    const delta = (sequenceNumber - this.maxSeq + 0x10000) % 0x10000;
    if (delta > 0 && delta < 0x8000) {
      if (sequenceNumber < this.maxSeq) this.cycles += 0x10000;
      this.maxSeq = sequenceNumber;
    }
  }

  get packetsLost(): number {
    if (this.baseSeq === undefined) return 0;
    const expected = this.cycles + this.maxSeq - this.baseSeq + 1;
    return Math.max(0, expected - this.packetsReceived);
  }
}
