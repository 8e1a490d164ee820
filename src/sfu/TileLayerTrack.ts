import { randomInt } from 'node:crypto';
import { MediaStreamTrack, RtcpSenderInfo, RtcpSrPacket, RtpPacket, type RtcpPacket } from 'werift';
import type { RemoteTrack, TileSizedTrack } from '../peer/RecorderPeerTypes.js';
import type { SwitchTiming } from './DownTrackTypes.js';
import { chooseLayer, type TileSize } from './layerChoice.js';
import { LayerSwitch } from './LayerSwitch.js';
import type { PublishedTrack } from './PublishedTrack.js';
import { RtpContinuity } from './RtpContinuity.js';
import { switchTimestampStep, type LastForwarded } from './switchTiming.js';
import { Vp8Munger } from './Vp8Munger.js';

/** Told after each layer switch: which, how long the new layer's keyframe took since the switch was decided, and the timing. */
export type TileLayerSwitch = (from: number, to: number, waitedMs: number, time: SwitchTiming) => void;

/**
 * The in-process recorder's down track of a simulcast video: the layer that covers the tile the composite shows it in
 * (chooseLayer, as a page's tile), switched like a subscriber's DownTrack: the new layer is taken from its first
 * keyframe (asked for with a PLI through the layer's coalescing), the current one going on until then; sequence
 * numbers and timestamps continue (RtpContinuity, the step from the layers' sender reports as DownTrack does) and so
 * does VP8 picture numbering (Vp8Munger; H.264 payloads pass unchanged, switched at the packet with the SPS). Packets come out on `track.onReceiveRtp` like a received werift track's, and
 * the current layer's sender reports on `track.onReceiveRtcp`, translated to the output timestamps.
 */
export class TileLayerTrack implements TileSizedTrack {
  readonly track: MediaStreamTrack;
  readonly ssrc = randomInt(1, 2 ** 32 - 1);
  readonly kind = 'video';
  /** Layer switches done (not counting the start). */
  switches = 0;
  private plis = 0;
  private tile?: TileSize;
  private readonly layerSwitch: LayerSwitch;
  private readonly continuity = new RtpContinuity();
  private readonly munger?: Vp8Munger;
  private last?: LastForwarded & { layer: number };
  private lastInputSsrc?: number;
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(
    readonly published: PublishedTrack,
    private readonly onSwitch?: TileLayerSwitch,
  ) {
    const top = published.remote;
    this.track = new MediaStreamTrack({ kind: 'video', remote: true, codec: top.track.codec, ssrc: this.ssrc });
    // Before any size: the highest layer the publisher sends (not one it holds back, which may never come).
    this.layerSwitch = new LayerSwitch(published, (layer, packet, keyframe) => this.write(layer, packet, keyframe), chooseLayer(published.layerSizes(), undefined));
    this.munger = published.codec === 'vp8' ? new Vp8Munger() : undefined;
    const subs = published.layers.map((layer, i) => layer.remote.track.onReceiveRtcp.subscribe((rtcp) => this.onRtcp(i, rtcp)));
    const unsubscribeLayers = published.onLayersChanged(() => this.choose());
    this.unsubscribe = () => {
      subs.forEach((s) => s.unSubscribe());
      unsubscribeLayers();
    };
    this.layerSwitch.open();
  }

  get participant(): RemoteTrack['participant'] {
    return this.published.remote.participant;
  }

  get codec(): RemoteTrack['codec'] {
    return this.published.remote.codec;
  }

  get mid(): string {
    return this.published.remote.mid;
  }

  get remoteTrackId(): string | undefined {
    return this.published.remote.remoteTrackId;
  }

  get plisSent(): number {
    return this.plis;
  }

  /** The layer passed on now and the one wanted (equal unless a switch waits for its keyframe). */
  get layers(): { current?: number; target: number } {
    return { current: this.layerSwitch.current, target: this.layerSwitch.target };
  }

