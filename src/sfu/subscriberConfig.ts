import { useAbsSendTime, useFIR, useNACK, usePLI, useREMB, useSdesMid, type PeerConfig } from 'werift';
import { mediaCodecs, peerConnectionConfig } from '../peer/peerConnectionConfig.js';
import type { IceServer } from '../signaling/messages.js';

/**
 * The PC the SFU sends a subscriber media on: the recorder's codecs, with REMB and abs-send-time but no transport-cc
 * or audio level. Without transport-cc a browser estimates its downlink itself (from abs-send-time: the send time we
 * write into each video packet, cheap) and reports the estimate in REMB, which SubscriberBandwidth adapts the layers
 * to. transport-cc would have werift's sender estimate it instead: werift would write a transport-cc sequence number
 * into every packet, keep a record of each one sent (never dropped: `rtpPacketSent`'s cleanup compares the wrong keys)
 * and parse every feedback the subscriber sends, ~10 % of the server's CPU at 6 × 10 (bench `--only sfu`, perf). The
 * subscriber still answers NACKs (retransmitted from the sender's history), PLI and FIR (passed to the publisher).
 */
export function subscriberPeerConfig(opts: { iceServers: IceServer[]; iceAddress?: string }): Partial<PeerConfig> {
  const base = peerConnectionConfig(opts);
  return {
    ...base,
    codecs: mediaCodecs([useNACK(), usePLI(), useFIR(), useREMB()]),
    // The mid lets a browser route packets to their transceiver before it has seen their SSRC.
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid(), useAbsSendTime()] },
  };
}
