import type { IceServer, PeerInfo } from './messages.js';

export interface SignalingServerOptions {
  /** Handed to every page/peer in `joined` so all sides use the same STUN/TURN. */
  iceServers?: IceServer[];
  /** Interval of WebSocket pings that detect dead peers (a crashed browser that left no TCP close). */
  heartbeatMs?: number;
}

export interface RoomSummary {
  room: string;
  participants: PeerInfo[];
  recording: boolean;
}

export interface SignalingServerEvents {
  peerJoined: [room: string, peer: PeerInfo];
  peerLeft: [room: string, peer: PeerInfo];
}
