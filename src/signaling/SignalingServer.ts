import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { Connection, LocalConnection } from './Connection.js';
import type { ClientMessage, IceServer, RelayedMessage, Role, RoomAudio, RoomMode, ServerMessage, TileSizeMessage } from './messages.js';
import { parseClientMessage } from './parseMessage.js';
import { Room } from './Room.js';
import type { LocalMember, RoomSummary, SignalingServerEvents, SignalingServerOptions } from './SignalingServerTypes.js';

/** The lecture's pages know no rooms: their sender/receiver pair lives in this room. */
export const SEED_ROOM = 'default';

/**
 * Routes signaling between peers of a room. Speaks two protocols on the same socket type:
 * the lecture's seed protocol (sender/receiver, unmodified) and the room protocol (join, `to`/`from`).
 */
export class SignalingServer extends EventEmitter<SignalingServerEvents> {
  private readonly wss: WebSocketServer;
  private readonly rooms = new Map<string, Room>();
  private readonly connections = new Set<Connection>();
  private readonly iceServers: IceServer[];
  private readonly heartbeat: NodeJS.Timeout;
  private readonly authorizeJoin: SignalingServerOptions['authorizeJoin'];
  private readonly placeRoom: SignalingServerOptions['placeRoom'];
  /** Joins waiting for placeRoom's answer, and those it answered "here" (let through on their second dispatch). */
  private readonly placing = new Set<Connection>();
  private readonly placed = new Set<Connection>();
  private readonly defaultMode: RoomMode;
  private readonly defaultAudio: RoomAudio;

  constructor(options: SignalingServerOptions = {}) {
    super();
    this.iceServers = options.iceServers ?? [];
    this.authorizeJoin = options.authorizeJoin;
    this.placeRoom = options.placeRoom;
    this.defaultMode = options.defaultMode ?? 'p2p';
    this.defaultAudio = options.defaultAudio ?? 'forward';
    // Our own size check answers with an error and keeps the socket; ws's maxPayload would close it, so set it far above.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
    this.wss.on('connection', (ws, req: IncomingMessage) => this.onConnection(ws, upgradeToken(req)));
    this.heartbeat = setInterval(() => this.pingAll(), options.heartbeatMs ?? 15_000).unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  listRooms(): RoomSummary[] {
    return [...this.rooms.values()].map((r) => ({
      room: r.name,
      mode: r.mode,
      audio: r.audio,
      participants: r.peers().filter((p) => p.role !== 'sfu'),
      recording: r.recorder() !== undefined,
    }));
  }

  /** The mode `room` is in, or the one it would be opened in now. The seed pages' room is always a mesh. */
  modeOf(room: string, wished?: RoomMode): RoomMode {
    if (room === SEED_ROOM) return 'p2p';
    return this.rooms.get(room)?.mode ?? wished ?? this.defaultMode;
  }

  /**
   * Adds an in-process member to `room` (opening it if needed): the SFU, or a recorder living in this process. It is
   * listed and announced like any peer; what the room sends it arrives through `deliver`.
   */
  attachLocal(room: string, name: string, role: Role, deliver: (message: ServerMessage) => void): LocalMember {
    const conn = new LocalConnection(deliver);
    conn.name = name;
    conn.role = role;
    this.enter(conn, room);
    return {
      id: conn.id,
      room,
      peers: () => conn.room?.peers(conn) ?? [],
      sendTo: (to, message) => {
        const target = conn.room?.members.get(to);
        if (!target || target.isSeed) return false;
        target.send({ ...message, from: conn.id });
        return true;
      },
      leave: () => this.leave(conn),
    };
  }

  /**
   * Sends a room's members to the server that owns it now (this one lost its claim, see placeRoom): each gets
   * `{type:'redirect', room, url}` and leaves here. Returns how many were sent.
   */
  redirectRoom(room: string, url: string): number {
    const members = [...(this.rooms.get(room)?.members.values() ?? [])].filter((c) => c.role === 'participant' || c.role === 'recorder');
    for (const conn of members) {
      conn.send({ type: 'redirect', room, url });
      this.leave(conn);
    }
    return members.length;
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private onConnection(ws: WebSocket, token: string | undefined): void {
    const conn = new Connection(ws, token);
    this.connections.add(conn);
    ws.on('pong', () => (conn.alive = true));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return conn.error('BAD_JSON', 'binary frames are not accepted; send JSON text');
      const parsed = parseClientMessage(data as Buffer);
      if (!parsed.ok) return conn.error(parsed.code, parsed.message, parsed.ref);
      try {
        this.dispatch(conn, parsed.message);
      } catch (err) {
        // A bug in one handler must not take the server (and every room) down.
        conn.error('INTERNAL', `internal error: ${(err as Error).message}`);
      }
    });
    const gone = () => {
      this.connections.delete(conn);
      this.leave(conn);
    };
    ws.on('close', gone);
    ws.on('error', gone);
  }

