import { RTCPeerConnection, type RTCRtpCodecParameters, type RTCRtpTransceiver } from 'werift';
import type { Logger } from '../logger.js';
import { addRemoteCandidate, type Candidate } from '../peer/iceCandidate.js';
import { peerConnectionConfig } from '../peer/peerConnectionConfig.js';
import type { PeerInfo, TrackPublished, VideoPaused, VideoResumed } from '../signaling/messages.js';
import { DownTrack } from './DownTrack.js';
import { elapsedMs } from './elapsedMs.js';
import type { TileSize } from './layerChoice.js';
import { MixDownTrack } from './MixDownTrack.js';
import { SubscriberBandwidth } from './SubscriberBandwidth.js';
import { subscriberPeerConfig } from './subscriberConfig.js';
import type { PublishedTrack } from './PublishedTrack.js';

type Sdp = { type: 'offer' | 'answer'; sdp: string };

export interface SubscriberContext {
  iceServers: Parameters<typeof peerConnectionConfig>[0]['iceServers'];
  iceAddress?: string;
  /** `session` of the SFU's offers to this subscriber. */
  session: string;
  sendOffer: (sdp: Sdp) => void;
  announce: (
    message: Omit<TrackPublished, 'from'> | { type: 'trackUnpublished'; participant: string; mid: string } | Omit<VideoPaused, 'from'> | Omit<VideoResumed, 'from'>,
  ) => void;
  /** False: the subscriber's RTCP (estimate, loss) is not listened to, so nothing caps what it is sent. */
  adaptsBandwidth: boolean;
  logger: Logger;
}

const ANSWER_TIMEOUT_MS = 10_000;
/** A video that took longer than this to start for a subscriber is logged (info) with what it waited for. */
const SLOW_START_MS = 1000;

/**
 * The PC the SFU sends one participant everybody else's tracks on. The SFU offers (so there is never glare), one
 * negotiation at a time; changes that arrive meanwhile are folded into the next one. Each forwarded track gets a
 * send-only transceiver; an unpublished track's transceiver goes inactive and is reused by the next track of its kind
 * and codec, so a long meeting does not grow the SDP without bound.
 */
export class Subscriber {
  private readonly pc: RTCPeerConnection;
  private readonly downTracks = new Map<PublishedTrack, DownTrack>();
  private readonly idle: RTCRtpTransceiver[] = [];
  /** MCU rooms: the live mix this participant hears, and the member it is announced from (the SFU). */
  private mixDown?: { down: MixDownTrack; owner: string };
  private pending: Candidate[] | undefined = [];
  private negotiating = false;
  private dirty = false;
  private answerWaiter?: (sdp: string | undefined) => void;
  private closed = false;
  /** Lowers (and raises) its videos' layers by the subscriber's bandwidth estimate. */
  readonly bandwidth: SubscriberBandwidth;

  constructor(
    readonly participant: PeerInfo,
    private readonly ctx: SubscriberContext,
  ) {
    this.pc = new RTCPeerConnection(subscriberPeerConfig({ iceServers: ctx.iceServers, iceAddress: ctx.iceAddress }));
    this.bandwidth = new SubscriberBandwidth({
      downTracks: () => this.downTracks.values(),
      pausedChanged: (down, paused) => {
        if (down.mid === undefined) return;
        ctx.announce(paused ? { type: 'videoPaused', mid: down.mid, reason: 'bandwidth' } : { type: 'videoResumed', mid: down.mid });
      },
      logger: ctx.logger,
      subscriber: participant.name,
    });
    this.pc.iceConnectionStateChange.subscribe((state) => ctx.logger.debug({ peer: participant.name, state }, 'subscriber ice state'));
    this.pc.connectionStateChange.subscribe((state) => {
      ctx.logger.debug({ peer: participant.name, state }, 'subscriber connection state');
      if (state === 'connected') this.watchBandwidth();
    });
  }

  get session(): string {
    return this.ctx.session;
  }

