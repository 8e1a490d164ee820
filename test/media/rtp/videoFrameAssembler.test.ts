import { RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import { VideoFrameAssembler } from '../../../src/media/rtp/VideoFrameAssembler.js';

/**
 * A VP8 frame of `parts` packets: payload descriptor (S on the first, partition 0) + bytes. A keyframe's first bytes
 * carry the VP8 key flag (bit 0 clear) and the start code; an inter frame's bit 0 is set.
 */
function vp8Frame(seq: number, timestamp: number, parts: number, key: boolean, fill: number): RtpPacket[] {
  return Array.from({ length: parts }, (_, i) => {
    const body = Buffer.alloc(20, fill);
    if (i === 0) {
      body[0] = key ? 0x10 : 0x11;
      if (key) body.set([0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00], 3);
    }
    const payload = Buffer.concat([Buffer.from([i === 0 ? 0x10 : 0x00]), body]);
    return new RtpPacket(new RtpHeader({ sequenceNumber: (seq + i) & 0xffff, timestamp, marker: i === parts - 1, payloadType: 96 }), payload);
  });
}

const feed = (a: VideoFrameAssembler, packets: RtpPacket[]) => packets.map((p) => a.push(p)).filter((f) => f !== undefined);

describe('VideoFrameAssembler', () => {
  it('joins the packets of a frame up to its marker', () => {
    const a = new VideoFrameAssembler('vp8');
    const frames = feed(a, [...vp8Frame(100, 3000, 3, true, 0xaa), ...vp8Frame(103, 6000, 2, false, 0xbb)]);
    expect(frames.map((f) => [f.timestamp, f.isKeyframe, f.data.length])).toEqual([
      [3000, true, 60],
      [6000, false, 40],
    ]);
    expect(a.cutOff).toBe(0);
  });

  it('drops a frame cut off by a layer switch instead of joining it to the new layer\'s keyframe', () => {
    // The old layer's 5-packet frame is cut after 2 packets; the new layer's keyframe continues the numbering.
    const a = new VideoFrameAssembler('vp8');
    const old = vp8Frame(200, 9000, 5, false, 0x11).slice(0, 2);
    const key = vp8Frame(202, 12003, 3, true, 0x22);
    const frames = feed(a, [...vp8Frame(190, 6000, 10, false, 0x33), ...old, ...key]);
    expect(frames.map((f) => f.timestamp)).toEqual([6000, 12003]);
    const k = frames[1]!;
    expect(k.isKeyframe).toBe(true);
    // The keyframe alone, starting with its own header (werift's depacketizer put the cut-off bytes first).
    expect(k.data.length).toBe(60);
    expect(k.data.subarray(3, 6)).toEqual(Buffer.from([0x9d, 0x01, 0x2a]));
    expect(a.cutOff).toBe(1);
  });

  it('does the same when the cut-off frame is itself a keyframe (the old layer answering a keyframe request)', () => {
    const a = new VideoFrameAssembler('vp8');
    const frames = feed(a, [...vp8Frame(10, 1000, 20, true, 0x44).slice(0, 7), ...vp8Frame(17, 1001, 4, true, 0x55)]);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.timestamp).toBe(1001);
    expect(frames[0]!.data.length).toBe(80);
  });

  it('after a sequence gap drops the frame it fell into, keeps the next one that starts cleanly', () => {
    const a = new VideoFrameAssembler('vp8');
    const f1 = vp8Frame(0, 0, 4, true, 1);
    const f2 = vp8Frame(4, 3000, 4, false, 2);
    const f3 = vp8Frame(8, 6000, 2, false, 3);
    // f1's third packet lost; then f2's first two lost (f2 is incomplete too), f3 whole.
    const frames = feed(a, [f1[0]!, f1[1]!, f1[3]!, f2[2]!, f2[3]!, ...f3]);
    expect(frames.map((f) => f.timestamp)).toEqual([6000]);
    expect(a.broken).toBeGreaterThanOrEqual(2);
  });

  it('marks a frame a keyframe only when its first packet starts one', () => {
    const a = new VideoFrameAssembler('vp8');
    const inter = vp8Frame(0, 0, 2, false, 1);
    // A keyframe flag on a later packet (as werift's "any packet" rule would count) does not make it one.
    inter[1]!.payload[0] = 0x10;
    inter[1]!.payload[1] = 0x10;
    const frames = feed(a, inter);
    expect(frames[0]!.isKeyframe).toBe(false);
  });

  it('ignores duplicates and late packets', () => {
    const a = new VideoFrameAssembler('vp8');
    const f = vp8Frame(65534, 0, 3, true, 1);
    const frames = feed(a, [f[0]!, f[0]!, f[1]!, f[0]!, f[2]!]);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.data.length).toBe(60);
  });
});
