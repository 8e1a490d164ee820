import { RTP_EXTENSION_URI, RtcpSrPacket, type RtpPacket } from 'werift';
import { h264KeyframeSize } from '../media/rtp/h264.js';
import { KeyframeStarts } from '../media/rtp/keyframe.js';
import { vp8KeyframeSize, vp8TemporalId } from '../media/rtp/vp8Descriptor.js';
import type { RemoteTrack } from '../peer/RecorderPeerTypes.js';
import { SAMPLE_EVERY } from './ForwardMeter.js';
import { RateWindow } from './RateWindow.js';
import type { PacketSink } from './PublishedTrackTypes.js';
import type { TrackLayerOptions } from './TrackLayerTypes.js';

/** RTP header (12), SRTP tag (10), UDP (8) and IPv4 (20) headers, plus a mid extension: what a forwarded packet costs beyond its payload. */
export const PACKET_OVERHEAD_BYTES = 56;

/**
 * One received RTP stream of a published track: the track itself, or one simulcast layer (`rid`) of it. Each packet
 * is stripped of the publisher's header extensions (their ids are the publisher's negotiation, not the subscriber's:
 * forwarded as they are, a subscriber would read an audio level as its `mid`) and handed to every sink. Keyframe
 * requests are coalesced per layer (each layer is its own encoder stream with its own SSRC).
 */
export class TrackLayer {
  readonly sinks = new Set<PacketSink>();
  width?: number;
  height?: number;
  keyframesRequested = 0;
  packetsReceived = 0;
  /** What the publisher sends on this layer (payload and RTP/SRTP/UDP/IP overhead), for bandwidth allocation. */
  readonly received = new RateWindow();
  /** The same per VP8 temporal layer (TID), once packets carry one: what a temporal cap saves is measured, not guessed. */
  private readonly receivedByTid: RateWindow[] = [];
  /** The RFC 6464 level of the packet being handed out (see PublishedTrack.audioLevel). */
  audioLevel: number | undefined;
  /**
   * The latest RTCP sender report: this layer's RTP timestamp at a time of the publisher's NTP clock (64-bit NTP), and
   * when it arrived (performance.now()).
   */
  senderReport?: { ntp: bigint; rtp: number; receivedAt: number };
  private readonly unsubscribe: () => void;
  private lastKeyframeRequestAt = -Infinity;
  private highestSeq?: number;
  private highestSeqSsrc?: number;
  private keyframeTimer?: NodeJS.Timeout;
  private closed = false;
  /** Where this stream's keyframes start (H.264: at the SPS, see KeyframeStarts). */
  private readonly keyframes: KeyframeStarts;

  constructor(
    readonly remote: RemoteTrack,
    private readonly opts: TrackLayerOptions,
  ) {
    const subs = [
      remote.track.onReceiveRtp.subscribe((packet, extensions) => {
        this.audioLevel = (extensions?.[RTP_EXTENSION_URI.audioLevelIndication] as { level: number } | undefined)?.level;
        this.forward(packet);
      }),
      remote.track.onReceiveRtcp.subscribe((rtcp) => {
        if (rtcp.type !== RtcpSrPacket.type) return;
        const { ntpTimestamp, rtpTimestamp } = (rtcp as RtcpSrPacket).senderInfo;
        this.senderReport = { ntp: ntpTimestamp, rtp: rtpTimestamp, receivedAt: performance.now() };
      }),
    ];
    this.unsubscribe = () => subs.forEach((s) => s.unSubscribe());
    this.keyframes = new KeyframeStarts(remote.codec.name);
  }

  get rid(): string | undefined {
    return this.remote.rid;
  }

  /**
   * The publisher's clock now, as its latest sender report says: (NTP time, this layer's RTP timestamp), the report
   * carried forward by the time since it arrived. What a forwarded stream's own sender reports should say, so that a
   * subscriber places its media by the publisher's capture clock, not by when we happened to forward it.
   */
  publisherClock(): { ntp: bigint; rtp: number } | undefined {
    const sr = this.senderReport;
    if (!sr) return undefined;
    const elapsedMs = performance.now() - sr.receivedAt;
    // NTP time counts 2^32 units a second.
    return { ntp: sr.ntp + BigInt(Math.round(elapsedMs * 4_294_967.296)), rtp: (sr.rtp + Math.round((elapsedMs * this.remote.codec.clockRate) / 1000)) >>> 0 };
  }

