import { parseVp8Descriptor } from '../media/rtp/vp8Descriptor.js';

/** a - b in a counter of `bits` bits, as the shortest signed distance. */
function diff(a: number, b: number, bits: number): number {
  const range = 2 ** bits;
  const d = (((a - b) % range) + range) % range;
  return d >= range / 2 ? d - range : d;
}

const wrap = (v: number, bits: number) => (((v % 2 ** bits) + 2 ** bits) % 2 ** bits);

/**
 * Keeps the VP8 numbering a subscriber sees continuous when the stream behind its track changes (a simulcast layer
 * switch, or a publisher's restarted encoder). Each layer numbers its pictures on its own: forwarded as they are, a
 * switch makes PictureID jump, and the receiver's frame-reference tracking (Chrome's RtpVp8RefFinder) waits for the
 * pictures in between or drops frames it thinks are old. So from the first packet of the new stream (a keyframe) on,
 * PictureID, TL0PICIDX and KEYIDX are shifted to continue at last-sent + 1, as mediasoup's SimulcastConsumer and
 * LiveKit's codecmunger/vp8.go do.
 *
 * Fields are rewritten in place at their width (a 7-bit PictureID stays 7-bit: continuity then holds modulo 128);
 * the payload is copied first, as one received packet is shared by every subscriber. Until the first switch all
 * offsets are 0 and packets pass unchanged, without a copy.
 */
export class Vp8Munger {
  private pictureIdOffset = 0;
  private tl0PicIdxOffset = 0;
  private keyIdxOffset = 0;
  /** The newest values sent (after rewriting), to continue from at the next switch. */
  private lastPictureId?: number;
  private lastTl0PicIdx?: number;
  private lastKeyIdx?: number;

  /** `payload` (a keyframe's first packet) starts a new stream: its numbering continues what was sent. */
  switchTo(payload: Uint8Array): void {
    const d = parseVp8Descriptor(payload);
    if (!d) return;
    // Offsets are kept in the widest form; each packet applies them modulo its own field width.
    if (d.pictureId !== undefined && this.lastPictureId !== undefined) this.pictureIdOffset = wrap(this.lastPictureId + 1 - d.pictureId, 15);
    if (d.tl0PicIdx !== undefined && this.lastTl0PicIdx !== undefined) this.tl0PicIdxOffset = wrap(this.lastTl0PicIdx + 1 - d.tl0PicIdx, 8);
    if (d.keyIdx !== undefined && this.lastKeyIdx !== undefined) this.keyIdxOffset = wrap(this.lastKeyIdx + 1 - d.keyIdx, 5);
  }

  /** The payload to send for `payload`: the same buffer when nothing changes, else a rewritten copy. */
  munge(payload: Buffer): Buffer {
    const d = parseVp8Descriptor(payload);
    if (!d) return payload;
    let pictureId: number | undefined;
    let tl0PicIdx: number | undefined;
    let keyIdx: number | undefined;
    if (d.pictureId !== undefined) {
      const bits = d.pictureIdBits!;
      pictureId = wrap(d.pictureId + this.pictureIdOffset, bits);
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
}
