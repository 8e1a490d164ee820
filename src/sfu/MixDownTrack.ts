import type { RTCRtpTransceiver, RtpPacket } from 'werift';
import { RtpFastSender } from '../peer/RtpFastSender.js';

/**
 * The live mix sent to one participant of an MCU room, on a send-only audio transceiver of its subscriber PC. The
 * packets it is given number their sequence and timestamp from the mix's tick, shared by all of the mix's streams, so
 * moving a listener from the room mix to its mix-minus-self (and back) needs no rewriting: werift's sender only maps
 * SSRC and payload type.
 */
export class MixDownTrack {
  /** The mid the subscriber was told about (trackPublished). */
  announcedMid?: string;
  private negotiated = false;
  private readonly out: RtpFastSender;

  constructor(
    readonly transceiver: RTCRtpTransceiver,
    /** The participant listening: the mix it gets leaves this participant's own voice out. */
    readonly listener: string,
  ) {
    this.out = new RtpFastSender(transceiver.sender);
  }

  get mid(): string | undefined {
    return this.transceiver.mid ?? undefined;
  }

  /** The subscriber applied the offer that carries this track (before, a browser drops what it gets). */
  markNegotiated(): void {
    this.negotiated = true;
  }

  /** False when the packet was not handed over (the subscriber has not applied the offer yet). */
  send(packet: RtpPacket): boolean {
    if (!this.negotiated) return false;
    // The sender copies the header before rewriting it: one packet object serves every listener of a stream.
    this.out.send(packet);
    return true;
  }
}
