import { H264RtpPayload, Vp8RtpPayload } from 'werift';

/**
 * True when `payload` (an RTP payload of `codec`) starts or carries a keyframe: where a decoder that joins (a new
 * subscriber, a layer switch) can begin.
 */
export function isKeyframePacket(codec: string, payload: Buffer): boolean {
  if (payload.length === 0) return false;
  switch (codec) {
    case 'vp8': {
      const vp8 = Vp8RtpPayload.deSerialize(payload);
      return vp8.payloadHeaderExist && vp8.isKeyframe;
    }
    case 'h264':
      return H264RtpPayload.deSerialize(payload).isKeyframe;
    default:
      return false;
  }
}
