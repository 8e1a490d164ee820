import { ntpToUnixMs } from '../media/rtp/senderReport.js';
import type { RemoteTrack } from '../peer/RecorderPeerTypes.js';
import type { TrackSource } from '../signaling/messages.js';
import type { ForwardMeter } from './ForwardMeter.js';
import { LayerActivity } from './LayerActivity.js';
import type { LayerSize } from './layerChoice.js';
import type { PacketSink } from './PublishedTrackTypes.js';
import { TrackLayer } from './TrackLayer.js';

export type { PacketSink } from './PublishedTrackTypes.js';

/** Why a simulcast track's layers changed: a resolution became known or changed, or the publisher stopped or resumed a layer. */
export type LayersChange = 'resized' | 'stopped' | 'resumed';

/** How often a simulcast track's layers are checked for having stopped (see LayerActivity). */
const ACTIVITY_CHECK_MS = 250;

/**
 * One track a participant publishes to the SFU: one received stream, or (simulcast) several layers of one camera,
 * lowest first, each with its own sinks. `remote` is the highest layer that has sent: what the recorder and every consumer that does
 * not choose a layer get. Keyframe requests from all subscribers of a layer are coalesced.
 */
export class PublishedTrack {
  readonly layers: TrackLayer[];
  private readonly changeListeners = new Set<(why: LayersChange) => void>();
  /** Simulcast video only: which layers the publisher has stopped sending, checked by `activityTimer`. */
  private readonly activity?: LayerActivity;
  private readonly activityTimer?: NodeJS.Timeout;

  constructor(
    layers: readonly RemoteTrack[],
    readonly source: TrackSource,
    keyframeIntervalMs: number,
    meter: ForwardMeter,
  ) {
    if (layers.length === 0) throw new Error('a published track needs at least one received stream');
    this.layers = layers.map((remote) => new TrackLayer(remote, { keyframeIntervalMs, meter, onResize: () => this.changed('resized') }));
    if (this.simulcast && this.kind === 'video') {
      this.activity = new LayerActivity(this.layers, performance.now());
      this.activityTimer = setInterval(() => this.checkLayersSending(performance.now()), ACTIVITY_CHECK_MS).unref();
    }
  }

  /**
   * The highest layer's stream (the only one without simulcast); of a simulcast track, the highest that has sent
   * (what a consumer that takes one layer for good, a per-track file, should take: a layer held back may never come).
   */
  get remote(): RemoteTrack {
    for (let i = this.top; i > 0; i--) if (this.layers[i]!.packetsReceived > 0) return this.layers[i]!.remote;
    return this.layers[0]!.remote;
  }

  /** Index of the highest layer. */
  get top(): number {
    return this.layers.length - 1;
  }

  get simulcast(): boolean {
    return this.layers.length > 1;
  }

  get id(): string {
    return `${this.remote.participant.id}/${this.remote.mid}`;
  }

  // kind and codec are the same on every layer: read from the top one (kind is read per forwarded packet; `remote` looks for a layer that has sent).
  get kind(): 'audio' | 'video' {
    return this.layers[this.top]!.remote.kind;
  }

  get codec(): string {
    return this.layers[this.top]!.remote.codec.name;
  }

  get keyframesRequested(): number {
    return this.layers.reduce((n, l) => n + l.keyframesRequested, 0);
  }

  /**
   * The RFC 6464 level of the packet being handed out (−dBov: 0 loudest, 127 silence), read by sinks during write();
   * undefined when the publisher does not send it.
   */
  get audioLevel(): number | undefined {
    return this.layers[this.top]!.audioLevel;
  }

  get packetsReceived(): number {
    return this.layers.reduce((n, l) => n + l.packetsReceived, 0);
  }

  /** Each layer's bitrate as received now (bit/s, lowest layer first; 0 while unknown). */
  layerRates(now = performance.now()): number[] {
    return this.layers.map((l) => l.received.bitrate(now));
  }

  /** Per layer, the bitrate of its temporal layers 0..t for each t (bit/s, cumulative; empty without temporal layers). */
  temporalRates(now = performance.now()): number[][] {
    return this.layers.map((l) => l.temporalRates(now));
  }

  /** Each layer's resolution as far as known (from its keyframes), and whether the publisher stopped it; lowest layer first. */
  layerSizes(): LayerSize[] {
    return this.layers.map((l, i) => ({ width: l.width, height: l.height, stopped: this.activity?.stopped[i] }));
  }

  /** Per layer, whether the publisher has stopped sending it (see LayerActivity); all false without simulcast. */
  get layersStopped(): boolean[] {
    return this.layers.map((_, i) => this.activity?.stopped[i] ?? false);
  }

  /**
   * Reads which layers are being sent at `now` (performance.now() ms; a timer does this every ACTIVITY_CHECK_MS) and
   * tells the change listeners when a layer stopped or resumed, so that consumers move to a layer still sent.
   */
  checkLayersSending(now: number): void {
    const before = this.layersStopped;
    if (!this.activity?.check(now)) return;
    this.changed(this.activity.stopped.some((s, i) => s && !before[i]) ? 'stopped' : 'resumed');
  }

  /**
   * `timestamp` of layer `from`, as layer `to` stamps the same instant: layers have unrelated RTP offsets, and their
   * sender reports tie each to the publisher's one NTP clock. Undefined until both layers have sent a report.
   */
  translateTimestamp(timestamp: number, from: number, to: number): number | undefined {
    const a = this.layers[from]?.senderReport;
    const b = this.layers[to]?.senderReport;
    if (!a || !b) return undefined;
    const clockRate = this.remote.codec.clockRate;
    return (b.rtp + ((timestamp - a.rtp) | 0) + Math.round(((ntpToUnixMs(a.ntp) - ntpToUnixMs(b.ntp)) * clockRate) / 1000)) >>> 0;
  }

  /**
   * `listener` is called when a layer's resolution becomes known or changes, or the publisher stops or resumes a
   * layer: what a consumer's layer choice depends on. Returns the unsubscribe.
   */
  onLayersChanged(listener: (why: LayersChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** `sink` gets layer `layer`'s packets (default: the highest). */
  addSink(sink: PacketSink, layer = this.top): void {
    this.layers[layer]!.sinks.add(sink);
    // A new video receiver can start only at a keyframe: ask for one now rather than wait for the next periodic one.
    if (this.kind === 'video') this.requestKeyframe(layer);
  }

  /** Stops `sink` getting layer `layer`'s packets (default: any layer's). */
  removeSink(sink: PacketSink, layer?: number): void {
    if (layer !== undefined) this.layers[layer]?.sinks.delete(sink);
    else for (const l of this.layers) l.sinks.delete(sink);
  }

  /** A keyframe of layer `layer` (default: the highest), coalesced with the other requests for it. */
  requestKeyframe(layer = this.top): void {
    this.layers[layer]?.requestKeyframe();
  }

  private changed(why: LayersChange): void {
    for (const listener of this.changeListeners) listener(why);
  }

  close(): void {
    clearInterval(this.activityTimer);
    for (const l of this.layers) l.close();
    this.changeListeners.clear();
  }
}
