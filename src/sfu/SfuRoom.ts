import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import type { Candidate } from '../peer/iceCandidate.js';
import type { ForwardMeter } from './ForwardMeter.js';
import type { IceServer, PeerInfo, ServerMessage } from '../signaling/messages.js';
import type { LocalMember } from '../signaling/SignalingServerTypes.js';
import { Publisher } from './Publisher.js';
import type { PublishedTrack } from './PublishedTrack.js';
import { Subscriber } from './Subscriber.js';

export interface SfuRoomContext {
  iceServers: IceServer[];
  iceAddress?: string;
  keyframeIntervalMs: number;
  meter: ForwardMeter;
  logger: Logger;
}

export interface SfuRoomEvents {
  participantJoined: [peer: PeerInfo];
  participantLeft: [peer: PeerInfo];
  track: [track: PublishedTrack];
  trackEnded: [track: PublishedTrack];
  closed: [];
}

/** Who receives: participants and recorders that joined over a socket (an in-process tap reads the tracks directly). */
const subscribes = (p: PeerInfo) => (p.role === 'participant' || p.role === 'recorder') && p.subscribe !== false;
const publishes = (p: PeerInfo) => p.role === 'participant';

/**
 * The SFU's side of one room: a member of it (role `sfu`) that every participant publishes to and that sends every
 * subscriber the others' tracks. It learns of the room only through the signaling messages a member gets.
 */
export class SfuRoom extends EventEmitter<SfuRoomEvents> {
  readonly peers = new Map<string, PeerInfo>();
  private readonly publishers = new Map<string, Publisher>();
  private readonly subscribers = new Map<string, Subscriber>();
  /** In-process members (recorder taps): they are not subscribed over WebRTC. */
  private readonly localIds = new Set<string>();
  private member!: LocalMember;
  private sessions = 0;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly ctx: SfuRoomContext,
  ) {
    super();
  }

  /** Called once the signaling member exists (it is created with this room's `deliver` as its inbox). */
  attach(member: LocalMember): void {
    this.member = member;
    for (const peer of member.peers()) this.onPeerJoined(peer);
  }

  /** An in-process member of this room that must not be treated as a remote subscriber. */
  markLocal(id: string): void {
    this.localIds.add(id);
    this.subscribers.get(id)?.close();
    this.subscribers.delete(id);
  }

  get tracks(): PublishedTrack[] {
    return [...this.publishers.values()].flatMap((p) => p.tracks);
  }

  get publisherCount(): number {
    return this.publishers.size;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  deliver = (msg: ServerMessage): void => {
    if (this.closed) return;
    try {
      this.dispatch(msg);
    } catch (err) {
      this.ctx.logger.error({ err: (err as Error).message, type: msg.type, room: this.name }, 'sfu message failed');
    }
  };

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.publishers.values()].map((p) => p.close()));
    await Promise.all([...this.subscribers.values()].map((s) => s.close()));
    this.publishers.clear();
    this.subscribers.clear();
    this.emit('closed');
  }

  private dispatch(msg: ServerMessage): void {
    switch (msg.type) {
      case 'peerJoined':
        return this.onPeerJoined(msg.peer);
      case 'peerLeft':
        return this.onPeerLeft(msg.id);
      case 'left':
        return void this.close();
      case 'createOffer':
        return this.onOffer(msg.from!, msg.session, msg.sdp.sdp);
      case 'createAnswer':
        return this.subscriberOf(msg.from, msg.session)?.answer(msg.sdp);
      case 'iceCandidate':
        if (!msg.from || !msg.candidate?.candidate) return;
        return (this.subscriberOf(msg.from, msg.session) ?? this.publisherOf(msg.from, msg.session))?.candidate(msg.candidate as Candidate);
    }
  }

  private subscriberOf(from: string | undefined, session: string | undefined): Subscriber | undefined {
    const s = from ? this.subscribers.get(from) : undefined;
    return s && s.session === session ? s : undefined;
  }

  private publisherOf(from: string, session: string | undefined): Publisher | undefined {
    const p = this.publishers.get(from);
    return p && p.session === session ? p : undefined;
  }

  private onPeerJoined(peer: PeerInfo): void {
    if (this.peers.has(peer.id)) return;
    this.peers.set(peer.id, peer);
    if (publishes(peer)) this.emit('participantJoined', peer);
    if (!subscribes(peer) || this.localIds.has(peer.id)) return;
    const subscriber = new Subscriber(peer, {
      iceServers: this.ctx.iceServers,
      iceAddress: this.ctx.iceAddress,
      session: `sfu-${++this.sessions}`,
      sendOffer: (sdp) => this.member.sendTo(peer.id, { type: 'createOffer', session: subscriber.session, sdp }),
      announce: (message) => this.member.sendTo(peer.id, message),
      logger: this.ctx.logger,
    });
    this.subscribers.set(peer.id, subscriber);
    for (const track of this.tracks) if (track.remote.participant.id !== peer.id) subscriber.add(track);
  }

  private onPeerLeft(id: string): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    this.localIds.delete(id);
    void this.publishers.get(id)?.close();
    void this.subscribers.get(id)?.close();
    this.subscribers.delete(id);
    if (publishes(peer)) this.emit('participantLeft', peer);
  }

  private onOffer(from: string, session: string | undefined, sdp: string): void {
    const peer = this.peers.get(from);
    if (!peer || !publishes(peer)) return this.ctx.logger.warn({ from, room: this.name }, 'sfu: offer from a peer that does not publish ignored');
    let publisher = this.publisherOf(from, session);
    if (!publisher) {
      // A new session replaces the old one (the page reconnected its sending PC).
      void this.publishers.get(from)?.close();
      publisher = this.createPublisher(peer, session);
    }
    publisher.offer(sdp);
  }

  private createPublisher(peer: PeerInfo, session: string | undefined): Publisher {
    const publisher = new Publisher(peer, session, {
      iceServers: this.ctx.iceServers,
      iceAddress: this.ctx.iceAddress,
      keyframeIntervalMs: this.ctx.keyframeIntervalMs,
      meter: this.ctx.meter,
      sendAnswer: (sdp) => this.member.sendTo(peer.id, { type: 'createAnswer', session, sdp }),
      logger: this.ctx.logger,
    });
    this.publishers.set(peer.id, publisher);
    publisher.on('track', (track) => {
      this.ctx.logger.debug({ room: this.name, peer: peer.name, kind: track.kind, codec: track.codec, source: track.source }, 'sfu: track published');
      for (const s of this.subscribers.values()) if (s.participant.id !== peer.id) s.add(track);
      this.emit('track', track);
    });
    publisher.on('closed', () => {
      if (this.publishers.get(peer.id) === publisher) this.publishers.delete(peer.id);
      for (const track of publisher.tracks) {
        for (const s of this.subscribers.values()) s.remove(track);
        this.emit('trackEnded', track);
      }
    });
    return publisher;
  }
}
