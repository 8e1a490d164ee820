// werift's NACK path as patched (patches/werift+*.patch): the receiver's NackHandler across the 65535 → 0 wrap, and
// GenericNack's PID+BLP encoding both ways. Real werift objects; the receiver's transport is a stand-in that keeps what
// would go on the wire (serialized and parsed back, as the sender would read it).
import * as werift from 'werift';
import { GenericNack, RtcpPacketConverter, RtcpTransportLayerFeedback, RtpHeader, RtpPacket } from 'werift';
import { afterEach, describe, expect, it } from 'vitest';

interface NackHandlerLike {
  addPacket(packet: RtpPacket): void;
  lostSeqNumbers: number[];
  close(): void;
  nackLoop?: unknown;
}
const { NackHandler } = werift as unknown as { NackHandler: new (receiver: unknown) => NackHandlerLike };

const handlers: NackHandlerLike[] = [];
afterEach(() => handlers.splice(0).forEach((h) => h.close()));

/** A NackHandler whose NACKs are serialized, parsed back, and collected as the lists the sender would read. */
function receiver() {
  const sent: number[][] = [];
  const fake = {
    rtcpSsrc: 1,
    dtlsTransport: {
      sendRtcp: async (packets: RtcpTransportLayerFeedback[]) => {
        for (const p of packets) {
          const [parsed] = RtcpPacketConverter.deSerialize(p.serialize()) as RtcpTransportLayerFeedback[];
          sent.push((parsed!.feedback as GenericNack).lost);
        }
      },
    },
  };
  const nack = new NackHandler(fake);
  handlers.push(nack);
  const feed = (...seqs: number[]) => {
    for (const sequenceNumber of seqs) nack.addPacket(new RtpPacket(new RtpHeader({ sequenceNumber, ssrc: 42, payloadType: 96 }), Buffer.alloc(1)));
  };
  return { nack, sent, feed };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('werift NACK across the sequence-number wrap (patched)', () => {
  it('asks for packets lost across 65535 → 0 and keeps asking for later losses', async () => {
    const { nack, sent, feed } = receiver();
    feed(65530, 65531, 65532, 65533, 2); // 65534, 65535, 0, 1 lost across the wrap
    expect(nack.lostSeqNumbers).toEqual([65534, 65535, 0, 1]);
    await tick(20);
    // The sender reads exactly these numbers (one PID+BLP pair: 65534 with bits for 65535, 0, 1).
    expect(sent[0]).toEqual([65534, 65535, 0, 1]);
    feed(65534, 65535, 0, 1); // retransmissions
    expect(nack.lostSeqNumbers).toEqual([]);
    // Unpatched, tracking stuck at 65533 here: nothing after the wrap was ever NACKed.
    feed(3, 4, 6);
    expect(nack.lostSeqNumbers).toEqual([5]);
  });

  it('treats a late packet from before the wrap as late, not as 65,000 losses', () => {
    const { nack, feed } = receiver();
    feed(65534, 65535, 0, 1, 2);
    feed(65533); // reordered or duplicated, from before the wrap
    expect(nack.lostSeqNumbers).toEqual([]);
    feed(4);
    expect(nack.lostSeqNumbers).toEqual([3]);
  });

  it('tracks from a first packet numbered 0, and 0 after a wrap, like any other', () => {
    const { nack, feed } = receiver();
    feed(0, 2);
    expect(nack.lostSeqNumbers).toEqual([1]);
    const b = receiver();
    b.feed(65535, 0, 3);
    expect(b.nack.lostSeqNumbers).toEqual([1, 2]);
  });

  it('orders the lost list numerically, oldest first (not as strings), and keeps the newest 150', () => {
    const { nack, feed } = receiver();
    feed(8, 10, 12, 100, 102);
    expect(nack.lostSeqNumbers).toEqual([9, 11, ...Array.from({ length: 87 }, (_, i) => 13 + i), 101]);
    const b = receiver();
    b.feed(65000, 65000 + 400); // a jump: only the newest 150 are asked for
    expect(b.nack.lostSeqNumbers).toHaveLength(150);
    expect(b.nack.lostSeqNumbers[0]).toBe(65000 + 400 - 150);
    expect(b.nack.lostSeqNumbers.at(-1)).toBe(65000 + 399);
  });

  it('stops its 5 ms loop once every loss is recovered', async () => {
    const { nack, feed } = receiver();
    feed(100, 102);
    await tick(12);
    feed(101);
    await tick(20);
    expect(nack.nackLoop).toBeUndefined();
  });
});

describe('GenericNack PID+BLP across the wrap (patched)', () => {
  it('parses BLP bits past 65535 as 0, 1, … (the sender retransmits them)', () => {
    const lost = [65533, 65535, 0, 1, 5];
    const wire = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 2, lost }) }).serialize();
    // One FCI entry for all of them (header 4 + SSRCs 8 + one PID+BLP 4).
    expect(wire.length).toBe(16);
    const [parsed] = RtcpPacketConverter.deSerialize(wire) as RtcpTransportLayerFeedback[];
    expect((parsed!.feedback as GenericNack).lost).toEqual(lost);
  });
});
