import { useRepairedRtpStreamId, useSdesRTPStreamId, type PeerConfig } from 'werift';
import { peerConnectionConfig } from '../peer/peerConnectionConfig.js';
import type { IceServer } from '../signaling/messages.js';

/**
 * The PC a participant publishes to the SFU on: the recorder's, plus the RTP stream id extensions (`rid`, `rrid`)
 * for video. A simulcast publisher marks each layer's packets with its rid (until the SSRC is known to us); werift
 * routes a packet to its layer only when that extension was negotiated. A publisher without simulcast never sends it.
 */
export function publisherPeerConfig(opts: { iceServers: IceServer[]; iceAddress?: string }): Partial<PeerConfig> {
  const base = peerConnectionConfig(opts);
  return {
    ...base,
    headerExtensions: {
      audio: base.headerExtensions?.audio ?? [],
      video: [...(base.headerExtensions?.video ?? []), useSdesRTPStreamId(), useRepairedRtpStreamId()],
    },
  };
}