  private dispatch(conn: Connection, msg: ClientMessage): void {
    switch (msg.type) {
      case 'join':
        if (conn.room || this.placing.has(conn)) return conn.error('ALREADY_JOINED', `already in room ${conn.room?.name ?? msg.room}; send leave first`, 'join');
        if (this.refuseJoin(conn, msg.room, msg.role ?? 'participant', 'join')) return;
        if (this.placeRoom && !this.placed.delete(conn) && !this.rooms.has(msg.room)) return this.placeThenJoin(conn, msg);
        conn.name = msg.name;
        conn.role = msg.role ?? 'participant';
        conn.subscribe = msg.subscribe !== false;
        this.enter(conn, msg.room, msg.mode, msg.audio);
        conn.send({
          type: 'joined',
          id: conn.id,
          room: msg.room,
          mode: conn.room!.mode,
          audio: conn.room!.audio,
          peers: conn.room!.peers(conn),
          iceServers: this.iceServers,
          serverTime: Date.now(),
        });
        if (conn.role === 'recorder') this.replaySeedOffer(conn.room!);
        return;
      case 'leave':
        if (!conn.room) return conn.error('NOT_IN_ROOM', 'not in a room', 'leave');
        {
          const room = conn.room.name;
          this.leave(conn);
          conn.send({ type: 'left', room });
        }
        return;
      case 'sender':
      case 'receiver':
        return this.seedRegister(conn, msg.type);
      case 'tileSize':
        return this.toSfu(conn, msg);
      default:
        return this.relay(conn, msg);
    }
  }

  private enter(conn: Connection, roomName: string, wished?: RoomMode, wishedAudio?: RoomAudio): void {
    let room = this.rooms.get(roomName);
    if (!room) {
      const mode = this.modeOf(roomName, wished);
      this.rooms.set(roomName, (room = new Room(roomName, mode, mode === 'sfu' ? (wishedAudio ?? this.defaultAudio) : 'forward')));
      // Synchronous, so whoever serves the room (the SFU) is a member before the opener's `joined` lists the peers.
      this.emit('roomOpened', room.name, room.mode, room.audio);
    }
    conn.renew();
    conn.room = room;
    room.members.set(conn.id, conn);
    for (const other of room.roomProtocolMembers(conn)) other.send({ type: 'peerJoined', peer: conn.info() });
    this.emit('peerJoined', room.name, conn.info());
  }

  private leave(conn: Connection): void {
    const room = conn.room;
    if (!room) return;
    conn.room = undefined;
    room.members.delete(conn.id);
    if (room.seedSender === conn) {
      room.seedSender = undefined;
      room.pendingSeedOffer = undefined;
    }
    if (room.seedReceiver === conn) room.seedReceiver = undefined;
    for (const other of room.roomProtocolMembers()) other.send({ type: 'peerLeft', id: conn.id });
    this.emit('peerLeft', room.name, conn.info());
    if (room.isEmpty && this.rooms.get(room.name) === room) {
      this.rooms.delete(room.name);
      // Members left only to serve the others (the SFU) go with the room.
      for (const rest of [...room.members.values()]) {
        rest.room = undefined;
        room.members.delete(rest.id);
        rest.send({ type: 'left', room: room.name });
      }
      this.emit('roomClosed', room.name);
    }
  }

  /** Seed protocol: the latest `sender` / `receiver` socket of room `default` wins, as in the lecture's server. */
  private seedRegister(conn: Connection, kind: 'sender' | 'receiver'): void {
    if (conn.room && !conn.isSeed) return conn.error('ALREADY_JOINED', `already in room ${conn.room.name}`, kind);
    if (this.refuseJoin(conn, SEED_ROOM, kind === 'sender' ? 'seed-sender' : 'seed-receiver', kind)) return;
    if (conn.room) this.leave(conn);
    conn.name = `seed-${kind}`;
    conn.role = kind === 'sender' ? 'seed-sender' : 'seed-receiver';
    this.enter(conn, SEED_ROOM);
    const room = conn.room!;
    if (kind === 'sender') {
      room.seedSender = conn;
      room.pendingSeedOffer = undefined;
    } else {
      room.seedReceiver = conn;
      this.replaySeedOffer(room);
    }
  }

  private relay(conn: Connection, msg: RelayedMessage): void {
    const room = conn.room;
    if (!room) return conn.error('NOT_IN_ROOM', `${msg.type}: join a room (or send sender/receiver) first`, msg.type);
    if (msg.to === undefined) {
      if (!conn.isSeed) return conn.error('INVALID_FIELD', `${msg.type}: "to" (a peer id) is required`, msg.type);
      return this.relaySeed(conn, room, msg);
    }
    const target = room.members.get(msg.to);
    if (!target || target === conn) return conn.error('UNKNOWN_PEER', `${msg.type}: no peer ${msg.to} in room ${room.name}`, msg.type);
    if (target.isSeed) return this.sendToSeed(target, msg);
    const { to: _to, ...rest } = msg;
    target.send({ ...rest, from: conn.id });
  }

