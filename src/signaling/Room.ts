import type { PeerInfo, RoomAudio, RoomMode } from './messages.js';
import type { Connection } from './Connection.js';

/** A seed-protocol offer held until a receiver (browser or recorder) exists to take it. */
interface PendingSeedOffer {
  offer: unknown;
  candidates: unknown[];
}

/** Members of one room; messages are only ever routed between members of the same room. */
export class Room {
  readonly members = new Map<string, Connection>();
  seedSender?: Connection;
  seedReceiver?: Connection;
  pendingSeedOffer?: PendingSeedOffer;

  constructor(
    readonly name: string,
    readonly mode: RoomMode,
    /** Meaningful in SFU rooms only (a mesh always sends every voice to every peer). */
    readonly audio: RoomAudio,
  ) {}

  /** The SFU is there for the others: a room with only the SFU left is empty. */
  get isEmpty(): boolean {
    return [...this.members.values()].every((c) => c.role === 'sfu');
  }

  sfu(): Connection | undefined {
    return [...this.members.values()].find((c) => c.role === 'sfu');
  }

  peers(except?: Connection): PeerInfo[] {
    return [...this.members.values()].filter((c) => c !== except).map((c) => c.info());
  }

  /** Room-protocol members (not seed sockets, which do not understand room messages). */
  roomProtocolMembers(except?: Connection): Connection[] {
    return [...this.members.values()].filter((c) => c !== except && !c.isSeed);
  }

  recorder(): Connection | undefined {
    return [...this.members.values()].find((c) => c.role === 'recorder');
  }
}
