/**
 * Mono float PCM addressed by absolute sample index (the mixer's timeline), in a fixed ring. Audio is written where it
 * belongs on the timeline (not appended), so gaps stay silent and nothing drifts; reading a frame clears it, so any slot
 * that was never written reads as silence. Memory is fixed at construction. Indices use `%`, not bit masks, so they may
 * pass 2^31 (12 h at 48 kHz).
 */
export class PcmRing {
  private readonly buf: Float32Array;
  /** Absolute index of the next sample to read; everything before it is gone. */
  private base: number;
  /** One past the furthest absolute index written so far (≥ base once read past). */
  private end: number;

  /** `capacity` is rounded up to a power of two; `startIndex` is the timeline position of the first read. */
  constructor(capacity: number, startIndex = 0) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(2, capacity)));
    this.buf = new Float32Array(size);
    this.base = startIndex;
    this.end = startIndex;
  }

  get capacity(): number {
    return this.buf.length;
  }

  get readIndex(): number {
    return this.base;
  }

  /** Samples written at or after the read position (what is still to play). */
  get buffered(): number {
    return Math.max(0, this.end - this.base);
  }

  /**
   * Writes src[srcOffset, srcOffset + count) at absolute `index` (overwriting). The part before the read position
   * (already played) and the part beyond `capacity` ahead of it are dropped. Returns the samples actually written.
   */
  write(index: number, src: Float32Array, srcOffset = 0, count = src.length - srcOffset): number {
    let from = index;
    let off = srcOffset;
    let n = count;
    if (from < this.base) {
      const skip = Math.min(n, this.base - from);
      from += skip;
      off += skip;
      n -= skip;
    }
    n = Math.min(n, this.base + this.buf.length - from);
    if (n <= 0) return 0;
    const pos = from % this.buf.length;
    const first = Math.min(n, this.buf.length - pos);
    this.buf.set(src.subarray(off, off + first), pos);
    if (first < n) this.buf.set(src.subarray(off + first, off + n), 0);
    this.end = Math.max(this.end, from + n);
    return n;
  }

  /** Copies the next `count` (≤ capacity) samples into dst[0, count), clears them in the ring and advances the read position. */
  read(dst: Float32Array, count = dst.length): void {
    if (count > this.buf.length) throw new RangeError(`read of ${count} samples exceeds ring capacity ${this.buf.length}`);
    const pos = this.base % this.buf.length;
    const first = Math.min(count, this.buf.length - pos);
    dst.set(this.buf.subarray(pos, pos + first), 0);
    this.buf.fill(0, pos, pos + first);
    if (first < count) {
      dst.set(this.buf.subarray(0, count - first), first);
      this.buf.fill(0, 0, count - first);
    }
    this.base += count;
    if (this.end < this.base) this.end = this.base;
  }

  /** Drops everything before absolute `index` (used when a reader skipped ahead). */
  skipTo(index: number): void {
    while (this.base < index) {
      const n = Math.min(index - this.base, this.buf.length);
      const pos = this.base % this.buf.length;
      const first = Math.min(n, this.buf.length - pos);
      this.buf.fill(0, pos, pos + first);
      if (first < n) this.buf.fill(0, 0, n - first);
      this.base += n;
    }
    if (this.end < this.base) this.end = this.base;
  }
}
