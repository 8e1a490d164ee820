import { RTCRtpCodecParameters, useFIR, useH264, useNACK, useOPUS, usePLI, useSdesMid, useVP8, type PeerConfig } from 'werift';
import { peerConnectionConfig } from '../peer/peerConnectionConfig.js';
import type { IceServer } from '../signaling/messages.js';

const videoFeedback = () => [useNACK(), usePLI(), useFIR()];

/**
 * The PC the SFU sends a subscriber media on: the recorder's codecs, but no transport-cc, abs-send-time or audio
 * level. Those serve a sender's bandwidth estimation, and the SFU forwards what the publisher sends whatever the
 * estimate: werift's sender would write a transport-cc sequence number into every packet, keep a record of each one
 * sent (never dropped: `rtpPacketSent`'s cleanup compares the wrong keys) and parse every feedback the subscriber
 * sends, ~10 % of the server's CPU at 6 × 10 (bench `--only sfu`, perf) for an estimate nobody reads. The subscriber
 * still answers NACKs (retransmitted from the sender's history), PLI and FIR (passed to the publisher).
 */
export function subscriberPeerConfig(opts: { iceServers: IceServer[]; iceAddress?: string }): Partial<PeerConfig> {
  const base = peerConnectionConfig(opts);
  return {
    ...base,
    codecs: {
      audio: [useOPUS({ parameters: 'minptime=10;useinbandfec=1' })],
      video: [
        useVP8({ payloadType: 96, rtcpFeedback: videoFeedback() }),
        new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: 97, parameters: 'apt=96' }),
        useH264({ payloadType: 102, rtcpFeedback: videoFeedback() }),
        new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: 103, parameters: 'apt=102' }),
      ],
    },
    // The mid lets a browser route packets to their transceiver before it has seen their SSRC.
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
  };
}
