import { Vp8RtpPayload } from 'werift';
import { h264PacketStart } from './h264.js';

/**
 * True when `payload` (an RTP payload of `codec`) is the first packet of a keyframe: where a decoder that joins (a new
 * subscriber, a layer switch) can begin. VP8: the first packet of a key picture. H.264: a packet carrying the SPS (the
 * parameter sets Chromium sends before each IDR, with the IDR itself when it fits); an IDR fragment is not, as what
 * came before it (SPS, PPS) would be lost. For a stream whose keyframes may lack in-band parameter sets, see
 * KeyframeStarts.
 */
export function isKeyframePacket(codec: string, payload: Buffer): boolean {
  if (payload.length === 0) return false;
  switch (codec) {
    case 'vp8': {
      const vp8 = Vp8RtpPayload.deSerialize(payload);
      return vp8.payloadHeaderExist && vp8.isKeyframe;
    }
    case 'h264':
      return h264PacketStart(payload) === 'sps';
    default:
      return false;
  }
}

/**
 * Keyframe starts of one received stream (see isKeyframePacket). H.264 whose IDR pictures come without an SPS before
 * them (an encoder that sent its parameter sets once, or out of band) would never start a decoder: until a packet with
 * an SPS has been seen, the first packet of an IDR picture counts as a start too (a decoder without the parameter sets
 * asks for another keyframe; the best there is). Once the stream has shown one SPS, only SPS-bearing packets do, so an
 * IDR whose SPS packet was lost or came late is not taken for a start. Each packet is to be given once (retransmissions
 * and duplicates not), in order of arrival, whether or not anyone waits for a keyframe.
 */
export class KeyframeStarts {
  private spsInBand = false;

  constructor(readonly codec: string) {}

  isStart(payload: Buffer): boolean {
    if (this.codec !== 'h264') return isKeyframePacket(this.codec, payload);
    const start = h264PacketStart(payload);
    if (start === 'sps') this.spsInBand = true;
    return start === 'sps' || (start === 'idr' && !this.spsInBand);
  }
}
