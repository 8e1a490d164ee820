import { RTP_EXTENSION_URI, type RtpPacket } from 'werift';
import { isKeyframePacket } from '../media/rtp/keyframe.js';
import type { RemoteTrack } from '../peer/RecorderPeerTypes.js';
import type { TrackSource } from '../signaling/messages.js';
import { SAMPLE_EVERY, type ForwardMeter } from './ForwardMeter.js';

/** What a published track hands each packet to: one per subscriber (DownTrack) or tap. */
export interface PacketSink {
  /** True when the packet was sent on (handed to the socket, encrypted, before this returns), false when it was not. */
  write(packet: RtpPacket, keyframe: boolean): boolean;
}

/**
 * One track a participant publishes to the SFU. Each received packet is stripped of the publisher's header extensions
 * (their ids are the publisher's negotiation, not the subscriber's: forwarded as they are, a subscriber would read an
 * audio level as its `mid`) and handed to every sink. Keyframe requests from all subscribers are coalesced.
 */
export class PublishedTrack {
  private readonly sinks = new Set<PacketSink>();
  private readonly unsubscribe: () => void;
  private lastKeyframeRequestAt = -Infinity;
  private keyframeTimer?: NodeJS.Timeout;
  private closed = false;
  keyframesRequested = 0;
  packetsReceived = 0;
  /**
   * The RFC 6464 level of the packet being handed out (−dBov: 0 loudest, 127 silence), read by sinks during write();
   * undefined when the publisher does not send it.
   */
  audioLevel: number | undefined;

  constructor(
    readonly remote: RemoteTrack,
    readonly source: TrackSource,
    private readonly keyframeIntervalMs: number,
    private readonly meter: ForwardMeter,
  ) {
    this.unsubscribe = remote.track.onReceiveRtp.subscribe((packet, extensions) => {
      this.audioLevel = (extensions?.[RTP_EXTENSION_URI.audioLevelIndication] as { level: number } | undefined)?.level;
      this.forward(packet);
    }).unSubscribe;
  }

  get id(): string {
    return `${this.remote.participant.id}/${this.remote.mid}`;
  }

  get kind(): 'audio' | 'video' {
    return this.remote.kind;
  }

  get codec(): string {
    return this.remote.codec.name;
  }

  addSink(sink: PacketSink): void {
    this.sinks.add(sink);
    // A new video receiver can start only at a keyframe: ask for one now rather than wait for the next periodic one.
    if (this.kind === 'video') this.requestKeyframe();
  }

  removeSink(sink: PacketSink): void {
    this.sinks.delete(sink);
  }

  /** Sends a PLI now, or at the end of the current interval if one was sent recently (many subscribers, one PLI). */
  requestKeyframe(): void {
    if (this.closed || this.kind !== 'video' || this.keyframeTimer) return;
    const wait = this.lastKeyframeRequestAt + this.keyframeIntervalMs - performance.now();
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

  private forward(packet: RtpPacket): void {
    this.packetsReceived++;
    if (this.sinks.size === 0) return;
    // A header copy (the payload is shared): the received packet also goes to the in-process recorder's listeners.
    const out = packet.clone();
    out.header.extensions = [];
    out.header.extension = false;
    const keyframe = this.kind === 'video' && isKeyframePacket(this.codec, out.payload);
    const meter = this.meter;
    if (this.packetsReceived % SAMPLE_EVERY !== 0) {
      for (const sink of this.sinks) if (sink.write(out, keyframe)) meter.packets++;
      return;
    }
    // A sampled packet: how long until each subscriber's sender has sent it (encrypted, handed to the socket).
    const t0 = performance.now();
    for (const sink of this.sinks) {
      if (!sink.write(out, keyframe)) continue;
      meter.packets++;
      meter.observeDelay(performance.now() - t0);
    }
  }
}