  add(track: PublishedTrack): void {
    if (this.closed || this.downTracks.has(track)) return;
    const transceiver = this.reuseFor(track.kind, track.codec) ?? this.pc.addTransceiver(track.kind, { direction: 'sendonly' });
    transceiver.setCodecPreferences(this.codecsFor(track));
    const log = { subscriber: this.participant.name, from: track.remote.participant.name, kind: track.kind };
    const down = new DownTrack(
      track,
      transceiver,
      // A video that starts late (or never) is the thing to look for; the trace says which step took long.
      (trace) => (trace.waitedMs > SLOW_START_MS ? this.ctx.logger.info({ ...log, ...trace }, 'sfu: video started late') : this.ctx.logger.debug({ ...log, ...trace }, 'sfu: forwarding started')),
      (from, to, waitedMs, time) =>
        this.ctx.logger.debug({ ...log, fromLayer: track.layers[from]!.rid, toLayer: track.layers[to]!.rid, waitedMs: Math.round(waitedMs), ...time }, 'sfu: layer switched'),
    );
    this.downTracks.set(track, down);
    down.open();
    this.renegotiate();
  }

  /** Videos not forwarded now because not even their lowest layer fits the subscriber's bandwidth. */
  get bandwidthPausedDownTracks(): number {
    let n = 0;
    for (const down of this.downTracks.values()) if (down.pausedForBandwidth) n++;
    return n;
  }

  /** Videos not forwarded now because the subscriber does not show them (0×0 tiles: another page). */
  get pausedDownTracks(): number {
    let n = 0;
    for (const down of this.downTracks.values()) if (down.paused) n++;
    return n;
  }

  /**
   * The subscriber shows the video of its media section `mid` at `tile` (device pixels): a simulcast track is
   * forwarded in the smallest layer that covers it. False when no track is forwarded on `mid`.
   */
  setTileSize(mid: string, tile: TileSize): boolean {
    for (const down of this.downTracks.values()) {
      if (down.mid !== mid) continue;
      down.setTileSize(tile);
      const { current, target } = down.layers;
      this.ctx.logger.debug({ subscriber: this.participant.name, mid, ...tile, layers: down.published.layerSizes(), current, target }, 'sfu: tile size');
      return true;
    }
    return false;
  }

  /** MCU rooms: one audio track, the live mix (announced as `owner`'s `mix`), in place of everybody's voices. */
  addMix(owner: string): MixDownTrack {
    if (this.mixDown) return this.mixDown.down;
    const transceiver = this.reuseFor('audio', 'opus') ?? this.pc.addTransceiver('audio', { direction: 'sendonly' });
    transceiver.setCodecPreferences((this.pc.config.codecs.audio ?? []).filter((c) => c.name.toLowerCase() === 'opus'));
    const down = new MixDownTrack(transceiver, this.participant.id);
    this.mixDown = { down, owner };
    if (!this.closed) this.renegotiate();
    return down;
  }

  get audioTracks(): PublishedTrack[] {
    return [...this.downTracks.keys()].filter((t) => t.kind === 'audio');
  }

  remove(track: PublishedTrack): void {
    const down = this.downTracks.get(track);
    if (!down) return;
    this.downTracks.delete(track);
    down.close();
    down.transceiver.setDirection('inactive');
    this.idle.push(down.transceiver);
    if (down.mid !== undefined) this.ctx.announce({ type: 'trackUnpublished', participant: track.remote.participant.id, mid: down.mid });
    this.renegotiate();
  }

  answer(sdp: Sdp): void {
    this.answerWaiter?.(sdp.sdp);
  }

  candidate(candidate: Candidate): void {
    if (this.pending) this.pending.push(candidate);
    else void this.addCandidate(candidate);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.bandwidth.close();
    for (const down of this.downTracks.values()) down.close();
    this.downTracks.clear();
    this.answerWaiter?.(undefined);
    await this.pc.close().catch(() => {});
  }

