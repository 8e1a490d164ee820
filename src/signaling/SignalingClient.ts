import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { RtcRecordError } from '../errors.js';
import type { IceServer, PeerInfo, Role, RoomMode, TrackPublished } from './messages.js';

export interface JoinedInfo {
  id: string;
  room: string;
  /** Absent from servers older than the SFU: a mesh. */
  mode?: RoomMode;
  peers: PeerInfo[];
  iceServers: IceServer[];
}

type Sdp = { type: 'offer' | 'answer'; sdp: string };
type Candidate = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null;

export interface SignalingClientEvents {
  peerJoined: [peer: PeerInfo];
  peerLeft: [id: string];
  offer: [from: string, session: string | undefined, sdp: Sdp];
  answer: [from: string, session: string | undefined, sdp: Sdp];
  candidate: [from: string, session: string | undefined, candidate: Candidate];
  /** SFU rooms: whose track a media section of the SFU's next offer carries. */
  trackPublished: [track: TrackPublished];
  serverError: [code: string, message: string];
  close: [];
}

/** The room protocol from the Node side: what the recorder (and the load generator) use to join like a browser. */
export class SignalingClient extends EventEmitter<SignalingClientEvents> {
  private constructor(private readonly ws: WebSocket) {
    super();
    // Emitted on a later turn, in order: whoever awaits join() attaches its listeners in the continuation, and must still
    // see messages that arrived in the same network read as `joined` (an offer from a participant already in the room).
    ws.on('message', (data) => {
      const text = data.toString();
      setImmediate(() => this.onMessage(text));
    });
    ws.on('close', () => setImmediate(() => this.emit('close')));
    ws.on('error', () => {}); // `close` follows and is what callers act on.
  }

  static async connect(url: string, timeoutMs = 5000): Promise<SignalingClient> {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (err) =>
        reject(new RtcRecordError('SERVER_UNREACHABLE', `cannot reach signaling server ${url}: ${err.message}`, { cause: err })),
      );
    });
    return new SignalingClient(ws);
  }

  /** `options.subscribe: false`: in an SFU room, publish only (the SFU sends this peer nothing). */
  join(room: string, name: string, role: Role = 'participant', timeoutMs = 5000, options: { mode?: RoomMode; subscribe?: boolean } = {}): Promise<JoinedInfo> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new RtcRecordError('SERVER_UNREACHABLE', 'no answer to join')), timeoutMs);
      const onRaw = (data: WebSocket.RawData) => {
        const msg = JSON.parse(data.toString());
        if (msg.type === 'joined') done(undefined, msg as JoinedInfo);
        else if (msg.type === 'error' && msg.ref === 'join') {
          done(new RtcRecordError(msg.code === 'INVALID_FIELD' ? 'BAD_ROOM_NAME' : msg.code, `join refused: ${msg.message}`));
        }
      };
      const onClose = () => done(new RtcRecordError('SERVER_UNREACHABLE', 'signaling connection closed during join'));
      const done = (err?: Error, info?: JoinedInfo) => {
        clearTimeout(timer);
        this.ws.off('message', onRaw);
        this.off('close', onClose);
        if (err) reject(err);
        else resolve(info!);
      };
      this.ws.on('message', onRaw);
      this.on('close', onClose);
      this.send({ type: 'join', room, name, role, ...options });
    });
  }

  sendAnswer(to: string, session: string | undefined, sdp: Sdp): void {
    this.send({ type: 'createAnswer', to, session, sdp });
  }

  sendOffer(to: string, session: string | undefined, sdp: Sdp): void {
    this.send({ type: 'createOffer', to, session, sdp });
  }

  sendCandidate(to: string, session: string | undefined, candidate: Candidate): void {
    this.send({ type: 'iceCandidate', to, session, candidate });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.send({ type: 'leave' });
    this.ws.close();
  }

  private send(msg: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private onMessage(text: string): void {
    const msg = JSON.parse(text);
    switch (msg.type) {
      case 'peerJoined':
        return void this.emit('peerJoined', msg.peer);
      case 'peerLeft':
        return void this.emit('peerLeft', msg.id);
      case 'createOffer':
        return void this.emit('offer', msg.from, msg.session, msg.sdp);
      case 'createAnswer':
        return void this.emit('answer', msg.from, msg.session, msg.sdp);
      case 'iceCandidate':
        return void this.emit('candidate', msg.from, msg.session, msg.candidate);
      case 'trackPublished':
        return void this.emit('trackPublished', msg as TrackPublished);
      case 'error':
        return void this.emit('serverError', msg.code, msg.message);
    }
  }
}
