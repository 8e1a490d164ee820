import type { Logger } from '../logger.js';

export interface RoomRegistryOptions {
  /** redis://host:port[/db] */
  redisUrl: string;
  /**
   * This server's public base URL (http://host:port): its identity in the registry and where others redirect to.
   * Servers of one cluster must each have their own.
   */
  publicUrl: string;
  /**
   * How long a claim lives without a heartbeat (ms): a dead server's rooms are taken over after at most this. Refreshed
   * every third of it while the room is occupied. Default 10 000.
   */
  leaseMs?: number;
  /** Keys are `<prefix>room:<name>` (owner) and `<prefix>room-info:<name>` (listing). Default `rtc-record:`. */
  keyPrefix?: string;
  /** The listing entry the owner publishes for each of its rooms (read at every heartbeat); undefined: the room is empty. */
  describe?: (room: string) => RoomListing | undefined;
  /** How long placing a room may wait for Redis before the join is refused (ms). Default 3000. */
  placeTimeoutMs?: number;
  logger?: Logger;
}

/** What GET /api/rooms shows of a room; `server` is added by the registry. */
export interface RoomListing {
  room: string;
  [field: string]: unknown;
}

export interface ClusterRoomListing extends RoomListing {
  /** Public URL of the server the room lives on. */
  server: string;
}

/** Where a joining participant belongs: the signaling server's placeRoom hook, answered by the registry. */
export type { RoomPlacement } from '../signaling/SignalingServerTypes.js';

export interface RoomRegistryEvents {
  /**
   * Another server owns a room this one still has members in (Redis lost our claim, e.g. while it was unreachable
   * longer than the lease): the members should move there.
   */
  lost: [room: string, ownerWsUrl: string];
}
