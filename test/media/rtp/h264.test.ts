// Where an H.264 stream can be started or switched to (the first packet of a keyframe: the one carrying the SPS), and
// the resolution its SPS announces, on crafted RTP payloads (RFC 6184) around real parameter sets: Chromium 156's
// (OpenH264, the three simulcast layers of a 320x240 camera, as captured by test/e2e/simulcastH264.test.ts) and x264's.
import { describe, expect, it } from 'vitest';
import { h264KeyframeSize, h264PacketStart, h264SpsOf } from '../../../src/media/rtp/h264.js';
import { isKeyframePacket, KeyframeStarts } from '../../../src/media/rtp/keyframe.js';

const hex = (s: string) => Buffer.from(s, 'hex');
/** Chromium 156 / OpenH264 (constrained baseline): 80x60, 160x120, 320x240 layers; one PPS. */
const CHROMIUM_SPS = [hex('6742c00c8c8d4292f700f08846a0'), hex('6742c00c8c8d41422f2c03c2211a80'), hex('6742c0158c8d40a0f900f08846a0')];
const PPS = hex('68ce3c80');
/** x264 (ffmpeg libx264): baseline 80x60, high 1280x720 and main 1920x1080 (both cropped), with emulation prevention bytes. */
const X264_SPS = {
  '80x60': hex('6742c00ad90527ef0110000003001000000301e0f1226480'),
  '1280x720': hex('6764001facd9405005bb0110000003001000000301e0f1831960'),
  '1920x1080': hex('674d4028eca03c0113f2e0220000030002000003003c1e30632c'),
};
/** An IDR slice NAL unit (header 0x65: nri 3, type 5) and a non-IDR one (0x41: type 1), bodies made up. */
const IDR = Buffer.concat([hex('65'), Buffer.alloc(3000, 0x5a)]);
const NON_IDR = hex('419a2438');

/** A STAP-A (type 24) of these NAL units. */
function stapA(...nals: Buffer[]): Buffer {
  return Buffer.concat([hex('78'), ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);
}

/** `nal` in FU-A fragments (type 28) of at most `size` bytes of its body. */
function fuA(nal: Buffer, size = 1000): Buffer[] {
  const body = nal.subarray(1);
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) {
    const s = at === 0 ? 0x80 : 0;
    const e = at + size >= body.length ? 0x40 : 0;
    out.push(Buffer.concat([Buffer.from([(nal[0]! & 0xe0) | 28, s | e | (nal[0]! & 0x1f)]), body.subarray(at, at + size)]));
  }
  return out;
}

describe('h264PacketStart / isKeyframePacket (where a decoder can start)', () => {
  const sps = CHROMIUM_SPS[2]!;

  it('a STAP-A with SPS and PPS is the start of a keyframe, and so is one that carries the IDR as well', () => {
    expect(h264PacketStart(stapA(sps, PPS))).toBe('sps');
    expect(h264PacketStart(stapA(sps, PPS, IDR.subarray(0, 100)))).toBe('sps');
    expect(isKeyframePacket('h264', stapA(sps, PPS))).toBe(true);
    expect(isKeyframePacket('h264', stapA(sps, PPS, IDR.subarray(0, 100)))).toBe(true);
  });

  it('an SPS sent as a single NAL unit is the start; the PPS after it is not', () => {
    expect(h264PacketStart(sps)).toBe('sps');
    expect(isKeyframePacket('h264', sps)).toBe(true);
    expect(h264PacketStart(PPS)).toBeUndefined();
    expect(isKeyframePacket('h264', PPS)).toBe(false);
  });

  it('the IDR that follows its parameter sets is not: the first fragment starts an IDR, the others nothing', () => {
    const fragments = fuA(IDR);
    expect(fragments.length).toBeGreaterThan(2);
    expect(fragments.map((f) => h264PacketStart(f))).toEqual(['idr', ...fragments.slice(1).map(() => undefined)]);
    expect(fragments.map((f) => isKeyframePacket('h264', f))).toEqual(fragments.map(() => false));
    // A whole IDR in one packet, or in a STAP-A without an SPS, starts an IDR but no keyframe with parameter sets.
    expect(h264PacketStart(IDR.subarray(0, 100))).toBe('idr');
    expect(h264PacketStart(stapA(PPS, IDR.subarray(0, 100)))).toBe('idr');
    expect(isKeyframePacket('h264', IDR.subarray(0, 100))).toBe(false);
  });

  it('non-IDR pictures, whole or in fragments, start nothing', () => {
    expect(h264PacketStart(NON_IDR)).toBeUndefined();
    const p = Buffer.concat([hex('41'), Buffer.alloc(2500, 7)]);
    expect(fuA(p).map((f) => h264PacketStart(f))).toEqual([undefined, undefined, undefined]);
    expect(h264PacketStart(stapA(hex('06050102'), NON_IDR))).toBeUndefined(); // SEI + slice
  });

  it('malformed or empty payloads start nothing (and do not throw)', () => {
    expect(h264PacketStart(Buffer.alloc(0))).toBeUndefined();
    expect(isKeyframePacket('h264', Buffer.alloc(0))).toBe(false);
    expect(h264PacketStart(hex('7c'))).toBeUndefined(); // FU-A without its header
    expect(h264PacketStart(hex('7800ff6742'))).toBeUndefined(); // STAP-A announcing more than it holds
    expect(h264PacketStart(hex('78'))).toBeUndefined();
  });

  it('VP8 is judged as before: the first packet of a key picture', () => {
    const key = hex('90e0dc8c1320b003009d012a50003c000487'); // Chromium 156, an 80x60 keyframe's first packet
    const delta = hex('b0e0dc8d13a0b10300121c240c2c2c44cc24');
    expect(isKeyframePacket('vp8', key)).toBe(true);
    expect(isKeyframePacket('vp8', delta)).toBe(false);
  });
});

