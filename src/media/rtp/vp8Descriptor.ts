// The VP8 RTP payload descriptor (RFC 7741 section 4.2), read with the byte offset of every field, so a forwarder can
// rewrite PictureID, TL0PICIDX and KEYIDX in place. werift's Vp8RtpPayload reads neither TL0PICIDX nor KEYIDX and
// mislocates the payload when T is set without L.
//
//   X|R|N|S|R|PID          always
//   I|L|T|K|RSV            if X
//   M|PictureID (7 or 15)  if I (M = 1: 15 bits, two bytes)
//   TL0PICIDX              if L
//   TID|Y|KEYIDX           if T or K

export interface Vp8Descriptor {
  /** Length of the descriptor: the VP8 payload starts at this byte. */
  size: number;
  /** S: the packet starts a VP8 partition. */
  start: boolean;
  partitionId: number;
  pictureId?: number;
  /** 7 or 15 (the M bit), when PictureID is present. */
  pictureIdBits?: 7 | 15;
  /** Byte offset of the PictureID field (its first byte holds M). */
  pictureIdAt?: number;
  tl0PicIdx?: number;
  tl0PicIdxAt?: number;
  /** Temporal layer (when T). */
  tid?: number;
  /** Y (when T): the frame depends only on the base layer (TL0): a point to start forwarding a higher temporal layer at. */
  layerSync?: boolean;
  keyIdx?: number;
  /** Byte offset of the TID|Y|KEYIDX byte. */
  tidKeyIdxAt?: number;
}

/** The descriptor at the start of `payload`, or undefined when the packet is too short to hold what it announces. */
export function parseVp8Descriptor(payload: Uint8Array): Vp8Descriptor | undefined {
  if (payload.length < 1) return undefined;
  const b0 = payload[0]!;
  const d: Vp8Descriptor = { size: 1, start: (b0 & 0x10) !== 0, partitionId: b0 & 0x07 };
  if ((b0 & 0x80) === 0) return d;
  if (payload.length < 2) return undefined;
  const x = payload[1]!;
  let at = 2;
  if (x & 0x80) {
    if (payload.length < at + 1) return undefined;
    d.pictureIdAt = at;
    if (payload[at]! & 0x80) {
      if (payload.length < at + 2) return undefined;
      d.pictureIdBits = 15;
      d.pictureId = ((payload[at]! & 0x7f) << 8) | payload[at + 1]!;
      at += 2;
    } else {
      d.pictureIdBits = 7;
      d.pictureId = payload[at]! & 0x7f;
      at += 1;
    }
  }
  if (x & 0x40) {
    if (payload.length < at + 1) return undefined;
    d.tl0PicIdxAt = at;
    d.tl0PicIdx = payload[at]!;
    at += 1;
  }
  if (x & 0x30) {
    if (payload.length < at + 1) return undefined;
    d.tidKeyIdxAt = at;
    if (x & 0x20) {
      d.tid = payload[at]! >> 6;
      d.layerSync = (payload[at]! & 0x20) !== 0;
    }
    if (x & 0x10) d.keyIdx = payload[at]! & 0x1f;
    at += 1;
  }
  d.size = at;
  return d;
}

/**
 * The temporal layer (TID) of a VP8 packet, or undefined without one (no T bit); read without allocating, as it runs
 * for every received packet (per-temporal-layer bitrates).
 */
export function vp8TemporalId(payload: Uint8Array): number | undefined {
  const n = payload.length;
  if (n < 2 || (payload[0]! & 0x80) === 0) return undefined;
  const x = payload[1]!;
  if ((x & 0x20) === 0) return undefined;
  let at = 2;
  if (x & 0x80) at += at < n && payload[at]! & 0x80 ? 2 : 1;
  if (x & 0x40) at += 1;
  return at < n ? payload[at]! >> 6 : undefined;
}

/**
 * Width and height of the keyframe that `payload` starts (RFC 6386 9.1: frame tag, start code 9d 01 2a, then 14-bit
 * width and height), or undefined when it does not start a keyframe. A simulcast layer's resolution is read here:
 * SDP does not carry it, and it changes when the encoder adapts.
 */
export function vp8KeyframeSize(payload: Uint8Array): { width: number; height: number } | undefined {
  const d = parseVp8Descriptor(payload);
  if (!d || !d.start || d.partitionId !== 0) return undefined;
  const f = d.size;
  if (payload.length < f + 10) return undefined;
  if ((payload[f]! & 0x01) !== 0) return undefined; // P = 1: an interframe
  if (payload[f + 3] !== 0x9d || payload[f + 4] !== 0x01 || payload[f + 5] !== 0x2a) return undefined;
  const width = (payload[f + 6]! | (payload[f + 7]! << 8)) & 0x3fff;
  const height = (payload[f + 8]! | (payload[f + 9]! << 8)) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : undefined;
}
