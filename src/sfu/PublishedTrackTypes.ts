import type { RtpPacket } from 'werift';

/** What a published track hands each packet to: one per subscriber (DownTrack) or tap. */
export interface PacketSink {
  /** True when the packet was sent on (handed to the socket, encrypted, before this returns), false when it was not. */
  write(packet: RtpPacket, keyframe: boolean): boolean;
  /**
   * True: write() only reads the packet (sequence number, timestamp, payload) while it runs, and never sends it on,
   * so it gets the packet as received, with the publisher's header extensions, instead of a stripped copy.
   */
  readonly readsOnly?: boolean;
}
