import type { IceServer, PeerInfo, Role, RoomAudio, RoomMode, ServerMessage } from './messages.js';

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
  /**
   * Several servers (src/cluster): asked before a join opens a room that is not open here. `redirect` sends the client
   * `{type:'redirect', room, url}` instead of `joined`; a rejection refuses the join with the error's `code`. Omitted:
   * every room is local. The seed pages' sender/receiver (which cannot follow a redirect) are never placed.
   */
  placeRoom?: (room: string) => RoomPlacement | Promise<RoomPlacement>;
  /** Mode of a room whose opener did not ask for one (`join.mode`); default `p2p` (a server without an SFU). */
  defaultMode?: RoomMode;
  /** Audio handling of an SFU room whose opener did not ask for one (`join.audio`); default `forward`. */
  defaultAudio?: RoomAudio;
}

/** An in-process room member (see SignalingServer.attachLocal). */
export interface LocalMember {
  readonly id: string;
  readonly room: string;
  /** The other members now. */
  peers(): PeerInfo[];
  /** Sends `message` to member `to` with `from` set to this member; false when `to` is not (or no longer) there. */
  sendTo(to: string, message: DistributiveOmit<ServerMessage, 'from'> | Record<string, unknown>): boolean;
  leave(): void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Where a joining client belongs: here, or the server whose signaling WebSocket URL is `redirect`. */
export type RoomPlacement = { local: true } | { redirect: string };

export interface JoinRefusal {
  code: 'UNAUTHORIZED' | 'FORBIDDEN';
  message: string;
}

export interface RoomSummary {
  room: string;
  mode: RoomMode;
  audio: RoomAudio;
  participants: PeerInfo[];
  recording: boolean;
}

export interface SignalingServerEvents {
  peerJoined: [room: string, peer: PeerInfo];
  peerLeft: [room: string, peer: PeerInfo];
  /** A room was created (its first member entered): emitted before that member is added. */
  roomOpened: [room: string, mode: RoomMode, audio: RoomAudio];
  roomClosed: [room: string];
}
