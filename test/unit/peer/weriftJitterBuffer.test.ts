// werift's jitter buffer (werift/nonstandard) as patched: a packet that never comes costs only itself. Before the patch,
// a timeout jumped to the packet just received, skipped the buffered packets in between and sent them later, out of
// order (and the input twice): ~100 ms of Opus lost per lost packet and non-monotonic timestamps in the track file.
import { RtpHeader, RtpPacket } from 'werift';
import { JitterBufferBase } from 'werift/nonstandard';
import { describe, expect, it } from 'vitest';

const packet = (seq: number) => new RtpPacket(new RtpHeader({ sequenceNumber: seq & 0xffff, timestamp: (seq * 960) >>> 0, payloadType: 111, ssrc: 1 }), Buffer.alloc(1));

/** Feeds the sequence numbers in order; returns what came out (numbers, and 'lost' where a loss was reported). */
function run(seqs: number[], latency = 100): Array<number | 'lost'> {
  const jb = new JitterBufferBase(48_000, { latency });
  const out: Array<number | 'lost'> = [];
  for (const s of seqs) {
    for (const o of jb.processInput({ rtp: packet(s) })) {
      if (o.isPacketLost) out.push('lost');
      if (o.rtp) out.push(o.rtp.header.sequenceNumber);
    }
  }
  return out;
}

describe('werift jitter buffer (patched)', () => {
  it('gives up on a lost packet only: everything after it comes out once, in order', () => {
    const seqs = [1, 2, ...Array.from({ length: 20 }, (_, i) => 4 + i)]; // 3 never comes
    expect(run(seqs)).toEqual([1, 2, 'lost', ...Array.from({ length: 20 }, (_, i) => 4 + i)]);
  });

  it('keeps waiting for a second gap behind the first', () => {
    // 3 and 6 lost: 4, 5 go out when 3 times out; 7… wait for 6 until it times out too.
    const out = run([1, 2, 4, 5, ...Array.from({ length: 20 }, (_, i) => 7 + i)]);
    expect(out).toEqual([1, 2, 'lost', 4, 5, 'lost', ...Array.from({ length: 20 }, (_, i) => 7 + i)]);
  });

  it('handles a timeout across the 65535 → 0 wrap, at sequence number 0 too', () => {
    const seqs = [65533, 65534, ...Array.from({ length: 20 }, (_, i) => (65536 + i) & 0xffff)]; // 65535 lost
    expect(run(seqs)).toEqual([65533, 65534, 'lost', ...Array.from({ length: 20 }, (_, i) => i)]);
  });

  it('puts reordered packets back in order without reporting a loss', () => {
    expect(run([1, 3, 2, 5, 4, 6])).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
