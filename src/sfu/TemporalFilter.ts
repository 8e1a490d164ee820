import type { Vp8Descriptor } from '../media/rtp/vp8Descriptor.js';
import { SequenceCompactor } from './SequenceCompactor.js';

/** No temporal cap: every layer is forwarded. */
export const ALL_TEMPORAL = 3;

/**
 * Leaves out the VP8 temporal layers above a subscriber's cap (TID > cap; Chromium's simulcast layers carry three:
 * TID 0 at 7.5 fps, 0+1 at 15 fps, all at 30 fps), whole frames at a time, and numbers what it keeps without holes
 * (SequenceCompactor). PictureIDs are closed up by the Vp8Munger, told of each dropped packet.
 *
 * A lower cap takes effect at the next frame: the frames kept then reference only lower layers. A higher cap waits for
 * a frame that can start it: a TL0 frame (each of libwebrtc's temporal patterns refreshes the upper layers' reference
 * buffers after a TL0 frame before any frame references them, which LiveKit's selector relies on too), or a frame with
 * the layer-sync bit (Y: it references only TL0) of the layer just above the one in force, which it then adds. A decoder never gets a frame whose references it
 * was not sent. Packets without a TID (no temporal layers) are all kept.
 */
export class TemporalFilter {
  /** The cap wanted (highest TID to forward). */
  private target = ALL_TEMPORAL;
  /** The cap in force. */
  private current = ALL_TEMPORAL;
  private readonly seq = new SequenceCompactor();
  /** RTP timestamp of the newest frame seen, and whether it is kept. */
  private frameTimestamp?: number;
  /** Packets and frames left out (for tests and logs). */
  droppedPackets = 0;

  get cap(): number {
    return this.target;
  }

  /** The cap in force now (lags a raise until a sync point). */
  get currentCap(): number {
    return this.current;
  }

  setCap(tid: number): void {
    this.target = Math.min(ALL_TEMPORAL, Math.max(0, tid));
  }

  /** A new input stream starts at its keyframe: every layer is in sync there, numbering starts over. */
  reset(): void {
    this.seq.reset();
    this.frameTimestamp = undefined;
    this.current = this.target;
  }

  /**
   * The sequence number to send the packet with (before the sender's own offset), or undefined to leave it out.
   * `d` is its VP8 descriptor.
   */
  filter(sequenceNumber: number, timestamp: number, marker: boolean, d: Vp8Descriptor | undefined): number | undefined {
    const tid = d?.tid;
    const frameStart = d !== undefined && d.start && d.partitionId === 0;
    const known = this.seq.seen(sequenceNumber);
    if (known !== undefined) return known === 'dropped' ? undefined : known;
    if (tid !== undefined && this.seq.isNew(sequenceNumber) && timestamp !== this.frameTimestamp) {
      this.frameTimestamp = timestamp;
      this.atFrame(tid, d!.layerSync === true);
    }
    if (tid !== undefined && tid > this.current) {
      this.seq.drop(sequenceNumber);
      this.droppedPackets++;
      return undefined;
    }
    return this.seq.keep(sequenceNumber, frameStart, marker);
  }

  /** A new frame of layer `tid` begins: where the cap in force may change. */
  private atFrame(tid: number, layerSync: boolean): void {
    if (this.target < this.current) this.current = this.target;
    else if (this.target > this.current) {
      if (tid === 0) this.current = this.target;
      else if (layerSync && tid === this.current + 1) this.current = tid; // one layer at a time: it references only TL0
    }
  }
}