  /** Sends a PLI now, or at the end of the current interval if one was sent recently (many subscribers, one PLI). */
  requestKeyframe(): void {
    if (this.closed || this.remote.kind !== 'video' || this.keyframeTimer) return;
    const wait = this.lastKeyframeRequestAt + this.opts.keyframeIntervalMs - performance.now();
    const send = () => {
      this.keyframeTimer = undefined;
      if (this.closed) return;
      this.lastKeyframeRequestAt = performance.now();
      this.keyframesRequested++;
      this.remote.requestKeyframe().catch(() => {});
    };
    if (wait <= 0) send();
    else this.keyframeTimer = setTimeout(send, wait).unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.keyframeTimer);
    this.unsubscribe();
    this.sinks.clear();
  }

  /**
   * Bitrate (bit/s) of temporal layers 0..t for each t (cumulative, lowest first) as received now; empty when the
   * packets carry no TID.
   */
  temporalRates(now: number): number[] {
    let sum = 0;
    const out: number[] = [];
    for (let t = 0; t < this.receivedByTid.length; t++) {
      sum += this.receivedByTid[t]?.bitrate(now) ?? 0;
      out.push(sum);
    }
    return out;
  }

  private forward(packet: RtpPacket): void {
    this.packetsReceived++;
    const bytes = packet.payload.length + PACKET_OVERHEAD_BYTES;
    this.received.add(bytes);
    const codec = this.remote.codec.name;
    const vp8 = codec === 'vp8';
    const h264 = codec === 'h264';
    if (vp8) {
      const tid = vp8TemporalId(packet.payload);
      if (tid !== undefined) (this.receivedByTid[tid] ??= new RateWindow()).add(bytes);
    }
    // A packet older than one already seen (a retransmission; Chrome also probes bandwidth by sending recent packets
    // again over RTX) is forwarded as before, but is no keyframe to start or switch at: what follows it went by.
    const fresh = this.isFresh(packet.header.ssrc, packet.header.sequenceNumber);
    if (this.sinks.size === 0) {
      // Nobody takes this layer now, but its size decides who will (and H.264's keyframes are watched for their SPS).
      if (h264 && fresh) this.keyframes.isStart(packet.payload);
      if (vp8 || h264) this.readSize(packet.payload);
      return;
    }
    const keyframe = fresh && this.remote.kind === 'video' && this.keyframes.isStart(packet.payload);
    if (keyframe && (vp8 || h264)) this.readSize(packet.payload);
    // A header copy (the payload is shared) for sinks that send it on: the received packet also goes to the
    // in-process recorder's listeners. Sinks that only read it (the live mix) get the received packet, no copy.
    let out: RtpPacket | undefined;
    const meter = this.opts.meter;
    if (this.packetsReceived % SAMPLE_EVERY !== 0) {
      for (const sink of this.sinks) if (sink.write(sink.readsOnly ? packet : (out ??= stripped(packet)), keyframe)) meter.packets++;
      return;
    }
    // A sampled packet: how long until each subscriber's sender has sent it (encrypted, handed to the socket).
    const t0 = performance.now();
    for (const sink of this.sinks) {
      if (!sink.write(sink.readsOnly ? packet : (out ??= stripped(packet)), keyframe)) continue;
      meter.packets++;
      meter.observeDelay(performance.now() - t0);
    }
  }

  /**
   * True for a sequence number ahead of all seen so far of its stream (RFC 3550 A.1: up to 2^15 ahead), which becomes
   * the newest. A new SSRC (the publisher's encoder restarted) numbers afresh.
   */
  private isFresh(ssrc: number, seq: number): boolean {
    if (ssrc !== this.highestSeqSsrc) {
      this.highestSeqSsrc = ssrc;
      this.highestSeq = undefined;
    }
    const ahead = (seq - (this.highestSeq ?? seq - 1)) & 0xffff;
    if (ahead === 0 || ahead >= 0x8000) return false;
    this.highestSeq = seq;
    return true;
  }

  /** The resolution of the keyframe `payload` starts (VP8: its frame header; H.264: its SPS), when it starts one. */
  private readSize(payload: Buffer): void {
    const size = this.remote.codec.name === 'h264' ? h264KeyframeSize(payload) : vp8KeyframeSize(payload);
    if (!size || (size.width === this.width && size.height === this.height)) return;
    this.width = size.width;
    this.height = size.height;
    this.opts.onResize();
  }
}

/** A header copy of `packet` without the publisher's header extensions (the payload is shared). */
function stripped(packet: RtpPacket): RtpPacket {
  const out = packet.clone();
  out.header.extensions = [];
  out.header.extension = false;
  return out;
}