  /** Asks the target layer: while a switch waits, a keyframe of the layer being left would be cut by the switch. */
  async requestKeyframe(): Promise<void> {
    this.plis++;
    this.published.requestKeyframe(this.layerSwitch.target);
  }

  /**
   * The NACKs the SFU's receiver sent the publisher for the layer passed on now, in this track's numbering (the
   * manifest counts what was asked for and what came back). Other layers' losses are not this stream's.
   */
  onNack(listener: (lost: readonly number[]) => void): () => void {
    const subs = this.published.layers.map((layer, i) =>
      layer.remote.onNack((lost) => {
        if (i === this.layerSwitch.current) listener(lost.map((seq) => this.continuity.outputSequence(seq)));
      }),
    );
    return () => subs.forEach((unsubscribe) => unsubscribe());
  }

  setTileSize(width: number, height: number): void {
    if (this.tile && this.tile.width === width && this.tile.height === height) return;
    this.tile = { width: Math.max(0, width), height: Math.max(0, height) };
    this.choose();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.layerSwitch.closeAll();
  }

  private choose(): void {
    if (this.closed) return;
    // No size yet: the highest layer, as before layers were chosen (and as DownTrack starts).
    this.layerSwitch.retarget(chooseLayer(this.published.layerSizes(), this.tile));
  }

  private write(layer: number, packet: RtpPacket, keyframe: boolean): boolean {
    if (this.closed) return false;
    const layers = this.layerSwitch;
    if (layers.current === undefined || layer !== layers.current) {
      if (!layers.switchesAt(layer, keyframe)) return false;
      this.switchTo(layer, packet);
    } else if (packet.header.ssrc !== this.lastInputSsrc) {
      // The publisher's encoder restarted (new SSRC): the output stays continuous.
      this.continuity.restart(packet.header, 1);
      this.munger?.switchTo(packet.payload);
    }
    this.lastInputSsrc = packet.header.ssrc;
    const last = (this.last ??= { timestamp: 0, at: 0, layer });
    last.timestamp = packet.header.timestamp;
    last.at = performance.now();
    last.layer = layer;
    // The input packet (a header copy) is shared with the SFU's subscribers: rewrite a copy of its header.
    const header = packet.clone().header;
    header.ssrc = this.ssrc;
    this.continuity.rewrite(header);
    this.track.onReceiveRtp.execute(new RtpPacket(header, this.munger ? this.munger.munge(packet.payload) : packet.payload));
    return true;
  }

  /** `packet`, the first of a keyframe of `layer`, is where the output continues from now on. */
  private switchTo(layer: number, packet: RtpPacket): void {
    const from = this.layerSwitch.adopt(layer);
    const time = from === undefined ? { step: 1, by: 'arrival' as const } : switchTimestampStep(this.published, this.last, from, layer, packet.header.timestamp);
    this.continuity.restart(packet.header, time.step);
    this.munger?.switchTo(packet.payload);
    // The composite's clock follows sender reports: give it the new layer's at once, in the output's timestamps.
    const sr = this.published.layers[layer]!.senderReport;
    if (sr) this.emitSenderReport(sr.ntp, sr.rtp);
    if (from !== undefined) {
      this.switches++;
      this.onSwitch?.(from, layer, performance.now() - this.layerSwitch.askedAt, time);
    }
  }

  private onRtcp(layer: number, rtcp: RtcpPacket): void {
    if (this.closed || layer !== this.layerSwitch.current || rtcp.type !== RtcpSrPacket.type) return;
    const { ntpTimestamp, rtpTimestamp } = (rtcp as RtcpSrPacket).senderInfo;
    this.emitSenderReport(ntpTimestamp, rtpTimestamp);
  }

  private emitSenderReport(ntp: bigint, rtp: number): void {
    const senderInfo = new RtcpSenderInfo({ ntpTimestamp: ntp, rtpTimestamp: (rtp + this.continuity.timestampOffset) >>> 0 });
    this.track.onReceiveRtcp.execute(new RtcpSrPacket({ ssrc: this.ssrc, senderInfo }));
  }
}
