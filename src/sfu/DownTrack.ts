import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { parseVp8Descriptor } from '../media/rtp/vp8Descriptor.js';
import { RtpFastSender } from '../peer/RtpFastSender.js';
import type { StartTrace, SwitchTiming } from './DownTrackTypes.js';
import { elapsedMs } from './elapsedMs.js';
import { sameCap, type VideoCap } from './videoLadder.js';
import { chooseLayer, sentAtOrBelow, type TileSize } from './layerChoice.js';
import { LayerSwitch } from './LayerSwitch.js';
import type { PublishedTrack } from './PublishedTrack.js';
import { switchTimestampStep } from './switchTiming.js';
import { ALL_TEMPORAL, TemporalFilter } from './TemporalFilter.js';
import { Vp8Munger } from './Vp8Munger.js';

/** Send times kept for the last this many video packets (by sequence number), to tell a receiver's backlog. */
const SENT_HISTORY = 1024;

/**
 * One published track forwarded to one subscriber, through a send-only transceiver of the subscriber's PC. Its werift
 * sender (through RtpFastSender) rewrites SSRC, payload type, sequence number and timestamp, and answers NACKs from its
 * packet history.
 * Video waits for a keyframe before its first packet, so a new subscriber never decodes from a broken reference.
 *
 * Simulcast: one layer is forwarded at a time, chosen by the size the subscriber shows the video at (setTileSize). A
 * change of layer waits for a keyframe of the new one (asked for at once) while the current one goes on, then
 * switches on that keyframe's first packet: sequence numbers and timestamps continue (werift's continuity rewrite),
 * and VP8 picture numbering continues (Vp8Munger), so the decoder sees one stream that happens to change resolution.
 * H.264 has no picture numbering in its RTP payload: its packets pass unchanged, and its keyframe's first packet is the
 * one carrying the SPS (see KeyframeStarts), so the decoder gets the new layer's parameter sets before its IDR.
 *
 * Temporal layers (VP8, TID in each packet): frames above a temporal cap are left out (TemporalFilter), sequence
 * numbers and PictureIDs closed up behind them, so a subscriber gets 15 fps of the same resolution.
 *
 * Bandwidth: the subscriber's allocator caps the layer and the temporal layer (setBandwidthCap), or pauses the video
 * when not even the lowest layer fits. Either pause (not shown, or no bandwidth) stops forwarding; it starts again at
 * a keyframe.
 */
export class DownTrack {
  private started: boolean;
  private negotiated = false;
  /** The mid the subscriber was told about (trackPublished), so a renegotiation announces only what is new. */
  announcedMid?: string;
  private lastInputSsrc?: number;
  private readonly unsubscribe: () => void;
  private readonly out: RtpFastSender;

  private readonly createdAt = performance.now();
  /** When the start's preconditions were met (see StartTrace), and the layer's keyframe requests before it. */
  private readonly startTrace: { negotiatedAt?: number; readyAt?: number; keyframesBefore: number };
  /** The layer forwarded (undefined until video starts) and the one wanted, with the subscriptions to them. */
  private readonly layerSwitch: LayerSwitch;
  private tile?: TileSize;
  /** Shown in no tile (0×0: another page). */
  private hidden = false;
  /** The allocator's cap: highest layer (and temporal layer), or paused; undefined = none. */
  private cap?: VideoCap;
  /** Forwarding stopped (hidden or paused for bandwidth). */
  private isPaused = false;
  private readonly munger?: Vp8Munger;
  private readonly temporal?: TemporalFilter;
  /** Input timestamp, arrival and layer of the last packet sent, to place the first one of a new layer (or after a pause) in time. */
  private last?: { timestamp: number; at: number; layer: number };
  /** Layer switches done (not counting the start). */
  switches = 0;
  /** When each recent video packet was sent (performance.now()), by output sequence number modulo SENT_HISTORY. */
  private sentAt?: Float64Array;

