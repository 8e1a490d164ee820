import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { RTCPeerConnection, type MediaStreamTrack } from 'werift';
import type { Logger } from '../logger.js';
import { elapsedMs } from './elapsedMs.js';
import type { ForwardMeter } from './ForwardMeter.js';
import { addRemoteCandidate, type Candidate } from '../peer/iceCandidate.js';
import type { peerConnectionConfig } from '../peer/peerConnectionConfig.js';
import { offerStillSends } from '../peer/offerSends.js';
import { firstPacket, remoteTrackNow, remoteTrackOf } from '../peer/remoteTrack.js';
import { trackNacksPerSsrc } from '../peer/simulcastNack.js';
import { routeSimulcast } from '../peer/simulcastRouting.js';
import type { RemoteTrack } from '../peer/RecorderPeerTypes.js';
import type { PeerInfo, TrackSource } from '../signaling/messages.js';
import { PublishedTrack } from './PublishedTrack.js';
import { publisherPeerConfig } from './publisherConfig.js';
import { withStartBitrate } from './startBitrate.js';

type Sdp = { type: 'offer' | 'answer'; sdp: string };

/** How long a published track may take to send its first packet (any simulcast layer's). */
const FIRST_PACKET_WAIT_MS = 10_000;
/** How long a simulcast track's other layers get to follow its first before it is published without them. */
const LATE_LAYER_GRACE_MS = 1000;

export interface PublisherEvents {
  track: [track: PublishedTrack];
  /** The publisher stopped sending this track (a renegotiation without it: stopped screen share, removed track). */
  trackEnded: [track: PublishedTrack];
  /** The PC closed or failed: its tracks are gone. */
  closed: [];
}

export interface PublisherContext {
  iceServers: Parameters<typeof peerConnectionConfig>[0]['iceServers'];
  iceAddress?: string;
  keyframeIntervalMs: number;
  meter: ForwardMeter;
  /** x-google-start-bitrate for the browser's uplink estimate (kbit/s; 0: none). */
  startKbps: number;
  sendAnswer: (sdp: Sdp) => void;
  logger: Logger;
}

/**
 * The PC a participant publishes on (one `session` of theirs): the participant offers, the SFU answers, as for any
 * receiving side of the room protocol. A renegotiation (screen share added) is an offer on the same session.
 */
export class Publisher extends EventEmitter<PublisherEvents> {
  readonly tracks: PublishedTrack[] = [];
  private readonly pc: RTCPeerConnection;
  private pending: Candidate[] | undefined = [];
  private chain = Promise.resolve();
  private videos = 0;
  private closed = false;

  constructor(
    readonly participant: PeerInfo,
    readonly session: string | undefined,
    private readonly ctx: PublisherContext,
  ) {
    super();
    this.pc = new RTCPeerConnection(publisherPeerConfig({ iceServers: ctx.iceServers, iceAddress: ctx.iceAddress }));
    this.pc.onTrack.subscribe((track) => void this.onTrack(track));
    this.pc.iceConnectionStateChange.subscribe((state) => ctx.logger.debug({ peer: participant.name, state }, 'publisher ice state'));
    this.pc.connectionStateChange.subscribe((state) => {
      ctx.logger.debug({ peer: participant.name, state }, 'publisher connection state');
      // Not on 'failed': werift reports it when consent checks go unanswered for a while (a stalled process, a lossy
      // moment) and then recovers to 'connected'; the tracks stay until the PC closes or the participant leaves.
      if (state === 'closed') void this.close();
    });
  }

  offer(sdp: string): void {
    this.chain = this.chain
      .then(() => this.answer(sdp))
      .catch((err) => this.ctx.logger.warn({ err: (err as Error).message, peer: this.participant.name }, 'publish negotiation failed'));
  }

