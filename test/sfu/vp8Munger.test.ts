// VP8 numbering across simulcast layer switches, on payload descriptors as Chromium 156 sent them (captured from the
// simulcast e2e test: 320x240 camera, layers q/h/f = 80x60 / 160x120 / 320x240, scalability mode L1T3).
import { describe, expect, it } from 'vitest';
import { parseVp8Descriptor, vp8KeyframeSize } from '../../src/media/rtp/vp8Descriptor.js';
import { Vp8Munger } from '../../src/sfu/Vp8Munger.js';

const hex = (s: string) => Buffer.from(s, 'hex');

// X=1 S=1 PID=0 | I L T | M + 15-bit PictureID | TL0PICIDX | TID/Y/KEYIDX, then the VP8 payload.
const REAL = {
  qKey: hex('90e0dc8c1320b003009d012a50003c000487'), // q keyframe: PictureID 0x5c8c, TL0PICIDX 0x13, TID 0 Y
  hKey: hex('90e0b9a9f620b006009d012aa00078000987'), // h keyframe: PictureID 0x39a9, TL0PICIDX 0xf6
  fKey: hex('90e0c4fd8e20b012009d012a4001f0000387'), // f keyframe: 320x240
  fDelta: hex('b0e0c4f78ca0b10b00201c240c2c2c44cc24'), // f, N=1 (not a reference), TID 2
  qDelta: hex('b0e0dc8d13a0b10300121c240c2c2c44cc24'), // q, the frame after qKey
  qTl0: hex('90e0dc901400510400e39b384bd7af104f4f'), // q, next TL0 frame: TL0PICIDX 0x14
};

/** A descriptor in the shape Chrome writes, with the given fields (15- or 7-bit PictureID, optional KEYIDX). */
function descriptor(o: { pictureId: number; bits?: 7 | 15; tl0?: number; keyIdx?: number; tid?: number }): Buffer {
  const bytes = [0x90, 0x80 | (o.tl0 !== undefined ? 0x40 : 0) | (o.tid !== undefined ? 0x20 : 0) | (o.keyIdx !== undefined ? 0x10 : 0)];
  if ((o.bits ?? 15) === 15) bytes.push(0x80 | (o.pictureId >> 8), o.pictureId & 0xff);
  else bytes.push(o.pictureId & 0x7f);
  if (o.tl0 !== undefined) bytes.push(o.tl0);
  if (o.tid !== undefined || o.keyIdx !== undefined) bytes.push(((o.tid ?? 0) << 6) | 0x20 | (o.keyIdx ?? 0));
  return Buffer.from([...bytes, 0x00, 0x11, 0x22]);
}

describe('VP8 payload descriptor', () => {
  it('reads every field of Chrome descriptors, and where each is', () => {
    expect(parseVp8Descriptor(REAL.qKey)).toEqual({ size: 6, start: true, partitionId: 0, pictureId: 0x5c8c, pictureIdBits: 15, pictureIdAt: 2, tl0PicIdx: 0x13, tl0PicIdxAt: 4, tid: 0, layerSync: true, tidKeyIdxAt: 5 });
    expect(parseVp8Descriptor(REAL.fDelta)).toMatchObject({ pictureId: 0x44f7, tl0PicIdx: 0x8c, tid: 2, size: 6 });
    expect(parseVp8Descriptor(descriptor({ pictureId: 100, bits: 7, keyIdx: 9 }))).toMatchObject({ pictureId: 100, pictureIdBits: 7, pictureIdAt: 2, keyIdx: 9, tidKeyIdxAt: 3, size: 4 });
    // The minimal descriptor (X=0): one byte.
    expect(parseVp8Descriptor(hex('1000'))).toEqual({ size: 1, start: true, partitionId: 0 });
  });

  it('refuses a descriptor cut short', () => {
    expect(parseVp8Descriptor(hex(''))).toBeUndefined();
    expect(parseVp8Descriptor(hex('90'))).toBeUndefined();
    expect(parseVp8Descriptor(hex('90e0dc'))).toBeUndefined();
    expect(parseVp8Descriptor(hex('90e0dc8c13'))).toBeUndefined();
  });

  it('reads a keyframe’s resolution, and none from an interframe', () => {
    expect(vp8KeyframeSize(REAL.qKey)).toEqual({ width: 80, height: 60 });
    expect(vp8KeyframeSize(REAL.hKey)).toEqual({ width: 160, height: 120 });
    expect(vp8KeyframeSize(REAL.fKey)).toEqual({ width: 320, height: 240 });
    expect(vp8KeyframeSize(REAL.fDelta)).toBeUndefined();
    expect(vp8KeyframeSize(REAL.qKey.subarray(0, 12))).toBeUndefined();
  });
});

