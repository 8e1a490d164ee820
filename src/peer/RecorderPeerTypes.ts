import type { MediaStreamTrack } from 'werift';
import type { IceServer, PeerInfo } from '../signaling/messages.js';

export interface RecorderPeerOptions {
  /** ws://host:port of the signaling server. */
  serverUrl: string;
  room: string;
  /** Shown to other peers (the recorder is not a tile; pages show "● Recording"). */
  name?: string;
  /** Pin the single address the recorder advertises and binds for ICE (e.g. 127.0.0.1 in tests). */
  iceAddress?: string;
  /** Extra STUN/TURN servers on top of those the server hands out in `joined`. */
  iceServers?: IceServer[];
  /**
   * SFU rooms: offer each video a tileSized() view that reports the composite's tile size to the SFU, which then
   * forwards the layer covering it. One stream feeds both the composite and the track file, so set this only without
   * per-track files (they keep the highest layer).
   */
  tileSizedLayers?: boolean;
}

export interface RemoteCodec {
  /** Lower-case codec name: opus, vp8, h264. */
  name: string;
  clockRate: number;
  payloadType: number;
}

/** One incoming track of one participant, as the recording layer sees it. */
export interface RemoteTrack {
  participant: PeerInfo;
  kind: 'audio' | 'video';
  codec: RemoteCodec;
  ssrc: number;
  /** Media section id: unique per peer connection, stable across renegotiations. */
  mid: string;
  /** Simulcast: the layer's RTP stream id (`a=rid`); the media section's other layers have the same `mid`. */
  rid?: string;
  /** The browser's MediaStreamTrack id. */
  remoteTrackId?: string;
  track: MediaStreamTrack;
  /** Sends an RTCP PLI to the sender. */
  requestKeyframe(): Promise<void>;
  /** PLIs sent for this track so far, by whoever asked (track file, composite). */
  readonly plisSent: number;
  /** Calls `listener` with the sequence numbers of every NACK sent for this track; returns the unsubscribe. */
  onNack(listener: (lost: readonly number[]) => void): () => void;
  /**
   * Simulcast video (through an SFU): a second view of this track that carries the layer covering a tile of the mixed
   * recording (TileSizedTrack). This track itself keeps the highest layer (per-track files are the archive). Absent
   * when there is one stream only.
   */
  tileSized?(): TileSizedTrack;
}

/**
 * A video track whose layer follows the size it is shown at: one continuous stream (sequence numbers, timestamps, VP8
 * picture numbering) that switches layer at a keyframe of the new one, so a decoder sees no break.
 */
export interface TileSizedTrack extends RemoteTrack {
  /** Shown at `width`×`height` px (0×0: not shown, the lowest layer); the smallest layer that covers it is taken. */
  setTileSize(width: number, height: number): void;
  /** Stops taking packets. */
  close(): void;
}

export interface RecorderPeerEvents {
  participantJoined: [peer: PeerInfo];
  participantLeft: [peer: PeerInfo];
  track: [track: RemoteTrack];
  /** A track its participant stopped sending (a stopped screen share) while staying: no more packets will come. */
  trackEnded: [track: RemoteTrack];
  /** The signaling connection dropped; no new media will arrive. */
  disconnected: [];
}

/**
 * Where a recording gets its media: a RecorderPeer (a WebRTC peer joining through signaling) or, in the server's own
 * process, a tap on the SFU's received tracks. Events before start() are held.
 */
export interface TrackSource {
  on<E extends keyof RecorderPeerEvents>(event: E, listener: (...args: RecorderPeerEvents[E]) => void): this;
  start(): void;
  close(): Promise<void>;
}