  candidate(candidate: Candidate): void {
    if (this.pending) this.pending.push(candidate);
    else void this.addCandidate(candidate);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.tracks) t.close();
    this.emit('closed');
    await this.pc.close().catch(() => {});
  }

  private async answer(sdp: string): Promise<void> {
    this.ctx.logger.debug({ peer: this.participant.name }, 'publisher offer received');
    const t0 = performance.now();
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    this.endUnsent();
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const c of pending) await this.addCandidate(c);
    const t1 = performance.now();
    const created = await this.pc.createAnswer();
    const t2 = performance.now();
    await this.pc.setLocalDescription(created);
    // Gathering is complete once setLocalDescription resolves: the answer carries our candidates; we never trickle.
    const answer = this.pc.localDescription!.sdp;
    this.ctx.logger.debug({ peer: this.participant.name, setRemoteMs: elapsedMs(t0, t1), createAnswerMs: elapsedMs(t1, t2), setLocalMs: elapsedMs(t2) }, 'publisher answer sent');
    this.ctx.sendAnswer({ type: 'answer', sdp: this.ctx.startKbps > 0 ? withStartBitrate(answer, this.ctx.startKbps) : answer });
  }

  private addCandidate(c: Candidate): Promise<void> {
    return addRemoteCandidate(this.pc, c, this.ctx.logger);
  }

  /**
   * Tracks whose m-line the publisher's new offer no longer sends on (`removeTrack`: recvonly/inactive; a stopped
   * transceiver: port 0) are unpublished. A later `addTrack` reusing the m-line is a new track (werift's track event).
   */
  private endUnsent(): void {
    for (const published of [...this.tracks]) {
      if (offerStillSends(this.pc, published.layers[0]!.remote.track)) continue;
      this.tracks.splice(this.tracks.indexOf(published), 1);
      published.close();
      this.ctx.logger.info({ peer: this.participant.name, kind: published.kind, source: published.source }, 'sfu: publisher stopped sending a track');
      this.emit('trackEnded', published);
    }
  }

  private async onTrack(track: MediaStreamTrack): Promise<void> {
    // A participant's first video is its camera, a further one a screen share (as the recorder's layout assumes).
    const source: TrackSource = track.kind === 'audio' ? 'microphone' : this.videos++ === 0 ? 'camera' : 'screen';
    // Simulcast (the offer's a=simulcast): werift made one track per rid, in the offer's order, which is the page's
    // sendEncodings order, lowest layer first; its track event names only the first of them.
    const receiver = this.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track))?.receiver;
    const rids = receiver?.tracks.filter((t) => t.rid !== undefined) ?? [];
    if (this.ctx.logger.isLevelEnabled('debug')) for (const t of rids.length > 1 ? rids : [track]) this.logFirstRtp(t);
    if (receiver && rids.length > 1) {
      trackNacksPerSsrc(receiver);
      routeSimulcast(this.pc);
    }
    const layers = rids.length > 1 ? await this.simulcastLayers(rids) : [await remoteTrackOf(this.pc, track, this.participant)].filter((l) => l !== undefined);
    if (layers.length === 0 || this.closed) return;
    const published = new PublishedTrack(layers, source, this.ctx.keyframeIntervalMs, this.ctx.meter);
    if (published.simulcast) {
      this.ctx.logger.debug({ peer: this.participant.name, rids: layers.map((l) => l.rid), ssrcs: layers.map((l) => l.ssrc) }, 'sfu: simulcast track published');
      // Each layer's resolution is read from its keyframes; their first ones went by while the layers were set up.
      published.layers.forEach((_, i) => published.requestKeyframe(i));
      // Which layers the browser sends moves with its uplink estimate and CPU: worth a line when it does.
      published.onLayersChanged((why) => {
        if (why !== 'resized') this.ctx.logger.info({ peer: this.participant.name, rids: layers.map((l) => l.rid), stopped: published.layersStopped }, `sfu: publisher ${why} a simulcast layer`);
      });
    }
    this.tracks.push(published);
    this.emit('track', published);
  }

  /** When media began to arrive, to set beside the connection's states (join latency: test/e2e/joinLatency.test.ts). */
  private logFirstRtp(track: MediaStreamTrack): void {
    track.onReceiveRtp.asPromise(FIRST_PACKET_WAIT_MS).then(
      () => this.ctx.logger.debug({ peer: this.participant.name, kind: track.kind, rid: track.rid }, 'publisher first rtp'),
      () => {},
    );
  }

  /**
   * Every negotiated layer, once the first of them has sent (waiting up to FIRST_PACKET_WAIT_MS) and the others have had
   * LATE_LAYER_GRACE_MS to follow (Chromium starts them together). A layer still silent then is published all the same:
   * a browser holds its top layer back until its uplink estimate allows it (on a busy machine for 15 s), and that layer
   * is chosen once it sends (LayerActivity). Waiting for every layer held the whole track back meanwhile, and a layer
   * that came later was never forwarded.
   */
  private async simulcastLayers(rids: MediaStreamTrack[]): Promise<RemoteTrack[]> {
    const firsts = rids.map((t) => firstPacket(t, FIRST_PACKET_WAIT_MS));
    const anySent = await new Promise<boolean>((resolve) => {
      let silent = 0;
      for (const first of firsts) void first.then((sent) => (sent ? resolve(true) : ++silent === firsts.length && resolve(false)));
    });
    if (!anySent) return [];
    await Promise.race([Promise.all(firsts), sleep(LATE_LAYER_GRACE_MS)]);
    return rids.map((t) => remoteTrackNow(this.pc, t, this.participant)).filter((l) => l !== undefined);
  }
}
