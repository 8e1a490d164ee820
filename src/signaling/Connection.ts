import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import type { PeerInfo, Role, ServerMessage } from './messages.js';
import type { Room } from './Room.js';

/** One WebSocket client; becomes a room member after `join` (or `sender`/`receiver` in the seed protocol). */
export class Connection {
  /** A fresh id per join: a rejoin is a new peer (and, for the recorder, a new track segment). */
  id = newPeerId();
  room?: Room;
  name = '';
  role: Role = 'participant';
  alive = true;
  joinedAt = Date.now();
  /** SFU rooms: whether this member receives the others' media (`join.subscribe`). */
  subscribe = true;

  /** `token` is the one the socket connected with (`?token=` on the upgrade URL), checked on every join. */
  constructor(
    private readonly ws: WebSocket | undefined,
    readonly token?: string,
  ) {}

  /** An in-process member (the SFU, an in-process recorder): no socket, messages are handed over by call. */
  get isLocal(): boolean {
    return this.ws === undefined;
  }

  get isSeed(): boolean {
    return this.role === 'seed-sender' || this.role === 'seed-receiver';
  }

  info(): PeerInfo {
    return { id: this.id, name: this.name, role: this.role, joinedAt: this.joinedAt, ...(this.subscribe ? {} : { subscribe: false }) };
  }

  send(message: ServerMessage | Record<string, unknown>): void {
    if (this.ws && this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  renew(): void {
    this.id = newPeerId();
    this.joinedAt = Date.now();
  }

  ping(): void {
    this.ws?.ping();
  }

  terminate(): void {
    this.ws?.terminate();
  }

  error(code: string, message: string, ref?: string): void {
    this.send({ type: 'error', code, message, ...(ref ? { ref } : {}) });
  }
}

function newPeerId(): string {
  return randomBytes(6).toString('base64url');
}

/** A member living in the server process; what the room sends it goes to `deliver` (on a later turn, like a socket). */
export class LocalConnection extends Connection {
  constructor(private readonly deliver: (message: ServerMessage) => void) {
    super(undefined);
  }

  override send(message: ServerMessage | Record<string, unknown>): void {
    setImmediate(() => this.deliver(message as ServerMessage));
  }
}
