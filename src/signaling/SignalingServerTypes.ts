import type { IceServer, PeerInfo, Role } from './messages.js';

export interface SignalingServerOptions {
  /** Handed to every page/peer in `joined` so all sides use the same STUN/TURN. */
  iceServers?: IceServer[];
  /** Interval of WebSocket pings that detect dead peers (a crashed browser that left no TCP close). */
  heartbeatMs?: number;
  /**
   * Checked on every join (room protocol and seed pages) with the token the socket connected with; a returned refusal is
   * sent as `{type:'error', code, ref:'join'}`. Omitted: anyone may join (no --secret).
   */
  authorizeJoin?: (token: string | undefined, room: string, role: Role) => JoinRefusal | undefined;
}

export interface JoinRefusal {
  code: 'UNAUTHORIZED' | 'FORBIDDEN';
  message: string;
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
