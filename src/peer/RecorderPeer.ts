import { EventEmitter } from 'node:events';
import { RTCPeerConnection, type MediaStreamTrack } from 'werift';
import type { Logger } from '../logger.js';
import type { PeerInfo } from '../signaling/messages.js';
import { SignalingClient, type JoinedInfo } from '../signaling/SignalingClient.js';
import { addRemoteCandidate, type Candidate } from './iceCandidate.js';
import { peerConnectionConfig } from './peerConnectionConfig.js';
import type { RecorderPeerEvents, RecorderPeerOptions, RemoteTrack, TileSizedTrack } from './RecorderPeerTypes.js';
import { offerStillSends } from './offerSends.js';
import { remoteTrackOf } from './remoteTrack.js';


/** One receive-only PC per (remote peer, session): the remote side offers, we answer. */
interface InboundConnection {
  pc: RTCPeerConnection;
  peer: PeerInfo;
  session: string | undefined;
  /** Candidates that arrived while the offer was still being applied. */
  pending: Candidate[] | undefined;
  /** Offers are applied one after another: a renegotiation must not overtake the first offer. */
  chain: Promise<void>;
  /** What was emitted for each received track, until it ends. */
  delivered: Map<MediaStreamTrack, RemoteTrack>;
  /** How often each track ended so far (a track still waiting for its first packet when it ended is not emitted). */
  ends: Map<MediaStreamTrack, number>;
}

/**
 * The recorder as a WebRTC peer: joins a room with role `recorder` through the same signaling as browsers, answers every
 * participant's offer with a receive-only werift RTCPeerConnection and reports each incoming track.
 */
/** How long a track the SFU offered may take to bring its first packet before it is given up (logged). */
const SFU_FIRST_PACKET_WAIT_MS = 120_000;

export class RecorderPeer extends EventEmitter<RecorderPeerEvents> {
  private readonly peers = new Map<string, PeerInfo>();
  /** SFU rooms: the server's forwarding member, which offers us every participant's tracks. */
  private readonly sfus = new Map<string, PeerInfo>();
  /** SFU rooms: participant id of each media section (mid) of the SFU's offers. */
  private readonly ownerByMid = new Map<string, string>();
  private readonly connections = new Map<string, InboundConnection>();
  private closed = false;
  /** Who was there at join time, announced by start(). */
  private readonly initial: PeerInfo[] = [];
  /**
   * Events before start() are held: the owner may still be preparing (creating directories, starting the composite)
   * while offers from participants already in the room are answered and their tracks arrive.
   */
  private held: Array<() => void> | undefined = [];

  private constructor(
    private readonly signaling: SignalingClient,
    readonly joined: JoinedInfo,
    private readonly options: RecorderPeerOptions,
    private readonly logger: Logger,
  ) {
    super();
    // Known before start() so offers replayed right after `joined` (seed sender) find their peer.
    for (const peer of joined.peers) if (this.isRecordable(peer)) this.peers.set(peer.id, peer);
    for (const peer of joined.peers) if (peer.role === 'sfu') this.sfus.set(peer.id, peer);
    signaling.on('trackPublished', (t) => this.ownerByMid.set(t.mid, t.participant));
    this.initial.push(...this.peers.values());
    signaling.on('peerJoined', (peer) => this.addPeer(peer));
    signaling.on('peerLeft', (id) => this.removePeer(id));
    signaling.on('offer', (from, session, sdp) => this.onOffer(from, session, sdp.sdp));
    signaling.on('candidate', (from, session, candidate) => this.onCandidate(from, session, candidate));
    signaling.on('serverError', (code, message) => logger.warn({ code, message }, 'signaling error'));
    signaling.on('close', () => {
      if (!this.closed) this.deliver(() => this.emit('disconnected'));
    });
  }

  /** Connects and joins; rejects with SERVER_UNREACHABLE / BAD_ROOM_NAME when that fails. */
  static async join(options: RecorderPeerOptions, logger: Logger): Promise<RecorderPeer> {
    const signaling = await SignalingClient.connect(options.serverUrl);
    let joined: JoinedInfo;
    try {
      joined = await signaling.join(options.room, options.name ?? 'recorder', 'recorder');
    } catch (err) {
      signaling.close();
      throw err;
    }
    return new RecorderPeer(signaling, joined, options, logger);
  }

