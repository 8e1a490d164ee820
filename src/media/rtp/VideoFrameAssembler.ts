import { dePacketizeRtpPackets, type RtpPacket } from 'werift';
import { isKeyframePacket } from './keyframe.js';

export interface AssembledFrame {
  /** The codec's frame (VP8 frame; H.264 Annex-B access unit). */
  data: Buffer;
  /** VP8: the frame's first packet starts a keyframe; H.264: one of its packets carries an IDR or parameter set. */
  isKeyframe: boolean;
  /** RTP timestamp shared by the frame's packets. */
  timestamp: number;
}

export type VideoFrameCodec = 'vp8' | 'h264';

const WERIFT_CODEC = { vp8: 'VP8', h264: 'MPEG4/ISO/AVC' } as const;

/**
 * Joins a video track's RTP packets, in sequence order (as a jitter buffer hands them over), into frames: the packets
 * of one timestamp up to the one with the marker bit.
 *
 * A frame that never gets its marker is dropped once a packet of another timestamp arrives. That is what an SFU's
 * layer switch leaves (issue 17): the switch continues the stream at the new layer's keyframe, with the next sequence
 * number, wherever the old layer's frame was — often in the middle of one (a keyframe the old layer was sending
 * because the recorder asked for one at the same re-layout, or any multi-packet frame). werift's
 * DepacketizeCallback ends frames at the marker only, so it joined the cut-off old frame and the new layer's keyframe
 * into one "keyframe" that begins with the old frame's bytes: ffmpeg decoded garbage from it, the keyframe itself was
 * lost, and every following frame of the new layer was decoded against the wrong pictures (a green, smeared or
 * frozen tile) until the layer's next periodic keyframe, about a second later.
 *
 * A sequence gap (a packet lost for good) also drops the frame being assembled, and the next frame unless it visibly
 * starts after the gap (VP8: its first packet is a partition start; H.264: a keyframe).
 */
export class VideoFrameAssembler {
  /** Frames dropped because a packet of a later frame came before their marker (cut off, e.g. by a layer switch). */
  cutOff = 0;
  /** Frames dropped because of a sequence gap. */
  broken = 0;
  private packets: RtpPacket[] = [];
  private lastSeq?: number;
  /** Packets were lost just before the frame being assembled: it is incomplete unless it started after the gap. */
  private afterGap = false;
  /** Timestamp of a frame known to be incomplete (it began before a gap): its packets are skipped. */
  private skipTimestamp?: number;

  constructor(private readonly codec: VideoFrameCodec) {}

  /** Takes the next packet; returns the frame it completes, if any. */
  push(rtp: RtpPacket): AssembledFrame | undefined {
    const { sequenceNumber: seq, timestamp, marker } = rtp.header;
    if (this.lastSeq !== undefined) {
      const step = (seq - this.lastSeq) & 0xffff;
      if (step === 0 || step >= 0x8000) return undefined; // a duplicate or an old packet: already past it
      if (step !== 1) this.gap();
    }
    this.lastSeq = seq;
    const open = this.packets[0];
    if (open && open.header.timestamp !== timestamp) {
      // The open frame never got its marker: the stream went on with another frame.
      this.packets = [];
      this.cutOff++;
    }
    if (this.packets.length === 0 && this.afterGap) {
      this.afterGap = false;
      if (!this.startsFrame(rtp)) {
        this.broken++;
        this.skipTimestamp = timestamp;
      }
    }
    if (this.skipTimestamp === timestamp) {
      if (marker) this.skipTimestamp = undefined;
      return undefined;
    }
    this.skipTimestamp = undefined;
    this.packets.push(rtp);
    if (!marker) return undefined;
    return this.complete();
  }

  /** The jitter buffer gave up on a packet: whatever was being assembled is incomplete. */
  lost(): void {
    this.gap();
  }

  /** Forgets everything (the stream starts over). */
  reset(): void {
    this.packets = [];
    this.lastSeq = undefined;
    this.afterGap = false;
    this.skipTimestamp = undefined;
  }

  private gap(): void {
    if (this.packets.length) this.broken++;
    this.packets = [];
    this.afterGap = true;
  }

  private startsFrame(rtp: RtpPacket): boolean {
    const p = rtp.payload;
    if (this.codec === 'vp8') {
      // VP8 payload descriptor: S (start of partition) set and partition index 0.
      if (p.length < 1) return false;
      return (p[0]! & 0x10) !== 0 && (p[0]! & 0x0f) === 0;
    }
    return isKeyframePacket('h264', p);
  }

  private complete(): AssembledFrame | undefined {
    const packets = this.packets;
    this.packets = [];
    let out: ReturnType<typeof dePacketizeRtpPackets>;
    try {
      out = dePacketizeRtpPackets(WERIFT_CODEC[this.codec], packets);
    } catch {
      this.broken++;
      return undefined;
    }
    if (out.data.length === 0) return undefined;
    // VP8 says key or not in the frame's first bytes only: the first packet decides (werift's flag is "any packet").
    const isKeyframe = this.codec === 'vp8' ? isKeyframePacket('vp8', packets[0]!.payload) : out.isKeyframe;
    return { data: out.data, isKeyframe, timestamp: packets[0]!.header.timestamp };
  }
}
