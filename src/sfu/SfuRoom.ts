import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import type { Candidate } from '../peer/iceCandidate.js';
import type { ForwardMeter } from './ForwardMeter.js';
import type { IceServer, PeerInfo, RoomAudio, ServerMessage } from '../signaling/messages.js';
import type { LocalMember } from '../signaling/SignalingServerTypes.js';
import { Publisher } from './Publisher.js';
import type { PublishedTrack } from './PublishedTrack.js';
import { RoomMix, type MixPacketMs } from './RoomMix.js';
import { Subscriber } from './Subscriber.js';

export interface SfuRoomContext {
  iceServers: IceServer[];
  iceAddress?: string;
  keyframeIntervalMs: number;
  meter: ForwardMeter;
  /** How the room's voices reach its participants (forwarded, or the server's live mix). */
  audio: RoomAudio;
  /** `auto` rooms switch to the live mix when this many participants are in (and stay mixed). */
  mcuFrom: number;
  /** Voices in the live mix at most. */
  mixSpeakers: number;
  mixPacketMs: MixPacketMs;
  publisherStartKbps: number;
  bandwidthAdaptation: boolean;
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
/** In a mixing room participants hear the mix; recorders keep every voice (a recording mixes its own). */
const hearsMix = (p: PeerInfo) => p.role === 'participant';

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
  /** The live mix (MCU), once the room mixes: from the start in `mcu` rooms, from `mcuFrom` participants in `auto`. */
  private mix?: RoomMix;
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
    if (this.ctx.audio === 'mcu') this.startMix();
    for (const peer of member.peers()) this.onPeerJoined(peer);
  }

  /** The live mix, when this room mixes its voices on the server. */
  get liveMix(): RoomMix | undefined {
    return this.mix;
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

  /** Videos not forwarded because not even their lowest layer fits their subscriber's bandwidth. */
  get bandwidthPausedDownTracks(): number {
    return [...this.subscribers.values()].reduce((n, s) => n + s.bandwidthPausedDownTracks, 0);
  }

  /** Videos not forwarded because their subscriber does not show them (another page). */
  get pausedDownTracks(): number {
    return [...this.subscribers.values()].reduce((n, s) => n + s.pausedDownTracks, 0);
  }

  /** The connection that sends participant `id` the room's media. */
  subscriber(id: string): Subscriber | undefined {
    return this.subscribers.get(id);
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
    this.mix?.close();
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
      case 'tileSize':
        if (msg.from) this.subscribers.get(msg.from)?.setTileSize(msg.mid, { width: msg.width, height: msg.height });
        return;
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
    this.ctx.logger.debug({ room: this.name, peer: peer.name, role: peer.role }, 'sfu: peer joined');
    if (publishes(peer)) this.emit('participantJoined', peer);
    if (this.ctx.audio === 'auto' && !this.mix && this.participantCount >= this.ctx.mcuFrom) this.startMix();
    if (!subscribes(peer) || this.localIds.has(peer.id)) return;
    const subscriber = new Subscriber(peer, {
      iceServers: this.ctx.iceServers,
      iceAddress: this.ctx.iceAddress,
      session: `sfu-${++this.sessions}`,
      sendOffer: (sdp) => this.member.sendTo(peer.id, { type: 'createOffer', session: subscriber.session, sdp }),
      announce: (message) => this.member.sendTo(peer.id, message),
      adaptsBandwidth: this.ctx.bandwidthAdaptation,
      logger: this.ctx.logger,
    });
    this.subscribers.set(peer.id, subscriber);
    if (this.mix && hearsMix(peer)) this.mix.addOutput(subscriber.addMix(this.member.id));
    for (const track of this.tracks) if (this.forwards(track, subscriber)) subscriber.add(track);
    if (this.mix && hearsMix(peer)) this.member.sendTo(peer.id, { type: 'mixSpeakers', speakers: this.mix.speakers });
  }

  private get participantCount(): number {
    return [...this.peers.values()].filter(publishes).length;
  }

  /** What `subscriber` gets of `track`: not its own tracks, and no voices when it hears the live mix instead. */
  private forwards(track: PublishedTrack, subscriber: Subscriber): boolean {
    if (track.remote.participant.id === subscriber.participant.id) return false;
    return !(track.kind === 'audio' && this.mix && hearsMix(subscriber.participant));
  }

  /**
   * From now on the room's voices are mixed on the server: every voice goes into the mix, and each participant's
   * forwarded voices are replaced by one track, the mix without its own voice (recorders still get every voice).
   */
  private startMix(): void {
    const mix = new RoomMix({ maxSpeakers: this.ctx.mixSpeakers, packetMs: this.ctx.mixPacketMs, logger: this.ctx.logger });
    this.mix = mix;
    this.ctx.logger.info({ room: this.name, participants: this.participantCount }, 'mcu: the room\'s voices are mixed on the server');
    mix.on('speakersChanged', (speakers) => {
      for (const peer of this.peers.values()) if (hearsMix(peer) && this.subscribers.has(peer.id)) this.member.sendTo(peer.id, { type: 'mixSpeakers', speakers });
    });
    for (const track of this.tracks) mix.addVoice(track);
    for (const subscriber of this.subscribers.values()) {
      if (!hearsMix(subscriber.participant)) continue;
      for (const track of subscriber.audioTracks) subscriber.remove(track);
      mix.addOutput(subscriber.addMix(this.member.id));
      this.member.sendTo(subscriber.participant.id, { type: 'mixSpeakers', speakers: mix.speakers });
    }
  }

  private onPeerLeft(id: string): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    this.localIds.delete(id);
    void this.publishers.get(id)?.close();
    void this.subscribers.get(id)?.close();
    this.subscribers.delete(id);
    this.mix?.removeOutput(id);
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
      startKbps: this.ctx.publisherStartKbps,
      sendAnswer: (sdp) => this.member.sendTo(peer.id, { type: 'createAnswer', session, sdp }),
      logger: this.ctx.logger,
    });
    this.publishers.set(peer.id, publisher);
    publisher.on('track', (track) => {
      this.ctx.logger.debug({ room: this.name, peer: peer.name, kind: track.kind, codec: track.codec, source: track.source }, 'sfu: track published');
      this.mix?.addVoice(track);
      for (const s of this.subscribers.values()) if (this.forwards(track, s)) s.add(track);
      this.emit('track', track);
    });
    const ended = (track: PublishedTrack) => {
      this.mix?.removeVoice(track);
      for (const s of this.subscribers.values()) s.remove(track);
      this.emit('trackEnded', track);
    };
    publisher.on('trackEnded', ended);
    publisher.on('closed', () => {
      if (this.publishers.get(peer.id) === publisher) this.publishers.delete(peer.id);
      for (const track of publisher.tracks) ended(track);
    });
    return publisher;
  }
}