  constructor(
    readonly published: PublishedTrack,
    readonly transceiver: RTCRtpTransceiver,
    /** Told when forwarding starts (after how long): a video that never starts is the thing to look for. */
    private readonly onStart?: (trace: StartTrace) => void,
    /** Told after each layer switch: which, how long its keyframe took since the switch was decided, and the timestamps. */
    private readonly onSwitch?: (from: number, to: number, waitedMs: number, time: SwitchTiming) => void,
  ) {
    this.started = published.kind === 'audio';
    this.startTrace = { keyframesBefore: published.keyframesRequested };
    this.layerSwitch = new LayerSwitch(published, (layer, packet, keyframe) => this.write(layer, packet, keyframe));
    // Audio needs no keyframe: it is forwarded from its first packet.
    if (this.started) this.layerSwitch.adopt(published.top);
    // Any VP8 video: a layer switch and a temporal cap both need its picture numbering kept continuous. (H.264: one
    // temporal layer, nothing to renumber.)
    if (published.kind === 'video' && published.codec === 'vp8') {
      this.munger = new Vp8Munger();
      this.temporal = new TemporalFilter();
    }
    const sender = transceiver.sender;
    this.out = new RtpFastSender(sender);
    this.out.sourceClock = () => published.layers[this.layerSwitch.current ?? this.layerSwitch.target]?.publisherClock();
    // The subscriber's keyframe requests (its decoder lost something) go to the publisher's layer it decodes, coalesced
    // there; and once the subscriber's transport is up and has the track negotiated, the keyframe it starts with is
    // asked for (see markNegotiated).
    const subs = [
      sender.onPictureLossIndication.subscribe(() => published.requestKeyframe(this.layerSwitch.current ?? this.layerSwitch.target)),
      sender.onReady.subscribe(() => {
        this.startTrace.readyAt ??= performance.now();
        if (this.negotiated) published.requestKeyframe(this.layerSwitch.target);
      }),
    ];
    const unsubscribeLayers = published.simulcast ? published.onLayersChanged(() => this.choose()) : () => {};
    this.unsubscribe = () => {
      subs.forEach((s) => s.unSubscribe());
      unsubscribeLayers();
    };
  }

  /** Starts taking the published track's packets (of the layer to start with). */
  open(): void {
    this.layerSwitch.open();
  }

  /**
   * The subscriber applied the offer that carries this track: from now on it can take packets (before, a browser
   * drops them as an unknown stream). Asks the publisher for the keyframe to start with.
   */
  markNegotiated(): void {
    if (this.negotiated) return;
    this.negotiated = true;
    this.startTrace.negotiatedAt = performance.now();
    // Asked for only once the transport is up too (else onReady asks): a keyframe that comes before cannot be sent, and
    // the request held the next one back by the publisher's coalescing interval (500 ms): a new subscriber's transport
    // connects ~100 ms after the negotiation, so its first video waited for the keyframe asked at +500 ms.
    if (this.transceiver.sender.transport?.state === 'connected') this.published.requestKeyframe(this.layerSwitch.target);
  }

  get mid(): string | undefined {
    return this.transceiver.mid ?? undefined;
  }

  /** The layer forwarded now and the one wanted (equal unless a switch waits for its keyframe). */
  get layers(): { current?: number; target: number } {
    return { current: this.layerSwitch.current, target: this.layerSwitch.target };
  }

  /** Video not forwarded because the subscriber does not show it (a tile of 0×0: another page, hidden). */
  get paused(): boolean {
    return this.hidden;
  }

  /** Video not forwarded because not even its lowest layer fits the subscriber's bandwidth. */
  get pausedForBandwidth(): boolean {
    return this.cap === 'paused';
  }

  /** The SSRC the subscriber receives this track on (its receiver reports name it). */
  get ssrc(): number {
    return this.transceiver.sender.ssrc;
  }