  /** A message only the room's `sfu` member acts on (it chooses what to forward): refused for anyone else. */
  private toSfu(conn: Connection, msg: TileSizeMessage): void {
    const room = conn.room;
    if (!room || conn.isSeed) return conn.error('NOT_IN_ROOM', `${msg.type}: join a room first`, msg.type);
    const target = room.members.get(msg.to);
    if (!target) return conn.error('UNKNOWN_PEER', `${msg.type}: no peer ${msg.to} in room ${room.name}`, msg.type);
    if (target.role !== 'sfu') return conn.error('INVALID_FIELD', `${msg.type}: "to" must be the room's sfu peer (${msg.to} is a ${target.role})`, msg.type);
    const { to: _to, ...rest } = msg;
    target.send({ ...rest, from: conn.id });
  }

  /** Seed sockets get exactly the lecture's message shapes. */
  private sendToSeed(target: Connection, msg: RelayedMessage): void {
    if (msg.type === 'iceCandidate') target.send({ type: 'iceCandidate', candidate: msg.candidate });
    else target.send({ type: msg.type, sdp: msg.sdp });
  }

  private relaySeed(conn: Connection, room: Room, msg: RelayedMessage): void {
    if (conn === room.seedSender) {
      if (msg.type === 'createAnswer') return conn.error('INVALID_FIELD', 'createAnswer: the sender does not answer', msg.type);
      // Held so a receiver (or the recorder) that arrives later can still take the sender's stream.
      if (msg.type === 'createOffer') room.pendingSeedOffer = { offer: msg.sdp, candidates: [] };
      else room.pendingSeedOffer?.candidates.push(msg.candidate);
      const target = room.seedReceiver ?? room.recorder();
      if (!target) return;
      if (target.isSeed) return this.sendToSeed(target, msg);
      target.send({ ...msg, from: conn.id, session: 'seed' });
    } else if (conn === room.seedReceiver) {
      if (msg.type === 'createOffer') return conn.error('INVALID_FIELD', 'createOffer: the receiver does not offer', msg.type);
      if (room.seedSender) this.sendToSeed(room.seedSender, msg);
    }
    // A replaced seed socket (an older sender/receiver) is ignored, like in the lecture's server.
  }

  /** The recorder takes the receiver's place when no browser receiver is present. */
  private replaySeedOffer(room: Room): void {
    const pending = room.pendingSeedOffer;
    const sender = room.seedSender;
    if (!pending || !sender) return;
    const target = room.seedReceiver ?? room.recorder();
    if (!target) return;
    if (target.isSeed) {
      target.send({ type: 'createOffer', sdp: pending.offer });
      for (const candidate of pending.candidates) target.send({ type: 'iceCandidate', candidate });
    } else {
      target.send({ type: 'createOffer', sdp: pending.offer, from: sender.id, session: 'seed' });
      for (const candidate of pending.candidates) target.send({ type: 'iceCandidate', candidate, from: sender.id, session: 'seed' });
    }
  }

  /** True (and the client told why) when the socket's token does not allow this join. */
  private refuseJoin(conn: Connection, room: string, role: Role, ref: string): boolean {
    const refusal = this.authorizeJoin?.(conn.token, room, role);
    if (!refusal) return false;
    conn.error(refusal.code, refusal.message, ref);
    return true;
  }

  /** Asks placeRoom where the room lives, then joins here or redirects the client there (if it is still connected). */
  private placeThenJoin(conn: Connection, msg: Extract<ClientMessage, { type: 'join' }>): void {
    this.placing.add(conn);
    Promise.resolve()
      .then(() => this.placeRoom!(msg.room))
      .then(
        (placement) => {
          this.placing.delete(conn);
          if (!this.connections.has(conn)) return;
          if ('redirect' in placement) return conn.send({ type: 'redirect', room: msg.room, url: placement.redirect });
          this.placed.add(conn);
          try {
            this.dispatch(conn, msg);
          } catch (err) {
            conn.error('INTERNAL', `internal error: ${(err as Error).message}`);
          }
        },
        (err: unknown) => {
          this.placing.delete(conn);
          const code = (err as { code?: unknown }).code;
          conn.error(typeof code === 'string' ? code : 'INTERNAL', (err as Error).message, 'join');
        },
      );
  }

  /** The usual ws heartbeat: a connection that missed a whole interval's ping is cut, and its `close` leaves the room. */
  private pingAll(): void {
    for (const conn of this.connections) {
      if (!conn.alive) conn.terminate();
      else {
        conn.alive = false;
        conn.ping();
      }
    }
  }
}

/** Browsers cannot set headers on a WebSocket, so the token rides on the upgrade URL (`/ws?token=…`). */
function upgradeToken(req: IncomingMessage): string | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? undefined;
  } catch {
    return undefined;
  }
}