describe('KeyframeStarts (one received stream)', () => {
  const sps = CHROMIUM_SPS[0]!;

  it('a stream that sends SPS and PPS before each IDR (Chromium) starts only at the SPS packet', () => {
    const starts = new KeyframeStarts('h264');
    const keyframe = [stapA(sps, PPS), ...fuA(IDR)];
    const stream = [NON_IDR, ...keyframe, NON_IDR, NON_IDR, ...keyframe, NON_IDR];
    expect(stream.map((p) => starts.isStart(p))).toEqual(stream.map((p) => p === keyframe[0]));
    // Once SPS came in-band, an IDR whose SPS packet went missing is no start.
    expect(starts.isStart(fuA(IDR)[0]!)).toBe(false);
    expect(starts.isStart(IDR.subarray(0, 100))).toBe(false);
  });

  it('a stream whose IDRs never come with an SPS starts at the first packet of each IDR', () => {
    const starts = new KeyframeStarts('h264');
    const fragments = fuA(IDR);
    expect([NON_IDR, ...fragments, NON_IDR].map((p) => starts.isStart(p))).toEqual([false, true, ...fragments.slice(1).map(() => false), false]);
    expect(starts.isStart(IDR.subarray(0, 100))).toBe(true);
    // The first SPS seen makes it a stream with in-band parameter sets.
    expect(starts.isStart(sps)).toBe(true);
    expect(starts.isStart(fragments[0]!)).toBe(false);
  });

  it('VP8 as isKeyframePacket', () => {
    const starts = new KeyframeStarts('vp8');
    expect(starts.isStart(hex('90e0dc8c1320b003009d012a50003c000487'))).toBe(true);
    expect(starts.isStart(hex('b0e0dc8d13a0b10300121c240c2c2c44cc24'))).toBe(false);
  });
});

describe('h264KeyframeSize (a layer\'s resolution from its SPS)', () => {
  it('reads Chromium\'s simulcast layers, as a STAP-A with the PPS or a single NAL unit', () => {
    const sizes = [
      { width: 80, height: 60 },
      { width: 160, height: 120 },
      { width: 320, height: 240 },
    ];
    expect(CHROMIUM_SPS.map((sps) => h264KeyframeSize(stapA(sps, PPS)))).toEqual(sizes);
    expect(CHROMIUM_SPS.map((sps) => h264KeyframeSize(sps))).toEqual(sizes);
    expect(h264KeyframeSize(stapA(CHROMIUM_SPS[2]!, PPS, IDR.subarray(0, 50)))).toEqual(sizes[2]);
  });

  it('reads x264\'s baseline, main and high profiles, cropped sizes and emulation prevention bytes', () => {
    expect(Object.fromEntries(Object.entries(X264_SPS).map(([k, sps]) => [k, h264KeyframeSize(sps)]))).toEqual({
      '80x60': { width: 80, height: 60 },
      '1280x720': { width: 1280, height: 720 },
      '1920x1080': { width: 1920, height: 1080 },
    });
  });

  it('nothing for packets without an SPS or with a truncated one', () => {
    expect(h264KeyframeSize(PPS)).toBeUndefined();
    expect(h264KeyframeSize(fuA(IDR)[0]!)).toBeUndefined();
    expect(h264KeyframeSize(NON_IDR)).toBeUndefined();
    expect(h264KeyframeSize(CHROMIUM_SPS[2]!.subarray(0, 6))).toBeUndefined();
    expect(h264SpsOf(stapA(PPS, CHROMIUM_SPS[1]!))).toEqual(CHROMIUM_SPS[1]);
  });
});
