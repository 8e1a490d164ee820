import type { RtpHeader } from 'werift';

/** a - b in 16-bit sequence space, as the shortest signed distance. */
const seqDiff = (a: number, b: number): number => ((((a - b) & 0xffff) + 0x8000) & 0xffff) - 0x8000;

/**
 * Sequence numbers and timestamps of one output stream made of several input streams one after another (simulcast
 * layers, a restarted encoder): what werift's `replaceRTP` does for a DownTrack's sender, for a consumer in this
 * process that has no sender (the recorder's TileLayerTrack). Until the first restart the input numbering passes as it is.
 */
export class RtpContinuity {
  private seqOffset = 0;
  private tsOffset = 0;
  /** Highest output sequence number so far, and its timestamp. */
  private lastSeq?: number;
  private lastTs?: number;

  /** Output timestamp offset now (input + offset = output), for translating the input stream's sender reports. */
  get timestampOffset(): number {
    return this.tsOffset;
  }

  /** An input sequence number of the current input stream, in the output numbering. */
  outputSequence(sequenceNumber: number): number {
    return (sequenceNumber + this.seqOffset) & 0xffff;
  }

  /** `header` is the first packet of a new input stream: it continues at last + 1, `timestampStep` ticks after the last. */
  restart(header: Pick<RtpHeader, 'sequenceNumber' | 'timestamp'>, timestampStep: number): void {
    if (this.lastSeq === undefined || this.lastTs === undefined) return;
    this.seqOffset = (this.lastSeq + 1 - header.sequenceNumber) & 0xffff;
    this.tsOffset = (this.lastTs + timestampStep - header.timestamp) >>> 0;
  }

  /** Rewrites `header` (a copy of the input's) in place to the output numbering. */
  rewrite(header: RtpHeader): void {
    header.sequenceNumber = this.outputSequence(header.sequenceNumber);
    header.timestamp = (header.timestamp + this.tsOffset) >>> 0;
    if (this.lastSeq === undefined || seqDiff(header.sequenceNumber, this.lastSeq) > 0) {
      this.lastSeq = header.sequenceNumber;
      this.lastTs = header.timestamp;
    }
  }
}
