/**
 * What a sender really sent, read from the RTP headers (in the clear under SRTP) as datagrams pass an impairment relay's
 * tap: per SSRC, the longest media-time jump between consecutive sequence numbers. A sender starved of CPU skips frames
 * (bench/loadgen drops what is overdue): such a gap is in the recording too and is not the recorder's doing.
 */
export class SentRtpGaps {
  /** SSRC → sequence number → RTP timestamp. */
  private readonly streams = new Map<number, Map<number, number>>();

  readonly tap = (datagram: Buffer, direction: 'toUpstream' | 'toClient'): void => {
    if (direction !== 'toUpstream' || datagram.length < 12 || datagram[0]! >> 6 !== 2) return;
    const pt = datagram[1]! & 0x7f;
    if (pt >= 72 && pt <= 79) return; // RTCP (200-207 with the marker bit read as part of it)
    const ssrc = datagram.readUInt32BE(8);
    let bySeq = this.streams.get(ssrc);
    if (!bySeq) this.streams.set(ssrc, (bySeq = new Map()));
    bySeq.set(datagram.readUInt16BE(2), datagram.readUInt32BE(4));
  };

  /** Longest jump of the RTP timestamp (ms) between consecutive sequence numbers of one stream. */
  longestMs(ssrc: number, clockRate: number): number {
    let longest = 0;
    const bySeq = this.streams.get(ssrc);
    for (const [seq, ts] of bySeq ?? []) {
      const next = bySeq!.get((seq + 1) & 0xffff);
      if (next === undefined) continue;
      const ms = (((next - ts) >>> 0) / clockRate) * 1000;
      if (ms < 10_000) longest = Math.max(longest, ms);
    }
    return longest;
  }
}