  /** Everybody already in the room when we joined; call once listeners are attached. */
  start(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const peer of this.initial) this.emit('participantJoined', peer);
    for (const event of held) event();
  }

  private deliver(event: () => void): void {
    if (this.held) this.held.push(event);
    else event();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.signaling.close();
    await Promise.all([...this.connections.values()].map((c) => c.pc.close().catch(() => {})));
    this.connections.clear();
  }

  private isRecordable(peer: PeerInfo): boolean {
    return peer.role === 'participant' || peer.role === 'seed-sender';
  }

  private addPeer(peer: PeerInfo): void {
    if (!this.isRecordable(peer) || this.peers.has(peer.id)) return;
    this.peers.set(peer.id, peer);
    this.deliver(() => this.emit('participantJoined', peer));
  }

  private removePeer(id: string): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    for (const [key, conn] of this.connections) {
      if (conn.peer.id !== id) continue;
      this.connections.delete(key);
      void conn.pc.close().catch(() => {});
    }
    this.deliver(() => this.emit('participantLeft', peer));
  }

  private onOffer(from: string, session: string | undefined, sdp: string): void {
    const peer = this.peers.get(from) ?? this.sfus.get(from);
    if (!peer) return this.logger.warn({ from }, 'offer from unknown peer ignored');
    const key = `${from}/${session ?? ''}`;
    let conn = this.connections.get(key);
    if (!conn) {
      conn = this.createConnection(peer, session);
      this.connections.set(key, conn);
    }
    const c = conn;
    c.chain = c.chain.then(() => this.answer(c, sdp)).catch((err) => this.logger.error({ err: (err as Error).message, from }, 'negotiation failed'));
  }

  private createConnection(peer: PeerInfo, session: string | undefined): InboundConnection {
    const iceServers = [...this.joined.iceServers, ...(this.options.iceServers ?? [])];
    const pc = new RTCPeerConnection(peerConnectionConfig({ iceServers, iceAddress: this.options.iceAddress }));
    const conn: InboundConnection = { pc, peer, session, pending: [], chain: Promise.resolve(), delivered: new Map(), ends: new Map() };
    pc.connectionStateChange.subscribe((state) => this.logger.debug({ peer: peer.name, state }, 'connection state'));
    pc.onTrack.subscribe((track) => void this.onTrack(conn, track));
    return conn;
  }

  private async answer(conn: InboundConnection, sdp: string): Promise<void> {
    await conn.pc.setRemoteDescription({ type: 'offer', sdp });
    this.endUnsent(conn);
    const pending = conn.pending ?? [];
    conn.pending = undefined;
    for (const c of pending) await this.addCandidate(conn, c);
    await conn.pc.setLocalDescription(await conn.pc.createAnswer());
    // Gathering is complete once setLocalDescription resolves, so the answer carries our candidates; we never trickle.
    const local = conn.pc.localDescription!;
    this.signaling.sendAnswer(conn.peer.id, conn.session, { type: 'answer', sdp: local.sdp });
  }

  private onCandidate(from: string, session: string | undefined, candidate: Candidate | null): void {
    const conn = this.connections.get(`${from}/${session ?? ''}`);
    if (!conn || !candidate?.candidate) return;
    if (conn.pending) conn.pending.push(candidate);
    else void this.addCandidate(conn, candidate);
  }

  private addCandidate(conn: InboundConnection, candidate: Candidate): Promise<void> {
    return addRemoteCandidate(conn.pc, candidate, this.logger);
  }

  private async onTrack(conn: InboundConnection, track: MediaStreamTrack): Promise<void> {
    const owner = conn.peer.role === 'sfu' ? this.sfuTrackOwner(conn, track) : conn.peer;
    if (!owner) return this.logger.warn({ peer: conn.peer.name }, 'SFU track of an unknown participant ignored');
    // An SFU's tracks may carry nothing for a while (video waits for a keyframe; a loaded machine takes seconds to set
    // the connection up): wait for the first packet as long as the connection lives rather than drop the track.
    const ends = conn.ends.get(track) ?? 0;
    const remote = await remoteTrackOf(conn.pc, track, owner, conn.peer.role === 'sfu' ? SFU_FIRST_PACKET_WAIT_MS : undefined);
    if (!remote) return this.logger.warn({ peer: owner.name }, 'track without codec/ssrc ignored');
    // Unpublished while it waited for its first packet (its media section may carry another track by now).
    if ((conn.ends.get(track) ?? 0) !== ends) return;
    const sfu = conn.peer.role === 'sfu' ? conn.peer.id : undefined;
    const delivered = sfu && remote.kind === 'video' && this.options.tileSizedLayers ? this.tileSizedVia(sfu, remote) : remote;
    conn.delivered.set(track, delivered);
    this.deliver(() => this.emit('track', delivered));
  }

  /**
   * After each offer: a track its media section no longer sends (a stopped screen share; a participant an SFU stopped
   * forwarding) ends; the section may carry a new track later (werift's track event again).
   */
  private endUnsent(conn: InboundConnection): void {
    for (const track of conn.pc.getTransceivers().flatMap((t) => t.receiver.tracks)) {
      if (offerStillSends(conn.pc, track)) continue;
      const delivered = conn.delivered.get(track);
      conn.ends.set(track, (conn.ends.get(track) ?? 0) + 1);
      if (!delivered) continue;
      conn.delivered.delete(track);
      this.deliver(() => this.emit('trackEnded', delivered));
    }
  }

  /**
   * The SFU chooses the layer (DownTrack: at a keyframe, numbering continuous): the view reports the tile size as a
   * page does. Not shown (0×0) is reported as 1×1, the lowest layer: 0×0 would pause the video, and the composite
   * expects a track it does not show to keep flowing.
   */
  private tileSizedVia(sfu: string, remote: RemoteTrack): RemoteTrack {
    const view: RemoteTrack = Object.create(remote);
    let sent: string | undefined;
    const tiled: TileSizedTrack = Object.assign(Object.create(remote) as RemoteTrack, {
      setTileSize: (width: number, height: number) => {
        const [w, h] = [Math.max(1, width), Math.max(1, height)];
        if (`${w}x${h}` === sent) return;
        sent = `${w}x${h}`;
        this.signaling.sendTileSize(sfu, remote.mid, w, h);
      },
      close: () => {},
    });
    view.tileSized = () => tiled;
    return view;
  }

  private sfuTrackOwner(conn: InboundConnection, track: MediaStreamTrack): PeerInfo | undefined {
    const mid = conn.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track))?.mid;
    const owner = mid === undefined || mid === null ? undefined : this.ownerByMid.get(mid);
    return owner === undefined ? undefined : this.peers.get(owner);
  }
}