  /**
   * How far behind the receiver is (ms of send time): from the send time of `highestSequence` (the newest packet its
   * receiver report says it got) to that of the last packet sent. Near 0 while packets go through as sent; growing
   * when they queue on the way. Undefined when unknown (not sent here recently).
   */
  backlogMs(highestSequence: number): number | undefined {
    const at = this.sentAt?.[(highestSequence & 0xffff) % SENT_HISTORY];
    const last = this.last?.at;
    if (!at || last === undefined || last - at > 5000 || last < at) return undefined;
    return last - at;
  }

  /** The layer the tile wants, bandwidth aside; undefined for audio and hidden video (nothing to allocate). */
  get wantedLayer(): number | undefined {
    if (this.published.kind !== 'video' || this.hidden) return undefined;
    return this.tileLayer();
  }

  get bandwidthCap(): VideoCap | undefined {
    return this.cap;
  }

  /** The temporal cap in force (highest TID forwarded; ALL_TEMPORAL: every layer). */
  get temporalLayer(): number {
    return this.temporal?.currentCap ?? ALL_TEMPORAL;
  }

  /** Frames' packets left out by the temporal cap so far. */
  get temporalDrops(): number {
    return this.temporal?.droppedPackets ?? 0;
  }

  /**
   * The allocator's cap (undefined: none); takes effect like a tile change (a lower layer at its next keyframe, a lower
   * temporal layer at the next frame, a higher one at its next sync point).
   */
  setBandwidthCap(cap: VideoCap | undefined): void {
    if (this.published.kind !== 'video' || sameCap(cap, this.cap)) return;
    this.cap = cap;
    this.temporal?.setCap(typeof cap === 'object' ? (cap.temporal ?? ALL_TEMPORAL) : ALL_TEMPORAL);
    this.update();
  }

  /**
   * The subscriber shows this video at `tile` (device pixels): forward the smallest layer that covers it. A 0×0 tile
   * (not shown: another page of the room) pauses the video: nothing is forwarded until it has a size again, and then
   * it starts over from a keyframe, its numbering continuing.
   */
  setTileSize(tile: TileSize): void {
    this.tile = tile;
    this.hidden = this.published.kind === 'video' && (tile.width <= 0 || tile.height <= 0);
    this.update();
  }

  private update(): void {
    const stop = this.hidden || this.cap === 'paused';
    if (stop !== this.isPaused) {
      if (stop) this.pause();
      else this.resume();
      return;
    }
    this.choose();
  }

  /** The layer that covers the tile (the only one without simulcast). */
  private tileLayer(): number {
    return this.published.simulcast ? chooseLayer(this.published.layerSizes(), this.tile) : this.published.top;
  }

  /** The layer to forward: what the tile wants, at most the bandwidth cap (the highest layer under it still sent). */
  private layerWanted(): number {
    const wanted = this.tileLayer();
    return typeof this.cap === 'object' && this.cap.spatial < wanted ? sentAtOrBelow(this.published.layerSizes(), this.cap.spatial) : wanted;
  }

  private pause(): void {
    this.isPaused = true;
    this.layerSwitch.closeAll();
  }

  private resume(): void {
    this.isPaused = false;
    // Like a new subscriber: from the next keyframe of the layer wanted now (asked for when its sink is added).
    this.started = false;
    this.layerSwitch.restart(this.layerWanted());
  }

  private choose(): void {
    if (!this.published.simulcast || this.isPaused) return;
    this.layerSwitch.retarget(this.layerWanted());
  }

  private traceStart(): StartTrace {
    const since = (t?: number) => (t === undefined ? undefined : elapsedMs(this.createdAt, t));
    const { negotiatedAt, readyAt, keyframesBefore } = this.startTrace;
    return {
      waitedMs: elapsedMs(this.createdAt),
      negotiatedMs: since(negotiatedAt),
      readyMs: since(readyAt),
      keyframesAsked: this.published.keyframesRequested - keyframesBefore,
    };
  }

