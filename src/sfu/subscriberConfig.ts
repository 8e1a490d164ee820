import { useFIR, useNACK, usePLI, useSdesMid, type PeerConfig } from 'werift';
import { mediaCodecs, peerConnectionConfig } from '../peer/peerConnectionConfig.js';
import type { IceServer } from '../signaling/messages.js';

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
    codecs: mediaCodecs([useNACK(), usePLI(), useFIR()]),
    // The mid lets a browser route packets to their transceiver before it has seen their SSRC.
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
  };
}
