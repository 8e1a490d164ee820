import type { RTCRtpReceiver, RtpPacket } from 'werift';

/** werift 0.25's per-receiver NACK tracker, as RTCRtpReceiver.handleRTP uses it (TypeScript calls it private). */
interface NackTracker {
  addPacket(packet: RtpPacket): void;
  close(): void;
  onPacketLost: { execute(...args: unknown[]): void; subscribe(fn: (...args: unknown[]) => void): unknown };
}

/**
 * Gives a receiver one NACK tracker per SSRC. werift keeps one per receiver, which is right for one stream; a
 * simulcast receiver gets three streams with unrelated sequence numbers, and a single tracker takes every jump between
 * them for a burst of losses: hundreds of NACKs a second for packets nobody lost, sent with the wrong stream's SSRC.
 * Each SSRC's tracker reports through the receiver's own `onPacketLost` (what the recorder counts).
 * Idempotent; a receiver of one stream gains nothing from it.
 */
export function trackNacksPerSsrc(receiver: RTCRtpReceiver): void {
  const r = receiver as unknown as { nack: NackTracker & { perSsrc?: true } };
  const original = r.nack;
  if (original.perSsrc) return;
  const Tracker = original.constructor as new (receiver: RTCRtpReceiver) => NackTracker;
  const bySsrc = new Map<number, NackTracker>();
  const perSsrc = {
    perSsrc: true as const,
    onPacketLost: original.onPacketLost,
    addPacket(packet: RtpPacket): void {
      let tracker = bySsrc.get(packet.header.ssrc);
      if (!tracker) {
        tracker = new Tracker(receiver);
        tracker.onPacketLost.subscribe((...args) => original.onPacketLost.execute(...args));
        bySsrc.set(packet.header.ssrc, tracker);
      }
      tracker.addPacket(packet);
    },
    close(): void {
      for (const t of bySsrc.values()) t.close();
      original.close();
    },
  };
  r.nack = perSsrc as unknown as NackTracker & { perSsrc: true };
}
