import type { Logger } from '../logger.js';
import type { IceServer } from '../signaling/messages.js';
import type { MixPacketMs } from './RoomMix.js';

export interface SfuOptions {
  /** STUN/TURN the server's own peer connections use (the same the pages get in `joined`). */
  iceServers: IceServer[];
  /** Pin the one address the SFU binds and advertises for ICE (127.0.0.1 on a loopback host). */
  iceAddress?: string;
  logger: Logger;
  /** Keyframe requests to one publisher's track are sent at most this often; those in between are coalesced. */
  keyframeRequestIntervalMs?: number;
  /** `auto` rooms mix their voices on the server from this many participants (default DEFAULT_MCU_FROM). */
  mcuFrom?: number;
  /** Voices in a live mix at most (default 3). */
  mixSpeakers?: number;
  /** Live mix packets: 20 ms, 40 ms, or `auto` (40 ms from MIX_40MS_FROM_LISTENERS listeners; the default). */
  mixPacketMs?: MixPacketMs;
  /**
   * Where a browser publishing to us starts its uplink estimate (kbit/s, `x-google-start-bitrate` in our answer;
   * default DEFAULT_PUBLISHER_START_KBPS; 0: the browser's own 300).
   */
  publisherStartKbps?: number;
  /** False: subscribers' estimates and loss never cap what they are sent (default true). */
  bandwidthAdaptation?: boolean;
}

/** Counters of one SFU, for /metrics and the bench. */
export interface SfuStats {
  rooms: number;
  publishers: number;
  subscribers: number;
  /** RTP packets written to subscribers' senders so far. */
  packetsForwarded: number;
  /** Videos not forwarded now because their subscriber shows them on another page (a 0×0 tile). */
  downTracksPaused: number;
  /** Videos not forwarded now because not even their lowest layer fits their subscriber's bandwidth estimate. */
  downTracksPausedForBandwidth: number;
  /** Keyframe requests (PLI) sent to publishers, after coalescing. */
  keyframesRequested: number;
  /**
   * Forwarding delay since start, from a sample of the packets (1 in 16 per track): werift's receiver hands the packet
   * over → a subscriber's sender has sent it. Not in it: time in the kernel's socket queue and in werift's receive
   * path (SRTP decrypt) before the hand-over; the bench's end-to-end figure has those.
   */
  forwardDelay: { samples: number; p50Ms?: number; p99Ms?: number };
}
