import { parseVp8Descriptor, type Vp8Descriptor } from '../media/rtp/vp8Descriptor.js';

/** a - b in a counter of `bits` bits, as the shortest signed distance. */
function diff(a: number, b: number, bits: number): number {
  const range = 2 ** bits;
  const d = (((a - b) % range) + range) % range;
  return d >= range / 2 ? d - range : d;
}

const wrap = (v: number, bits: number) => (((v % 2 ** bits) + 2 ** bits) % 2 ** bits);

/** Recent pictures' output PictureIDs, by input PictureID (a late packet of a picture keeps the number it got). */
const PICTURE_HISTORY = 128;

/**
 * Keeps the VP8 numbering a subscriber sees continuous when the stream behind its track changes (a simulcast layer
 * switch, or a publisher's restarted encoder) and when pictures are left out (temporal layers above the subscriber's
 * cap). Each layer numbers its pictures on its own: forwarded as they are, a switch makes PictureID jump, and the
 * receiver's frame-reference tracking (Chrome's RtpVp8RefFinder) waits for the pictures in between or drops frames it
 * thinks are old; a PictureID gap left by a dropped picture likewise stalls every later frame that references a picture
 * from before the gap. So from the first packet of the new stream (a keyframe) on, PictureID, TL0PICIDX and KEYIDX are
 * shifted to continue at last-sent + 1, and each dropped picture shifts the PictureIDs after it down by one, as
 * mediasoup's SimulcastConsumer and LiveKit's codecmunger/vp8.go do. TL0PICIDX is untouched by drops: only pictures
 * above TL0 are ever dropped.
 *
 * Fields are rewritten in place at their width (a 7-bit PictureID stays 7-bit: continuity then holds modulo 128);
 * the payload is copied first, as one received packet is shared by every subscriber. Until the first switch or drop
 * all offsets are 0 and packets pass unchanged, without a copy.
 */
export class Vp8Munger {
  private pictureIdOffset = 0;
  private tl0PicIdxOffset = 0;
  private keyIdxOffset = 0;
  /** The newest values sent (after rewriting), to continue from at the next switch. */
  private lastPictureId?: number;
  private lastTl0PicIdx?: number;
  private lastKeyIdx?: number;
  /** The newest input PictureID seen (sent or dropped) of the current stream: a newer one is a new picture. */
  private newestInput?: number;
  private readonly history = new Int32Array(PICTURE_HISTORY * 2).fill(-1);

  /** `payload` (a keyframe's first packet) starts a new stream: its numbering continues what was sent. */
  switchTo(payload: Uint8Array, d = parseVp8Descriptor(payload)): void {
    if (!d) return;
    // Offsets are kept in the widest form; each packet applies them modulo its own field width.
    if (d.pictureId !== undefined && this.lastPictureId !== undefined) this.pictureIdOffset = wrap(this.lastPictureId + 1 - d.pictureId, 15);
    if (d.tl0PicIdx !== undefined && this.lastTl0PicIdx !== undefined) this.tl0PicIdxOffset = wrap(this.lastTl0PicIdx + 1 - d.tl0PicIdx, 8);
    if (d.keyIdx !== undefined && this.lastKeyIdx !== undefined) this.keyIdxOffset = wrap(this.lastKeyIdx + 1 - d.keyIdx, 5);
    this.newestInput = undefined;
    this.history.fill(-1);
  }

  /** A packet of a picture not forwarded (a temporal layer above the cap): the pictures after it close the gap. */
  drop(d: Vp8Descriptor | undefined): void {
    if (d?.pictureId === undefined || !this.isNewPicture(d.pictureId, d.pictureIdBits!)) return;
    this.pictureIdOffset = wrap(this.pictureIdOffset - 1, 15);
  }

  /** The payload to send for `payload`: the same buffer when nothing changes, else a rewritten copy. */
  munge(payload: Buffer, d = parseVp8Descriptor(payload)): Buffer {
    if (!d) return payload;
    let pictureId: number | undefined;
    let tl0PicIdx: number | undefined;
    let keyIdx: number | undefined;
    if (d.pictureId !== undefined) {
      const bits = d.pictureIdBits!;
      pictureId = this.outputPictureId(d.pictureId, bits);
      if (this.lastPictureId === undefined || diff(pictureId, this.lastPictureId, bits) > 0) this.lastPictureId = pictureId;
    }
    if (d.tl0PicIdx !== undefined) {
      tl0PicIdx = wrap(d.tl0PicIdx + this.tl0PicIdxOffset, 8);
      if (this.lastTl0PicIdx === undefined || diff(tl0PicIdx, this.lastTl0PicIdx, 8) > 0) this.lastTl0PicIdx = tl0PicIdx;
    }
    if (d.keyIdx !== undefined) {
      keyIdx = wrap(d.keyIdx + this.keyIdxOffset, 5);
      if (this.lastKeyIdx === undefined || diff(keyIdx, this.lastKeyIdx, 5) > 0) this.lastKeyIdx = keyIdx;
    }
    const changed = (pictureId !== undefined && pictureId !== d.pictureId) || (tl0PicIdx !== undefined && tl0PicIdx !== d.tl0PicIdx) || (keyIdx !== undefined && keyIdx !== d.keyIdx);
    if (!changed) return payload;
    const out = Buffer.from(payload);
    if (pictureId !== undefined) {
      if (d.pictureIdBits === 15) {
        out[d.pictureIdAt!] = 0x80 | (pictureId >> 8);
        out[d.pictureIdAt! + 1] = pictureId & 0xff;
      } else {
        out[d.pictureIdAt!] = pictureId;
      }
    }
    if (tl0PicIdx !== undefined) out[d.tl0PicIdxAt!] = tl0PicIdx;
    if (keyIdx !== undefined) out[d.tidKeyIdxAt!] = (out[d.tidKeyIdxAt!]! & 0xe0) | keyIdx;
    return out;
  }

  /**
   * The PictureID a forwarded packet gets: a picture seen before keeps its number (a retransmission, the next packet
   * of the same picture), a new one gets the current offset, which later drops do not change for it.
   */
  private outputPictureId(input: number, bits: number): number {
    const slot = (input % PICTURE_HISTORY) * 2;
    if (!this.isNewPicture(input, bits) && this.history[slot] === input) return this.history[slot + 1]!;
    const output = wrap(input + this.pictureIdOffset, bits);
    this.history[slot] = input;
    this.history[slot + 1] = output;
    return output;
  }

  /** True (and it becomes the newest) for a PictureID newer than every one seen of this stream. */
  private isNewPicture(input: number, bits: number): boolean {
    if (this.newestInput !== undefined && diff(input, this.newestInput, bits) <= 0) return false;
    this.newestInput = input;
    return true;
  }
}
