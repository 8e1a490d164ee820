// Leaving out VP8 temporal layers for one subscriber (TemporalFilter + Vp8Munger, as DownTrack uses them): what the
// subscriber gets must look like one complete stream: sequence numbers without holes, PictureIDs without gaps,
// TL0PICIDX as sent, retransmissions and NACKs mapped to the right packets, and a raise only at a sync point.
import { describe, expect, it } from 'vitest';
import { parseVp8Descriptor } from '../../src/media/rtp/vp8Descriptor.js';
import { TemporalFilter } from '../../src/sfu/TemporalFilter.js';
import { Vp8Munger } from '../../src/sfu/Vp8Munger.js';

interface In {
  seq: number;
  ts: number;
  marker: boolean;
  payload: Buffer;
  tid: number;
  frame: number;
}

/** Chromium's L1T3 pattern (TID 0 2 1 2 …), `packetsPerFrame` packets a frame; Y on the first TID 1 and 2 frame after each TL0 when `sync`. */
function stream(frames: number, opts: { packetsPerFrame?: number; firstSeq?: number; firstPictureId?: number; sync?: boolean } = {}): In[] {
  const out: In[] = [];
  const n = opts.packetsPerFrame ?? 2;
  let seq = opts.firstSeq ?? 100;
  let tl0 = 10;
  for (let f = 0; f < frames; f++) {
    const tid = [0, 2, 1, 2][f % 4]!;
    if (tid === 0 && f > 0) tl0 = (tl0 + 1) & 0xff;
    const y = opts.sync === true && (f % 4 === 1 || f % 4 === 2);
    const pictureId = ((opts.firstPictureId ?? 1000) + f) & 0x7fff;
    for (let p = 0; p < n; p++) {
      const start = p === 0 ? 0x10 : 0;
      const payload = Buffer.from([0x80 | start, 0xe0, 0x80 | (pictureId >> 8), pictureId & 0xff, tl0, (tid << 6) | (y ? 0x20 : 0), f & 0xff, p]);
      out.push({ seq: seq & 0xffff, ts: 3000 * f, marker: p === n - 1, payload, tid, frame: f });
      seq++;
    }
  }
  return out;
}

/** One subscriber's forwarding: what DownTrack does per packet. Keeps what was sent by output number, as werift's NACK history does. */
class Forward {
  readonly filter = new TemporalFilter();
  readonly munger = new Vp8Munger();
  readonly sent: Array<{ seq: number; payload: Buffer; from: In }> = [];
  readonly history = new Map<number, { payload: Buffer; from: In }>();

  constructor() {
    this.filter.reset();
  }

  push(p: In): { seq: number; payload: Buffer } | undefined {
    const d = parseVp8Descriptor(p.payload);
    const seq = this.filter.filter(p.seq, p.ts, p.marker, d);
    if (seq === undefined) {
      this.munger.drop(d);
      return undefined;
    }
    const payload = this.munger.munge(p.payload, d);
    this.sent.push({ seq, payload, from: p });
    this.history.set(seq, { payload, from: p });
    return { seq, payload };
  }
}

const pictureIds = (f: Forward) => [...new Set(f.sent.map((s) => parseVp8Descriptor(s.payload)!.pictureId))];
const seqSteps = (f: Forward) => f.sent.slice(1).map((s, i) => (s.seq - f.sent[i]!.seq) & 0xffff);

