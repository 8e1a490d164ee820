// The live mix's packetizer: 20 ms ticks into 20 or 40 ms RTP packets per listener (pure, no network).
import { describe, expect, it } from 'vitest';
import type { RtpPacket } from 'werift';
import type { LiveMixFrame } from '../../src/media/audio/LiveAudioMixTypes.js';
import { opusPacketSamples } from '../../src/media/audio/opusPacket.js';
import { MixPacketizer } from '../../src/sfu/MixPacketizer.js';

const CELT_FB_20MS = 0xf8;
const SILK_WB_20MS = 0x48;
const frame = (byte: number, toc = CELT_FB_20MS, size = 5) => Buffer.concat([Buffer.of(toc), Buffer.alloc(size, byte)]);
const tick = (index: number, all: Buffer | undefined, minus: Record<string, Buffer> = {}): LiveMixFrame => ({ index, speakers: Object.keys(minus), all, minus: new Map(Object.entries(minus)), levels: new Map() });
const summary = (packets: RtpPacket[] | undefined) => (packets ?? []).map((p) => ({ seq: p.header.sequenceNumber, ts: p.header.timestamp, ms: opusPacketSamples(p.payload) / 48 }));

describe('MixPacketizer', () => {
  it('20 ms: one packet a tick per listener, one object per distinct frame, sequence numbers one per tick', () => {
    const p = new MixPacketizer();
    const a = frame(1);
    const m = frame(2);
    const out = p.push(tick(7, a, { S: m }), ['L1', 'L2', 'S'], 1);
    expect(out.get('L1')![0]).toBe(out.get('L2')![0]);
    expect(out.get('S')![0]!.payload).toBe(m);
    expect(summary(out.get('L1'))).toEqual([{ seq: 0, ts: 7 * 960, ms: 20 }]);
    expect(summary(p.push(tick(8, a), ['L1'], 1).get('L1'))).toEqual([{ seq: 1, ts: 8 * 960, ms: 20 }]);
  });

  it('40 ms: nothing at the first tick, then one packet with both frames, timed at the first', () => {
    const p = new MixPacketizer();
    expect(p.push(tick(10, frame(1)), ['L1', 'L2'], 2).size).toBe(0);
    const out = p.push(tick(11, frame(2, CELT_FB_20MS, 9)), ['L1', 'L2'], 2);
    expect(out.get('L1')![0]).toBe(out.get('L2')![0]);
    expect(summary(out.get('L1'))).toEqual([{ seq: 0, ts: 10 * 960, ms: 40 }]);
    expect(out.get('L1')![0]!.payload[0]! & 3).toBe(2); // two frames of different sizes
    expect(p.push(tick(12, frame(3)), ['L1'], 2).size).toBe(0);
    expect(summary(p.push(tick(13, frame(4)), ['L1'], 2).get('L1'))).toEqual([{ seq: 1, ts: 12 * 960, ms: 40 }]);
  });

  it('40 ms: a listener who becomes a speaker mid-packet gets the room mix, then its mix-minus, in one packet', () => {
    const p = new MixPacketizer();
    const all1 = frame(1);
    const all2 = frame(2);
    const minusS = frame(3);
    p.push(tick(0, all1), ['L', 'S'], 2);
    const out = p.push(tick(1, all2, { S: minusS }), ['L', 'S'], 2);
    const s = out.get('S')![0]!.payload;
    expect([...s.subarray(1)]).toEqual([...all1.subarray(1), ...minusS.subarray(1)]);
    expect([...out.get('L')![0]!.payload.subarray(1)]).toEqual([...all1.subarray(1), ...all2.subarray(1)]);
    expect(out.get('L')![0]!.header.sequenceNumber).toBe(out.get('S')![0]!.header.sequenceNumber);
  });

  it('40 ms: frames that cannot share a packet go as two 20 ms packets to everybody that time', () => {
    const p = new MixPacketizer();
    p.push(tick(0, frame(1)), ['L1', 'L2'], 2);
    const out = p.push(tick(1, frame(2, SILK_WB_20MS)), ['L1', 'L2'], 2);
    expect(summary(out.get('L1'))).toEqual([
      { seq: 0, ts: 0, ms: 20 },
      { seq: 1, ts: 960, ms: 20 },
    ]);
    expect(p.apart).toBe(1);
    p.push(tick(2, frame(3)), ['L1'], 2);
    expect(summary(p.push(tick(3, frame(4)), ['L1'], 2).get('L1'))).toEqual([{ seq: 2, ts: 2 * 960, ms: 40 }]);
  });

  it('40 ms: a listener who arrives at the second tick gets that tick alone, in the same sequence', () => {
    const p = new MixPacketizer();
    p.push(tick(0, frame(1)), ['L1'], 2);
    const out = p.push(tick(1, frame(2)), ['L1', 'New'], 2);
    expect(summary(out.get('L1'))).toEqual([{ seq: 0, ts: 0, ms: 40 }]);
    expect(summary(out.get('New'))).toEqual([{ seq: 0, ts: 960, ms: 20 }]);
  });

  it('a held first half goes alone when its second never comes (ticks skipped) or the room goes back to 20 ms', () => {
    const p = new MixPacketizer();
    p.push(tick(0, frame(1)), ['L'], 2);
    // Ticks 1-4 skipped in a stall: tick 0 goes alone, tick 5 starts the next packet.
    expect(summary(p.push(tick(5, frame(2)), ['L'], 2).get('L'))).toEqual([{ seq: 0, ts: 0, ms: 20 }]);
    const back = p.push(tick(6, frame(3)), ['L'], 1);
    expect(summary(back.get('L'))).toEqual([
      { seq: 1, ts: 5 * 960, ms: 20 },
      { seq: 2, ts: 6 * 960, ms: 20 },
    ]);
  });
});