  private write(layer: number, packet: RtpPacket, keyframe: boolean): boolean {
    const layers = this.layerSwitch;
    if (!this.started) {
      if (!this.negotiated || this.transceiver.sender.transport?.state !== 'connected' || !layers.switchesAt(layer, keyframe)) return false;
      this.started = true;
      layers.adopt(layer);
      if (this.last) {
        // Resumed after a pause: the timestamps go on by the time that passed, so the decoder does not bunch frames.
        this.continueSequence(packet, this.timestampStep(this.last.layer, layer, packet).step);
      } else {
        this.onStart?.(this.traceStart());
        this.continueSequence(packet, 1);
      }
      this.newStream(packet);
    } else if (layer !== layers.current) {
      if (!layers.switchesAt(layer, keyframe)) return false;
      this.switchTo(layer, packet);
    } else if (packet.header.ssrc !== this.lastInputSsrc) {
      // The publisher's stream restarted (new SSRC): keep the subscriber's sequence and timestamps continuous.
      this.continueSequence(packet, 1);
      this.newStream(packet);
    }
    this.lastInputSsrc = packet.header.ssrc;
    let payload = packet.payload;
    let out = packet;
    if (this.temporal) {
      // Parsed once for both: the temporal filter and the picture numbering.
      const d = parseVp8Descriptor(payload);
      const seq = this.temporal.filter(packet.header.sequenceNumber, packet.header.timestamp, packet.header.marker, d);
      if (seq === undefined) {
        this.munger!.drop(d);
        return false;
      }
      payload = this.munger!.munge(payload, d);
      // The received header is shared by every subscriber: a copy when this one's number differs.
      if (seq !== packet.header.sequenceNumber) out = new RtpPacket(new RtpHeader({ ...packet.header, sequenceNumber: seq }), payload);
    }
    if (this.published.kind === 'video') {
      // Updated in place: this runs for every forwarded video packet of every subscriber.
      const last = (this.last ??= { timestamp: 0, at: 0, layer });
      last.timestamp = packet.header.timestamp;
      last.at = performance.now();
      last.layer = layer;
    }
    this.out.send(out !== packet || payload === packet.payload ? out : new RtpPacket(packet.header, payload));
    const seq = this.out.lastSequenceNumber;
    if (this.last && seq !== undefined) (this.sentAt ??= new Float64Array(SENT_HISTORY))[seq % SENT_HISTORY] = this.last.at;
    return true;
  }

  /** `packet`, the first of a keyframe of `layer`, is where this subscriber's stream continues from now on. */
  private switchTo(layer: number, packet: RtpPacket): void {
    const from = this.layerSwitch.adopt(layer)!;
    const time = this.timestampStep(from, layer, packet);
    this.continueSequence(packet, time.step);
    this.newStream(packet);
    this.switches++;
    this.onSwitch?.(from, layer, performance.now() - this.layerSwitch.askedAt, time);
  }

  /** How far the new layer's first packet is from the last one sent, in RTP ticks (see switchTimestampStep). */
  private timestampStep(from: number, to: number, packet: RtpPacket): SwitchTiming {
    return switchTimestampStep(this.published, this.last, from, to, packet.header.timestamp);
  }

  /** `packet` (a keyframe) starts a new input stream: VP8 numbering continues from what was sent, all layers in sync. */
  private newStream(packet: RtpPacket): void {
    this.munger?.switchTo(packet.payload);
    this.temporal?.reset();
  }

  /**
   * A sender that already sent (a reused transceiver, a restarted source, another layer) continues its numbering at
   * the next packet, `timestampStep` ticks after the last; for a sender that never sent, werift keeps the input
   * numbering.
   */
  private continueSequence(packet: RtpPacket, timestampStep: number): void {
    this.transceiver.sender.replaceRTP(packet.header, false, timestampStep);
  }

  close(): void {
    this.unsubscribe();
    this.layerSwitch.closeAll();
  }
}
