import type { RTCRtpTransceiver, RtpPacket } from 'werift';
import { RtpFastSender } from '../peer/RtpFastSender.js';
import type { PacketSink, PublishedTrack } from './PublishedTrack.js';

const KEYFRAME_RETRY_MS = 1000;

/**
 * One published track forwarded to one subscriber, through a send-only transceiver of the subscriber's PC. Its werift
 * sender (through RtpFastSender) rewrites SSRC, payload type, sequence number and timestamp, and answers NACKs from its
 * packet history.
 * Video waits for a keyframe before its first packet, so a new subscriber never decodes from a broken reference.
 */
export class DownTrack implements PacketSink {
  private started: boolean;
  private negotiated = false;
  /** The mid the subscriber was told about (trackPublished), so a renegotiation announces only what is new. */
  announcedMid?: string;
  private lastInputSsrc?: number;
  private readonly unsubscribePli: () => void;
  private readonly out: RtpFastSender;

  private readonly createdAt = performance.now();
  /** When this down track last asked for the keyframe it waits for. */
  private askedAt = -Infinity;

  constructor(
    readonly published: PublishedTrack,
    readonly transceiver: RTCRtpTransceiver,
    /** Told when forwarding starts (after how long): a video that never starts is the thing to look for. */
    private readonly onStart?: (waitedMs: number) => void,
  ) {
    this.started = published.kind === 'audio';
    const sender = transceiver.sender;
    this.out = new RtpFastSender(sender);
    // The subscriber's keyframe requests (its decoder lost something) go to the publisher, coalesced there; and once the
    // subscriber's transport is up, the keyframe it starts with is asked for (one that came earlier could not be sent).
    const subs = [sender.onPictureLossIndication.subscribe(() => published.requestKeyframe()), sender.onReady.subscribe(() => published.requestKeyframe())];
    this.unsubscribePli = () => subs.forEach((s) => s.unSubscribe());
  }

  /**
   * The subscriber applied the offer that carries this track: from now on it can take packets (before, a browser
   * drops them as an unknown stream). Asks the publisher for the keyframe to start with.
   */
  markNegotiated(): void {
    if (this.negotiated) return;
    this.negotiated = true;
    this.published.requestKeyframe();
  }

  get mid(): string | undefined {
    return this.transceiver.mid ?? undefined;
  }

  write(packet: RtpPacket, keyframe: boolean): boolean {
    if (!this.started) {
      if (!this.negotiated || this.transceiver.sender.transport?.state !== 'connected') return false;
      if (!keyframe) {
        this.askAgain();
        return false;
      }
      this.started = true;
      this.onStart?.(performance.now() - this.createdAt);
      this.continueSequence(packet);
    } else if (packet.header.ssrc !== this.lastInputSsrc) {
      // The publisher's stream restarted (new SSRC): keep the subscriber's sequence and timestamps continuous.
      this.continueSequence(packet);
    }
    this.lastInputSsrc = packet.header.ssrc;
    this.out.send(packet);
    return true;
  }

  /**
   * Ready but still without a keyframe: the one asked for was lost or ignored (a publisher's encoder under load may
   * skip a request; its reply may be lost on the way). Ask again, once a second, until video starts.
   */
  private askAgain(): void {
    const now = performance.now();
    if (now - this.askedAt < KEYFRAME_RETRY_MS) return;
    if (this.askedAt !== -Infinity) this.published.requestKeyframe();
    this.askedAt = now;
  }

  /**
   * A sender that already sent (a reused transceiver, a restarted source) continues its numbering at the next packet;
   * for a sender that never sent, werift keeps the input numbering.
   */
  private continueSequence(packet: RtpPacket): void {
    this.transceiver.sender.replaceRTP(packet.header);
  }

  close(): void {
    this.unsubscribePli();
    this.published.removeSink(this);
  }
}
