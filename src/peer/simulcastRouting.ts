import { RTP_EXTENSION_URI, rtpHeaderExtensionsParser, type RTCPeerConnection, type RTCRtpReceiver, type RtpPacket } from 'werift';

/** werift 0.25's RtpRouter and receiver as this module uses them (TypeScript calls these fields private). */
interface Router {
  ssrcTable: Record<number, unknown>;
  ridTable: Record<string, ReceiverInternals | undefined>;
  extIdUriMap: Record<number, string>;
  routeRtp: (packet: RtpPacket) => void;
  registerRtpReceiver(receiver: RTCRtpReceiver, ssrc: number): void;
  simulcastRouted?: true;
}
interface ReceiverInternals {
  ssrcByRtx: Record<number, number>;
  trackByRID: Record<string, { header?: { ssrc: number } } | undefined>;
}

/**
 * Completes werift 0.25's routing of a simulcast publisher's streams. A browser's simulcast offer names its layers by
 * rid and no SSRCs, so werift learns a layer's SSRC from the rid header extension, but only routes its media:
 * - RTCP sender reports of a layer are dropped until a packet came without the rid (werift registers the SSRC only
 *   then); here the SSRC is registered at its first packet, so reports reach the layer's track from the start.
 * - RTX packets carry the layer's rid as `rrid`, which werift does not look at: dropped, their retransmissions are
 *   lost, and so is their transport-cc sequence number. Chrome probes bandwidth with RTX padding, reads every probe
 *   as lost, and its estimate falls to ~80 kbit/s, too little for anything but the lowest layer. Here, an unknown
 *   SSRC with an `rrid` is registered with the layer's receiver and mapped to the layer's SSRC once that is known (as
 *   werift does for an RTX stream an offer announces); from then on werift handles it: feedback, unwrapping, padding
 *   dropped.
 * Idempotent; only packets of unknown SSRC are looked at, so a PC without simulcast is not affected.
 */
export function routeSimulcast(pc: RTCPeerConnection): void {
  const router = (pc as unknown as { router: Router }).router;
  if (router.simulcastRouted) return;
  router.simulcastRouted = true;
  const route = router.routeRtp;
  /** RTX SSRCs registered before their layer's SSRC was known: their `rrid`, until the mapping is made. */
  const unmapped = new Map<number, string>();
  router.routeRtp = (packet) => {
    const ssrc = packet.header.ssrc;
    if (router.ssrcTable[ssrc] === undefined) {
      const ext = rtpHeaderExtensionsParser(packet.header.extensions, router.extIdUriMap);
      const rid = ext[RTP_EXTENSION_URI.sdesRTPStreamID];
      const rrid = ext[RTP_EXTENSION_URI.repairedRtpStreamId];
      if (typeof rid === 'string') {
        const receiver = router.ridTable[rid];
        if (receiver) router.registerRtpReceiver(receiver as unknown as RTCRtpReceiver, ssrc);
      } else if (typeof rrid === 'string') {
        const receiver = router.ridTable[rrid];
        if (receiver) {
          router.registerRtpReceiver(receiver as unknown as RTCRtpReceiver, ssrc);
          unmapped.set(ssrc, rrid);
        }
      }
    }
    if (unmapped.size > 0) mapRtx(router, unmapped, ssrc);
    route(packet);
  };
}

function mapRtx(router: Router, unmapped: Map<number, string>, ssrc: number): void {
  const rrid = unmapped.get(ssrc);
  if (rrid === undefined) return;
  const receiver = router.ridTable[rrid];
  const media = receiver?.trackByRID[rrid]?.header?.ssrc;
  if (!receiver || media === undefined) return;
  receiver.ssrcByRtx[ssrc] = media;
  unmapped.delete(ssrc);
}
