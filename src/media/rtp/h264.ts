// H.264 RTP payloads (RFC 6184, packetization-mode 1: single NAL units, STAP-A, FU-A), read without allocating for
// what a forwarder needs on every received packet: whether the packet is where a decoder can start (a subscriber
// joining, a simulcast layer switch), and a keyframe's resolution from its sequence parameter set.
//
// Chromium (OpenH264, and the hardware encoders behind libwebrtc) sends each IDR picture as SPS, PPS, IDR in one
// access unit: a STAP-A [SPS, PPS] (or [SPS, PPS, IDR] when the picture is small), or single NAL units, then the IDR,
// FU-A fragments when it does not fit one packet. A decoder can begin only at the SPS: one that starts at the IDR has
// no parameter sets, or (after a layer switch) the previous layer's, of another resolution, under the same ids.

const NAL_IDR = 5;
const NAL_SPS = 7;
const STAP_A = 24;
const FU_A = 28;

/**
 * What the packet starts: `'sps'` when it carries a sequence parameter set before any coded slice (the first packet
 * of a keyframe whose parameter sets travel in-band, as Chromium sends them); `'idr'` when it starts an IDR picture
 * without an SPS before it in the packet (a single IDR NAL unit, a STAP-A holding one, or the first FU-A fragment of
 * one); undefined for anything else (later fragments, non-IDR slices, a PPS or SEI alone, malformed payloads).
 */
export function h264PacketStart(payload: Uint8Array): 'sps' | 'idr' | undefined {
  if (payload.length < 1) return undefined;
  const type = payload[0]! & 0x1f;
  if (type === NAL_SPS) return 'sps';
  if (type === NAL_IDR) return 'idr';
  if (type === FU_A) {
    if (payload.length < 2) return undefined;
    const fu = payload[1]!;
    return fu & 0x80 && (fu & 0x1f) === NAL_IDR ? 'idr' : undefined;
  }
  if (type !== STAP_A) return undefined;
  // STAP-A: [indicator] then (16-bit size, NAL unit)*.
  let idr = false;
  for (let at = 1; at + 2 < payload.length; ) {
    const size = (payload[at]! << 8) | payload[at + 1]!;
    if (size === 0 || at + 2 + size > payload.length) return undefined;
    const nal = payload[at + 2]! & 0x1f;
    if (nal === NAL_SPS) return idr ? 'idr' : 'sps';
    if (nal === NAL_IDR) idr = true;
    at += 2 + size;
  }
  return idr ? 'idr' : undefined;
}

/** The SPS NAL unit (header byte included) the packet carries, as a view into `payload`, or undefined. */
export function h264SpsOf(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length < 1) return undefined;
  const type = payload[0]! & 0x1f;
  if (type === NAL_SPS) return payload;
  if (type !== STAP_A) return undefined;
  for (let at = 1; at + 2 < payload.length; ) {
    const size = (payload[at]! << 8) | payload[at + 1]!;
    if (size === 0 || at + 2 + size > payload.length) return undefined;
    if ((payload[at + 2]! & 0x1f) === NAL_SPS) return payload.subarray(at + 2, at + 2 + size);
    at += 2 + size;
  }
  return undefined;
}

/**
 * Width and height (after cropping) that the SPS in `payload` (a single SPS NAL unit or a STAP-A carrying one)
 * announces, or undefined when there is none or it cannot be read. H.264 7.3.2.1.1; the frame size is
 * PicWidthInMbs*16 x FrameHeightInMbs*16 less the cropping rectangle (7.4.2.1.1, in chroma sample units).
 */
export function h264KeyframeSize(payload: Uint8Array): { width: number; height: number } | undefined {
  const sps = h264SpsOf(payload);
  if (!sps || sps.length < 4) return undefined;
  try {
    return readSpsSize(new RbspReader(sps, 1));
  } catch {
    return undefined;
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function readSpsSize(r: RbspReader): { width: number; height: number } | undefined {
  const profileIdc = r.bits(8);
  r.bits(16); // constraint flags, reserved, level_idc
  r.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.bits(1) === 1;
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.bits(1); // qpprime_y_zero_transform_bypass_flag
    if (r.bits(1)) {
      // seq_scaling_matrix_present_flag: the lists are skipped (7.3.2.1.1.1).
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (!r.bits(1)) continue;
        const size = i < 6 ? 16 : 64;
        let last = 8;
        let next = 8;
        for (let j = 0; j < size && next !== 0; j++) {
          next = (last + r.se() + 256) % 256;
          if (next !== 0) last = next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.bits(1);
    r.se();
    r.se();
    const n = r.ue();
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.bits(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.ue() + 1;
  const heightInMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bits(1);
  if (!frameMbsOnly) r.bits(1); // mb_adaptive_frame_field_flag
  r.bits(1); // direct_8x8_inference_flag
  let width = widthInMbs * 16;
  let height = (2 - frameMbsOnly) * heightInMapUnits * 16;
  if (r.bits(1)) {
    const left = r.ue();
    const right = r.ue();
    const top = r.ue();
    const bottom = r.ue();
    const chroma = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chroma === 1 || chroma === 2 ? 2 : 1;
    const subHeightC = chroma === 1 ? 2 : 1;
    const cropUnitX = chroma === 0 ? 1 : subWidthC;
    const cropUnitY = (chroma === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
    width -= cropUnitX * (left + right);
    height -= cropUnitY * (top + bottom);
  }
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** Bits of a NAL unit's payload, emulation prevention bytes (00 00 03) skipped. Throws past the end. */
class RbspReader {
  private byte: number;
  private bit = 0;
  private zeros = 0;
  private current = 0;

  constructor(
    private readonly data: Uint8Array,
    start: number,
  ) {
    this.byte = start - 1;
    this.nextByte();
  }

  private nextByte(): void {
    this.byte++;
    if (this.byte >= this.data.length) throw new RangeError('SPS ends early');
    let b = this.data[this.byte]!;
    if (this.zeros >= 2 && b === 3) {
      this.byte++;
      if (this.byte >= this.data.length) throw new RangeError('SPS ends early');
      b = this.data[this.byte]!;
      this.zeros = 0;
    }
    this.zeros = b === 0 ? this.zeros + 1 : 0;
    this.current = b;
    this.bit = 0;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      if (this.bit === 8) this.nextByte();
      v = (v << 1) | ((this.current >> (7 - this.bit)) & 1);
      this.bit++;
    }
    return v >>> 0;
  }

  /** Unsigned Exp-Golomb. */
  ue(): number {
    let zeros = 0;
    while (this.bits(1) === 0) {
      if (++zeros > 31) throw new RangeError('bad Exp-Golomb code');
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.bits(zeros);
  }

  /** Signed Exp-Golomb. */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
