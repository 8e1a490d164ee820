/** Where a queued packet's bytes are in a PacketBytes buffer (rewritten when the buffer is compacted). */
export interface PacketSlot {
  offset: number;
  length: number;
}

/**
 * The bytes of a track's queued packets in one growable buffer. A mixer holds about a second of packets; a copy per
 * packet (its own ArrayBuffer) lived long enough to be promoted and kept V8's old generation busy (a full GC every few
 * seconds for 10 voices). Here a packet costs one small slot object; the buffer is compacted when it runs out.
 */
export class PacketBytes {
  private buf: Uint8Array;
  private end = 0;

  constructor(private readonly initialBytes = 16_384) {
    this.buf = new Uint8Array(initialBytes);
  }

  /**
   * Copies `data` in and returns its offset (its slot is { offset, length: data.length }); `live` are the slots still
   * needed, moved (offsets rewritten) if the buffer has to be compacted first.
   */
  add(data: Uint8Array, live: readonly PacketSlot[]): number {
    if (this.end + data.length > this.buf.length) this.compact(data.length, live);
    const offset = this.end;
    this.buf.set(data, offset);
    this.end += data.length;
    return offset;
  }

  /** The slot's bytes (a view: valid until the next add()). */
  view(slot: PacketSlot): Uint8Array {
    return this.buf.subarray(slot.offset, slot.offset + slot.length);
  }

  clear(): void {
    this.end = 0;
  }

  private compact(incoming: number, live: readonly PacketSlot[]): void {
    const liveBytes = live.reduce((n, s) => n + s.length, 0);
    let size = this.initialBytes;
    while (size < 2 * (liveBytes + incoming)) size *= 2;
    const next = new Uint8Array(size);
    let at = 0;
    for (const slot of live) {
      next.set(this.buf.subarray(slot.offset, slot.offset + slot.length), at);
      slot.offset = at;
      at += slot.length;
    }
    this.buf = next;
    this.end = at;
  }
}
