/**
 * Opus packet duration from its TOC byte (RFC 6716 §3.1), without decoding. Used to place packets on the timeline and
 * to reject late or malformed ones before they reach the decoder.
 */

// Frame length in 48 kHz samples per TOC config (SILK 10/20/40/60 ms, Hybrid 10/20 ms, CELT 2.5/5/10/20 ms).
const FRAME_SAMPLES_48K = new Uint16Array([
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK NB/MB/WB
  480, 960, 480, 960, // Hybrid SWB/FB
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, // CELT NB/WB/SWB/FB
]);

/** An Opus packet never holds more than 120 ms. */
const MAX_PACKET_SAMPLES_48K = 5760;

/** Samples (per channel, at `sampleRate`) that `packet` decodes to; 0 when the packet is empty or malformed. */
export function opusPacketSamples(packet: Uint8Array, sampleRate = 48_000): number {
  if (packet.length === 0) return 0;
  const toc = packet[0]!;
  const frame = FRAME_SAMPLES_48K[toc >> 3]!;
  let frames: number;
  switch (toc & 3) {
    case 0:
      frames = 1;
      break;
    case 1:
    case 2:
      frames = 2;
      break;
    default:
      if (packet.length < 2) return 0;
      frames = packet[1]! & 0x3f;
  }
  const total = frames * frame;
  if (total === 0 || total > MAX_PACKET_SAMPLES_48K) return 0;
  return (total * sampleRate) / 48_000;
}

/**
 * A 20 ms "lost frame" packet in the mode and bandwidth family of `toc` (the last real packet's TOC byte): the TOC
 * alone, one frame of length 0, which libopus decodes as packet-loss concealment (RFC 6716 §3.2.1, what DTX sends) for
 * exactly that frame's duration. Unlike an empty packet (120 ms of concealment in one call, see
 * OpusTrackDecoder.conceal()), the decoder then is only 20 ms further, as if one packet had been lost, so the next real
 * packet joins without the long fade-in that follows a 120 ms concealment.
 */
export function lostFramePacket(toc: number): Uint8Array {
  const config = toc >> 3;
  // 20 ms in the same family: SILK configs come in 10/20/40/60 ms, Hybrid in 10/20, CELT in 2.5/5/10/20.
  const c = config < 12 ? (config & ~3) | 1 : config < 16 ? (config & ~1) | 1 : (config & ~3) | 3;
  return Uint8Array.of((c << 3) | (toc & 4));
}

/** Largest Opus frame (RFC 6716 §3.2.1). */
const MAX_FRAME_BYTES = 1275;

/**
 * One Opus packet holding the frames of two single-frame (code 0) packets, `first` then `second` (RFC 6716 §3.2: code
 * 1 when both frames have the same size, else code 2 with the first frame's length), or undefined when they cannot
 * share a packet: one frame per packet only, and the same TOC configuration and channel count (a packet's frames all
 * share its TOC byte). Decoding the result gives exactly the samples of decoding the two in turn.
 */
export function joinOpusFrames(first: Uint8Array, second: Uint8Array): Buffer | undefined {
  if (first.length === 0 || second.length === 0) return undefined;
  const toc = first[0]!;
  if ((toc & 3) !== 0 || second[0] !== toc) return undefined;
  const a = first.length - 1;
  const b = second.length - 1;
  if (a > MAX_FRAME_BYTES || b > MAX_FRAME_BYTES) return undefined;
  if (a === b) {
    const out = Buffer.allocUnsafe(1 + a + b);
    out[0] = toc | 1;
    out.set(first.subarray(1), 1);
    out.set(second.subarray(1), 1 + a);
    return out;
  }
  const lengthBytes = a < 252 ? 1 : 2;
  const out = Buffer.allocUnsafe(1 + lengthBytes + a + b);
  out[0] = toc | 2;
  if (lengthBytes === 1) {
    out[1] = a;
  } else {
    out[1] = 252 + (a & 3);
    out[2] = (a - out[1]!) >> 2;
  }
  out.set(first.subarray(1), 1 + lengthBytes);
  out.set(second.subarray(1), 1 + lengthBytes + a);
  return out;
}