describe('TemporalFilter: a temporal cap for one subscriber', () => {
  it('cap 1 (15 of 30 fps): only TID 0 and 1 frames, sequence numbers and PictureIDs without holes, TL0PICIDX as sent', () => {
    const fwd = new Forward();
    fwd.filter.setCap(1);
    fwd.filter.reset();
    const input = stream(40);
    input.forEach((p) => fwd.push(p));
    expect(fwd.sent.every((s) => s.from.tid <= 1)).toBe(true);
    expect(new Set(fwd.sent.map((s) => s.from.frame)).size, 'half the frames').toBe(20);
    expect(seqSteps(fwd).every((d) => d === 1), 'contiguous sequence numbers').toBe(true);
    const ids = pictureIds(fwd);
    expect(ids.slice(1).every((id, i) => id! - ids[i]! === 1), 'contiguous PictureIDs').toBe(true);
    // TL0PICIDX unchanged: each TL0 frame keeps its own.
    for (const s of fwd.sent) expect(parseVp8Descriptor(s.payload)!.tl0PicIdx).toBe(s.from.payload[4]);
    // Frames keep both their packets and their marker on the last one.
    expect(fwd.sent.filter((s) => s.from.marker).length).toBe(20);
  });

  it('cap 0: 7.5 fps of TL0 frames, still without holes; no cap: everything unchanged (same numbers, same buffers)', () => {
    const low = new Forward();
    low.filter.setCap(0);
    low.filter.reset();
    stream(40).forEach((p) => low.push(p));
    expect(new Set(low.sent.map((s) => s.from.frame)).size).toBe(10);
    expect(seqSteps(low).every((d) => d === 1)).toBe(true);
    const all = new Forward();
    const input = stream(12);
    input.forEach((p) => all.push(p));
    expect(all.sent.map((s) => s.seq)).toEqual(input.map((p) => p.seq));
    expect(all.sent.every((s) => s.payload === s.from.payload)).toBe(true);
  });

  it('a retransmitted packet gets the number it got the first time; one of a dropped frame is dropped again', () => {
    const fwd = new Forward();
    fwd.filter.setCap(1);
    fwd.filter.reset();
    const input = stream(12);
    input.forEach((p) => fwd.push(p));
    const kept = fwd.sent.find((s) => s.from.frame === 2)!; // a TID 1 frame after a dropped TID 2 one
    const again = fwd.push(kept.from)!;
    expect(again.seq).toBe(kept.seq);
    expect(parseVp8Descriptor(again.payload)!.pictureId).toBe(parseVp8Descriptor(kept.payload)!.pictureId);
    expect(fwd.push(input.find((p) => p.frame === 5)!)).toBeUndefined();
  });

  it('a NACK for any number sent maps to the original packet it was given to', () => {
    const fwd = new Forward();
    fwd.filter.setCap(1);
    fwd.filter.reset();
    stream(40).forEach((p) => fwd.push(p));
    for (const s of fwd.sent) {
      const answered = fwd.history.get(s.seq)!;
      expect(answered.from).toBe(s.from);
      // The VP8 data is the original's (only the descriptor's PictureID is renumbered).
      expect(answered.payload.subarray(6).equals(s.from.payload.subarray(6))).toBe(true);
    }
    expect(fwd.history.size, 'one packet per number').toBe(fwd.sent.length);
  });

  it('a packet lost upstream keeps its hole (the subscriber NACKs it); retransmitted late, it fills that hole', () => {
    const fwd = new Forward();
    fwd.filter.setCap(1);
    fwd.filter.reset();
    const input = stream(12);
    const lost = input.find((p) => p.frame === 4 && p.marker)!; // second packet of a TL0 frame
    input.filter((p) => p !== lost).forEach((p) => fwd.push(p));
    const steps = seqSteps(fwd);
    expect(steps.filter((d) => d === 2)).toHaveLength(1);
    const late = fwd.push(lost)!;
    const first = fwd.sent.find((s) => s.from.frame === 4)!;
    expect(late.seq).toBe((first.seq + 1) & 0xffff);
    expect(parseVp8Descriptor(late.payload)!.pictureId).toBe(parseVp8Descriptor(first.payload)!.pictureId);
  });

  it('a lost packet of a dropped frame leaves no hole', () => {
    const fwd = new Forward();
    fwd.filter.setCap(1);
    fwd.filter.reset();
    const input = stream(12);
    // The last packet of a dropped TID 2 frame, and the first of another.
    const lost = new Set([input.find((p) => p.frame === 3 && p.marker)!, input.find((p) => p.frame === 5 && !p.marker)!]);
    input.filter((p) => !lost.has(p)).forEach((p) => fwd.push(p));
    expect(seqSteps(fwd).every((d) => d === 1)).toBe(true);
  });

  it('wraps sequence numbers at 65535 → 0 without a hole', () => {
    const fwd = new Forward();
    fwd.filter.setCap(1);
    fwd.filter.reset();
    stream(20, { firstSeq: 65520 }).forEach((p) => fwd.push(p));
    expect(seqSteps(fwd).every((d) => d === 1)).toBe(true);
  });

  it('lowering the cap takes effect at the next frame: the frame under way is finished', () => {
    const fwd = new Forward();
    const input = stream(12);
    // Frame 1 (TID 2): its first packet goes, then the cap drops to 1.
    input.slice(0, 3).forEach((p) => fwd.push(p));
    fwd.filter.setCap(1);
    input.slice(3).forEach((p) => fwd.push(p));
    const frames = [...new Set(fwd.sent.map((s) => s.from.frame))];
    expect(frames).toEqual([0, 1, 2, 4, 6, 8, 10]);
    expect(fwd.sent.filter((s) => s.from.frame === 1)).toHaveLength(2);
    expect(seqSteps(fwd).every((d) => d === 1)).toBe(true);
  });

  it('raising the cap waits for a TL0 frame (no sync bits): no TID 2 frame whose references were not sent', () => {
    const fwd = new Forward();
    fwd.filter.setCap(1);
    fwd.filter.reset();
    const input = stream(16);
    // Up to and including frame 2 (TID 1), then raise: frame 3 (TID 2) references frame 1, which was not sent.
    input.filter((p) => p.frame <= 2).forEach((p) => fwd.push(p));
    fwd.filter.setCap(2);
    input.filter((p) => p.frame > 2).forEach((p) => fwd.push(p));
    const frames = [...new Set(fwd.sent.map((s) => s.from.frame))];
    expect(frames).toEqual([0, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(seqSteps(fwd).every((d) => d === 1)).toBe(true);
    const ids = pictureIds(fwd);
    expect(ids.slice(1).every((id, i) => id! - ids[i]! === 1)).toBe(true);
  });

  it('raising the cap at a layer-sync frame (Y) of the next layer up, one layer at a time', () => {
    const fwd = new Forward();
    fwd.filter.setCap(0);
    fwd.filter.reset();
    const input = stream(16, { sync: true });
    // TL0 frames only up to frame 4; raise to all during frame 4: frame 5 (TID 2, Y) cannot start TID 2 while TID 1
    // is not in force; frame 6 (TID 1, Y) adds TID 1; TID 2 comes with the next TL0 (frame 8) or its next Y frame.
    input.filter((p) => p.frame <= 4).forEach((p) => fwd.push(p));
    fwd.filter.setCap(2);
    input.filter((p) => p.frame > 4).forEach((p) => fwd.push(p));
    const frames = [...new Set(fwd.sent.map((s) => s.from.frame))];
    expect(frames).toEqual([0, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(seqSteps(fwd).every((d) => d === 1)).toBe(true);
  });

  it('a new input stream (a simulcast switch at a keyframe) starts in sync at the cap, numbering continued by the munger', () => {
    const fwd = new Forward();
    fwd.filter.setCap(1);
    fwd.filter.reset();
    stream(8).forEach((p) => fwd.push(p));
    const lastId = pictureIds(fwd).at(-1)!;
    const next = stream(8, { firstSeq: 40000, firstPictureId: 20000 });
    fwd.munger.switchTo(next[0]!.payload);
    fwd.filter.reset();
    const before = fwd.sent.length;
    next.forEach((p) => fwd.push(p));
    const after = fwd.sent.slice(before);
    expect(after.map((s) => s.from.frame)).toEqual([0, 0, 2, 2, 4, 4, 6, 6]);
    expect(after.slice(1).every((s, i) => s.seq - after[i]!.seq === 1), 'contiguous within the new stream (werift continues across)').toBe(true);
    expect(parseVp8Descriptor(after[0]!.payload)!.pictureId).toBe(lastId + 1);
    const ids = [...new Set(after.map((s) => parseVp8Descriptor(s.payload)!.pictureId))];
    expect(ids).toEqual([lastId + 1, lastId + 2, lastId + 3, lastId + 4]);
  });
});
