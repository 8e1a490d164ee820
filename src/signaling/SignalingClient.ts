import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { RtcRecordError } from '../errors.js';
import type { IceServer, PeerInfo, Role, RoomAudio, RoomMode, TrackPublished } from './messages.js';

export interface JoinedInfo {
  id: string;
  room: string;
  /** Absent from servers older than the SFU: a mesh. */
  mode?: RoomMode;
  /** How the room's voices arrive (absent from servers older than the MCU: forwarded). */
  audio?: RoomAudio;
  peers: PeerInfo[];
  iceServers: IceServer[];
}

/** `subscribe: false`: in an SFU room, publish only; `mode`/`audio`: wishes that count when this join opens the room. */
export interface JoinOptions {
  mode?: RoomMode;
  audio?: RoomAudio;
  subscribe?: boolean;
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
  private ws: WebSocket;

  private constructor(
    ws: WebSocket,
    /** Where `ws` goes; a redirect moves to another server (see join). */
    private url: string,
  ) {
    super();
    this.ws = ws;
    this.attach(ws);
  }

  static async connect(url: string, timeoutMs = 5000): Promise<SignalingClient> {
    return new SignalingClient(await open(url, timeoutMs), url);
  }

  private attach(ws: WebSocket): void {
    // Emitted on a later turn, in order: whoever awaits join() attaches its listeners in the continuation, and must still
    // see messages that arrived in the same network read as `joined` (an offer from a participant already in the room).
    ws.on('message', (data) => {
      const text = data.toString();
      setImmediate(() => this.onMessage(text));
    });
    ws.on('close', () => setImmediate(() => this.emit('close')));
    ws.on('error', () => {}); // `close` follows and is what callers act on.
  }

  /**
   * Several servers (`serve --redis`): the room lives on the server a `redirect` names. The socket moves there (with
   * this one's token: servers of a cluster share the secret) and the join is sent again.
   */
  private async moveTo(target: string, timeoutMs: number): Promise<void> {
    const url = new URL(target);
    const token = new URL(this.url).searchParams.get('token');
    if (token && !url.searchParams.has('token')) url.searchParams.set('token', token);
    const ws = await open(url.toString(), timeoutMs);
    const old = this.ws;
    old.removeAllListeners();
    old.on('error', () => {});
    old.close();
    this.ws = ws;
    this.url = url.toString();
    this.attach(ws);
  }

  /** `options.subscribe: false`: in an SFU room, publish only (the SFU sends this peer nothing). */
  async join(room: string, name: string, role: Role = 'participant', timeoutMs = 5000, options: JoinOptions = {}): Promise<JoinedInfo> {
    for (let hops = 0; ; hops++) {
      const answer = await this.joinHere(room, name, role, timeoutMs, options);
      if (!('redirect' in answer)) return answer;
      // Every server answers from the same registry: a second hop is rare (the room moved meanwhile), a third a loop.
      if (hops >= 3) throw new RtcRecordError('SERVER_UNREACHABLE', `join ${room}: too many redirects (last to ${answer.redirect})`);
      await this.moveTo(answer.redirect, timeoutMs);
    }
  }

  private joinHere(room: string, name: string, role: Role, timeoutMs: number, options: JoinOptions): Promise<JoinedInfo | { redirect: string }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new RtcRecordError('SERVER_UNREACHABLE', 'no answer to join')), timeoutMs);
      const onRaw = (data: WebSocket.RawData) => {
        const msg = JSON.parse(data.toString());
        if (msg.type === 'joined') done(undefined, msg as JoinedInfo);
        else if (msg.type === 'redirect') done(undefined, { redirect: String(msg.url) });
        else if (msg.type === 'error' && msg.ref === 'join') {
          done(new RtcRecordError(msg.code === 'INVALID_FIELD' ? 'BAD_ROOM_NAME' : msg.code, `join refused: ${msg.message}`));
        }
      };
      const onClose = () => done(new RtcRecordError('SERVER_UNREACHABLE', 'signaling connection closed during join'));
      const done = (err?: Error, info?: JoinedInfo | { redirect: string }) => {
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

  /** SFU rooms: the video of media section `mid` (of the SFU's offer to us) is shown at this size (0×0: not shown). */
  sendTileSize(to: string, mid: string, width: number, height: number): void {
    this.send({ type: 'tileSize', to, mid, width, height });
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
      case 'redirect':
        // The room was taken over by another server while we were in it: we are out of it here, as on a lost connection.
        return void this.ws.close();
    }
  }
}

function open(url: string, timeoutMs: number): Promise<WebSocket> {
  const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
  return new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', (err) => {
      const shown = url.replace(/([?&]token=)[^&]*/, '$1…'); // a token is a credential: not in messages and logs
      reject(new RtcRecordError('SERVER_UNREACHABLE', `cannot reach signaling server ${shown}: ${err.message}`, { cause: err }));
    });
  });
}
