/** Input sequence numbers remembered (what each was sent as, or that it was dropped), for late and repeated packets. */
const HISTORY = 1024;

/** a - b between 16-bit sequence numbers, as the shortest signed distance. */
const seqDiff = (a: number, b: number) => ((((a - b) & 0xffff) + 0x8000) & 0xffff) - 0x8000;

/**
 * Sequence numbers without the holes that leaving packets out would make. A subscriber that sees a gap takes it for
 * loss: it sends NACKs nobody can answer, and its jitter buffer waits for the packets. So each packet kept is numbered
 * as its input number minus the packets dropped before it, and what each input number became is remembered, so a
 * repeated packet (a retransmission, Chrome's RTX bandwidth probes) gets the number it got the first time, or is
 * dropped again, and a late one (lost upstream, retransmitted) the number its place in the stream gives it. The output
 * still needs the sender's own offset on top (werift's, continuous across sources): this only takes holes out.
 *
 * A NACK from the subscriber names output numbers; werift answers it from its history of packets as sent (output
 * number, rewritten payload), so it always maps to the original packet that number was given to.
 *
 * Packets missing upstream keep their gap (the subscriber's NACK brings them through the publisher's retransmission),
 * except where they can only belong to a dropped frame: between a dropped packet and the start of a kept frame, or
 * between the end of a kept frame and a dropped packet, they are counted as dropped too.
 */
export class SequenceCompactor {
  /** Packets dropped so far (mod 2^16): the offset of the next new packet kept. */
  private dropped = 0;
  private newest?: number;
  private newestDropped = false;
  private newestEndsFrame = false;
  /** Per slot: the input number it holds, the dropped count after it, and whether it was dropped. */
  private readonly inputs = new Int32Array(HISTORY).fill(-1);
  private readonly offsets = new Int32Array(HISTORY);
  private readonly droppedAt = new Uint8Array(HISTORY);

  /** A new input stream (another layer, a restarted encoder): numbering starts over from its next packet. */
  reset(): void {
    this.dropped = 0;
    this.newest = undefined;
    this.inputs.fill(-1);
  }

  /** What `seq` was made of before: its output number, 'dropped', or undefined when it was not seen. */
  seen(seq: number): number | 'dropped' | undefined {
    const slot = seq % HISTORY;
    if (this.inputs[slot] !== seq) return undefined;
    return this.droppedAt[slot] ? 'dropped' : (seq - this.offsets[slot]!) & 0xffff;
  }

  /** True when `seq` is newer than every packet seen of this stream. */
  isNew(seq: number): boolean {
    return this.newest === undefined || seqDiff(seq, this.newest) > 0;
  }

  /**
   * The number to send `seq` with. `frameStart`: it starts a frame; `frameEnd`: it ends one (RTP marker), which
   * tell what a gap before a later packet was.
   */
  keep(seq: number, frameStart: boolean, frameEnd: boolean): number {
    const known = this.seen(seq);
    if (typeof known === 'number') return known;
    let offset: number;
    if (this.isNew(seq)) {
      // A gap from a dropped packet to a frame start: the rest of the dropped frame (or frames all lost).
      if (this.newest !== undefined && this.newestDropped && frameStart) this.dropGap(this.newest, seq);
      offset = this.dropped;
      this.advance(seq, false, frameEnd);
    } else {
      offset = this.offsetBefore(seq);
    }
    this.remember(seq, offset, false);
    return (seq - offset) & 0xffff;
  }

  /** `seq` is left out: the packets kept after it close the gap. */
  drop(seq: number): void {
    if (this.seen(seq) !== undefined) return;
    if (this.isNew(seq)) {
      // After a kept frame's last packet, what is missing up to this dropped one belonged to dropped frames.
      if (this.newest !== undefined && this.newestEndsFrame && !this.newestDropped) this.dropGap(this.newest, seq);
      this.dropped = (this.dropped + 1) & 0xffff;
      this.advance(seq, true, false);
    }
    this.remember(seq, this.dropped, true);
  }

  /** The packets missing between `from` and `to` count as dropped (and are dropped should they come late). */
  private dropGap(from: number, to: number): void {
    const gap = Math.min(seqDiff(to, from) - 1, HISTORY);
    for (let i = 1; i <= gap; i++) {
      this.dropped = (this.dropped + 1) & 0xffff;
      this.remember((from + i) & 0xffff, this.dropped, true);
    }
  }

  private advance(seq: number, dropped: boolean, endsFrame: boolean): void {
    this.newest = seq;
    this.newestDropped = dropped;
    this.newestEndsFrame = endsFrame;
  }

  private remember(seq: number, offsetAfter: number, dropped: boolean): void {
    const slot = seq % HISTORY;
    this.inputs[slot] = seq;
    this.offsets[slot] = offsetAfter;
    this.droppedAt[slot] = dropped ? 1 : 0;
  }

  /** The offset in force just before `seq` (a late packet): the one after the nearest packet seen before it. */
  private offsetBefore(seq: number): number {
    for (let back = 1; back < 64; back++) {
      const prev = (seq - back) & 0xffff;
      if (this.inputs[prev % HISTORY] === prev) return this.offsets[prev % HISTORY]!;
    }
    return this.dropped;
  }
}