  private reuseFor(kind: 'audio' | 'video', codec: string): RTCRtpTransceiver | undefined {
    const i = this.idle.findIndex((t) => t.kind === kind && t.codecs.some((c) => c.name.toLowerCase() === codec));
    if (i < 0) return undefined;
    const [transceiver] = this.idle.splice(i, 1);
    transceiver!.setDirection('sendonly');
    return transceiver;
  }

  /**
   * The published codec only (werift adds its RTX itself): the subscriber must decode exactly what the publisher
   * encodes. An RTX entry among the preferences would be matched by mime type to the first RTX configured (VP8's) and
   * bring VP8 back into the offer.
   */
  private codecsFor(track: PublishedTrack): RTCRtpCodecParameters[] {
    const all = (track.kind === 'audio' ? this.pc.config.codecs.audio : this.pc.config.codecs.video) ?? [];
    return all.filter((c) => c.name.toLowerCase() === track.codec);
  }

  private renegotiate(): void {
    if (this.negotiating) {
      this.dirty = true;
      return;
    }
    this.negotiating = true;
    // After the rest of this task: a new subscriber gets every track at once, and each add() came here while the first
    // negotiation had already begun, so a second offer and answer followed the first with nothing new in it.
    queueMicrotask(() => void this.negotiateLoop().finally(() => (this.negotiating = false)));
  }

  private async negotiateLoop(): Promise<void> {
    do {
      this.dirty = false;
      try {
        await this.negotiateOnce();
      } catch (err) {
        this.ctx.logger.warn({ err: (err as Error).message, peer: this.participant.name }, 'subscribe negotiation failed');
      }
    } while (this.dirty && !this.closed);
  }

  private async negotiateOnce(): Promise<void> {
    if (this.closed) return;
    const t0 = performance.now();
    const created = await this.pc.createOffer();
    const t1 = performance.now();
    await this.pc.setLocalDescription(created);
    const took = { createOfferMs: elapsedMs(t0, t1), setLocalMs: elapsedMs(t1) };
    // The subscriber learns whose track each media section carries before the offer that adds it.
    for (const down of this.downTracks.values()) {
      if (down.mid === undefined || down.announcedMid === down.mid) continue;
      down.announcedMid = down.mid;
      const p = down.published;
      this.ctx.announce({ type: 'trackPublished', participant: p.remote.participant.id, kind: p.kind, source: p.source, mid: down.mid });
    }
    const mix = this.mixDown;
    if (mix && mix.down.mid !== undefined && mix.down.announcedMid !== mix.down.mid) {
      mix.down.announcedMid = mix.down.mid;
      this.ctx.announce({ type: 'trackPublished', participant: mix.owner, kind: 'audio', source: 'mix', mid: mix.down.mid });
    }
    const answered = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ANSWER_TIMEOUT_MS);
      this.answerWaiter = (sdp) => {
        clearTimeout(timer);
        this.answerWaiter = undefined;
        resolve(sdp);
      };
    });
    this.ctx.logger.debug({ peer: this.participant.name, tracks: this.downTracks.size, ...took }, 'sfu: offering to subscriber');
    this.ctx.sendOffer({ type: 'offer', sdp: this.pc.localDescription!.sdp });
    const sdp = await answered;
    if (this.closed) return;
    if (sdp === undefined) throw new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`);
    this.ctx.logger.debug({ peer: this.participant.name }, 'subscriber answer received');
    const offered = [...this.downTracks.values()].filter((d) => d.announcedMid !== undefined);
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    // The transports the subscriber's RTCP (its estimate) arrives on, as this answer left them (BUNDLE: one).
    this.watchBandwidth();
    for (const down of offered) down.markNegotiated();
    if (mix?.down.announcedMid !== undefined) mix.down.markNegotiated();
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const c of pending) await this.addCandidate(c);
  }

  private watchBandwidth(): void {
    if (this.ctx.adaptsBandwidth) this.pc.dtlsTransports.forEach((t) => this.bandwidth.watch(t));
  }

  private addCandidate(c: Candidate): Promise<void> {
    return addRemoteCandidate(this.pc, c, this.ctx.logger);
  }
}