describe('Vp8Munger', () => {
  it('passes packets unchanged (the same buffer) until the first switch', () => {
    const m = new Vp8Munger();
    m.switchTo(REAL.qKey);
    expect(m.munge(REAL.qKey)).toBe(REAL.qKey);
    expect(m.munge(REAL.qDelta)).toBe(REAL.qDelta);
  });

  it('continues PictureID and TL0PICIDX across a switch from q to h and back, rewriting copies only', () => {
    const m = new Vp8Munger();
    m.switchTo(REAL.qKey);
    m.munge(REAL.qKey);
    const lastQ = parseVp8Descriptor(m.munge(REAL.qDelta))!;
    // Switch to h at its keyframe: it continues at q's last + 1.
    m.switchTo(REAL.hKey);
    const hKeyBefore = Buffer.from(REAL.hKey);
    const h = m.munge(REAL.hKey);
    expect(REAL.hKey.equals(hKeyBefore), 'the shared received payload is not touched').toBe(true);
    const hd = parseVp8Descriptor(h)!;
    expect(hd.pictureId).toBe(lastQ.pictureId! + 1);
    expect(hd.tl0PicIdx).toBe(lastQ.tl0PicIdx! + 1);
    expect(h.subarray(hd.size).equals(REAL.hKey.subarray(6)), 'the VP8 payload is unchanged').toBe(true);
    expect(vp8KeyframeSize(h)).toEqual({ width: 160, height: 120 });
    // Back to q at a later TL0 frame of q (as if a keyframe): again last + 1.
    m.switchTo(REAL.qTl0);
    const back = parseVp8Descriptor(m.munge(REAL.qTl0))!;
    expect(back.pictureId).toBe(hd.pictureId! + 1);
    expect(back.tl0PicIdx).toBe(hd.tl0PicIdx! + 1);
    expect(back.tid).toBe(0);
  });

  it('keeps each layer’s own steps after a switch (frames it skipped stay skipped)', () => {
    const m = new Vp8Munger();
    m.switchTo(descriptor({ pictureId: 1000, tl0: 50 }));
    m.munge(descriptor({ pictureId: 1000, tl0: 50 }));
    m.switchTo(descriptor({ pictureId: 20000, tl0: 7 }));
    const ids = [20000, 20001, 20003].map((id, i) => parseVp8Descriptor(m.munge(descriptor({ pictureId: id, tl0: 7 + i })))!);
    expect(ids.map((d) => d.pictureId)).toEqual([1001, 1002, 1004]);
    expect(ids.map((d) => d.tl0PicIdx)).toEqual([51, 52, 53]);
  });

  it('wraps a 15-bit PictureID at 32767 → 0 and TL0PICIDX at 255 → 0', () => {
    const m = new Vp8Munger();
    m.switchTo(descriptor({ pictureId: 32766, tl0: 254 }));
    m.munge(descriptor({ pictureId: 32766, tl0: 254 }));
    m.switchTo(descriptor({ pictureId: 5, tl0: 9 }));
    const out = [5, 6, 7].map((id, i) => parseVp8Descriptor(m.munge(descriptor({ pictureId: id, tl0: 9 + i })))!);
    expect(out.map((d) => d.pictureId)).toEqual([32767, 0, 1]);
    expect(out.map((d) => d.pictureIdBits)).toEqual([15, 15, 15]);
    expect(out.map((d) => d.tl0PicIdx)).toEqual([255, 0, 1]);
  });

  it('keeps a 7-bit PictureID 7-bit (continuity modulo 128, wrapping at 127 → 0)', () => {
    const m = new Vp8Munger();
    m.switchTo(descriptor({ pictureId: 126, bits: 7 }));
    m.munge(descriptor({ pictureId: 126, bits: 7 }));
    m.switchTo(descriptor({ pictureId: 40, bits: 7 }));
    const out = [40, 41, 42].map((id) => parseVp8Descriptor(m.munge(descriptor({ pictureId: id, bits: 7 })))!);
    expect(out.map((d) => d.pictureId)).toEqual([127, 0, 1]);
    expect(out.map((d) => d.pictureIdBits)).toEqual([7, 7, 7]);
    expect(out.map((d) => d.size), 'one PictureID byte, as received').toEqual([3, 3, 3]);
  });

  it('continues KEYIDX (5 bits, wrapping at 31 → 0) and leaves TID and Y as they are', () => {
    const m = new Vp8Munger();
    m.switchTo(descriptor({ pictureId: 10, keyIdx: 31, tid: 1 }));
    m.munge(descriptor({ pictureId: 10, keyIdx: 31, tid: 1 }));
    m.switchTo(descriptor({ pictureId: 700, keyIdx: 3, tid: 0 }));
    const out = m.munge(descriptor({ pictureId: 700, keyIdx: 3, tid: 2 }));
    const d = parseVp8Descriptor(out)!;
    expect(d.keyIdx).toBe(0);
    expect(d.tid).toBe(2);
    expect(out[d.tidKeyIdxAt!]! & 0x20, 'Y bit kept').toBe(0x20);
    expect(d.pictureId).toBe(11);
  });

  it('continues from the newest PictureID sent, not from a late packet of an older picture', () => {
    const m = new Vp8Munger();
    m.switchTo(descriptor({ pictureId: 500 }));
    for (const id of [500, 501, 502, 501]) m.munge(descriptor({ pictureId: id })); // 501 again: a retransmission
    m.switchTo(descriptor({ pictureId: 9000 }));
    expect(parseVp8Descriptor(m.munge(descriptor({ pictureId: 9000 })))!.pictureId).toBe(503);
  });

  it('passes what is no VP8 descriptor unchanged', () => {
    const m = new Vp8Munger();
    m.switchTo(descriptor({ pictureId: 1 }));
    m.munge(descriptor({ pictureId: 1 }));
    m.switchTo(descriptor({ pictureId: 300 }));
    const empty = Buffer.alloc(0);
    expect(m.munge(empty)).toBe(empty);
    const minimal = hex('10aabb');
    expect(m.munge(minimal)).toBe(minimal);
  });
});
