// The composite's media pieces against real ffmpeg: tile decoder (IVF in, fitted yuv420p out, pts kept, input
// resolution change), compositor, fragmented MP4 encoder and its faststart finalization.
import { mkdtempSync, readFileSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Mp4Encoder } from '../../../src/media/encoder/Mp4Encoder.js';
import { runFfmpeg } from '../../../src/media/ffmpeg/FfmpegProcess.js';
import { Compositor } from '../../../src/media/video/Compositor.js';
import { solidYuv, TextRenderer } from '../../../src/media/video/TextRenderer.js';
import { VideoTileDecoder } from '../../../src/media/video/VideoTileDecoder.js';
import type { DecodedFrame, YuvFrame } from '../../../src/media/video/VideoTileDecoderTypes.js';
import { finalizeComposite } from '../../../src/recording/finalizeComposite.js';
import { vp8Frames, type VideoFrame } from '../../harness/ivf.js';
import { decodeErrors, nearestNamedColor, probe, sampleColor, streamDuration } from '../../harness/analyze.js';

const dir = mkdtempSync(join(tmpdir(), 'rtc-video-'));
afterAll(() => {});

function vp8Ivf(color: string, size: string, seconds: number): Promise<VideoFrame[]> {
  return vp8Frames(join(dir, `${color}-${size}.ivf`), `color=c=${color}:s=${size}:r=15`, seconds, ['-g', '15', '-b:v', '300k']);
}

/** Mean Y/U/V of a w×h block at (x, y) of a yuv420p picture. */
function meanYuv(f: YuvFrame, x: number, y: number, w: number, h: number): [number, number, number] {
  let Y = 0;
  let U = 0;
  let V = 0;
  const cw = f.width / 2;
  const uOff = f.width * f.height;
  const vOff = uOff + uOff / 4;
  for (let j = y; j < y + h; j++) for (let i = x; i < x + w; i++) Y += f.data[j * f.width + i]!;
  for (let j = y / 2; j < (y + h) / 2; j++) {
    for (let i = x / 2; i < (x + w) / 2; i++) {
      U += f.data[uOff + j * cw + i]!;
      V += f.data[vOff + j * cw + i]!;
    }
  }
  const n = w * h;
  return [Y / n, (U * 4) / n, (V * 4) / n];
}

describe('Compositor', () => {
  it('draws into a reused (dirty) buffer: a full grid overwrites everything, uncovered parts become black', () => {
    const c = new Compositor(64, 32);
    const dirty = () => Buffer.alloc(c.frameBytes, 200);
    const red = { data: solidYuv(32, 32, 255, 0, 0), width: 32, height: 32 };
    const blue = { data: solidYuv(32, 32, 0, 0, 255), width: 32, height: 32 };
    const full = c.compose(
      [
        { rect: { x: 0, y: 0, w: 32, h: 32 }, picture: red },
        { rect: { x: 32, y: 0, w: 32, h: 32 }, picture: blue },
      ],
      dirty(),
    );
    const frame = { data: full, width: 64, height: 32 };
    expect(meanYuv(frame, 0, 0, 32, 32)).toEqual(meanYuv(red, 0, 0, 32, 32));
    expect(meanYuv(frame, 32, 0, 32, 32)).toEqual(meanYuv(blue, 0, 0, 32, 32));
    const half = { data: c.compose([{ rect: { x: 0, y: 0, w: 32, h: 32 }, picture: red }], dirty()), width: 64, height: 32 };
    expect(meanYuv(half, 0, 0, 32, 32)).toEqual(meanYuv(red, 0, 0, 32, 32));
    expect(meanYuv(half, 32, 0, 32, 32)).toEqual([16, 128, 128]);
  });

  it('composes the same bytes into its own frames (WebAssembly row copies) as into a caller\'s buffer, and recycles them', () => {
    const c = new Compositor(96, 64, 2);
    // Pictures with a different byte at every position, so a row landing one byte or one row off shows.
    const noise = (w: number, h: number, seed: number) => ({
      data: Buffer.from(Uint8Array.from({ length: (w * h * 3) / 2 }, (_, i) => (i * 7 + seed * 13 + (i >> 5)) & 0xff)),
      width: w,
      height: h,
    });
    // Name labels too: a mask with every alpha value, wider than the tile (clipped).
    const label = { width: 60, height: 12, alpha: Buffer.from(Uint8Array.from({ length: 60 * 12 }, (_, i) => (i * 37) & 0xff)) };
    const tiles = [
      { rect: { x: 0, y: 0, w: 48, h: 32 }, picture: noise(48, 32, 1), label },
      { rect: { x: 48, y: 0, w: 48, h: 32 }, picture: noise(48, 32, 2) },
      { rect: { x: 0, y: 32, w: 48, h: 32 }, picture: noise(48, 32, 3), label: { ...label, width: 20, alpha: label.alpha.subarray(0, 240) } },
      { rect: { x: 50, y: 34, w: 44, h: 28 }, picture: noise(44, 28, 4) },
    ];
    const plain = c.compose(tiles, Buffer.alloc(c.frameBytes, 99)); // a caller's buffer: row by row in JS
    const own = c.compose(tiles);
    const inWasm = (b: Buffer) => b.buffer !== plain.buffer && b.buffer.byteLength >= 3 * c.frameBytes; // 2 slots + scratch
    expect(inWasm(own)).toBe(true);
    expect(Buffer.compare(own, plain)).toBe(0);
    // Spot-check placement: the last tile's first Y row starts at (50, 34).
    expect([...plain.subarray(34 * 96 + 50, 34 * 96 + 50 + 44)]).toEqual([...tiles[3]!.picture.data.subarray(0, 44)]);
    // And the label: margin 2, so its first row is row 32 - 2 - 12 = 18, from x = 2; darkened, then blended.
    for (const x of [2, 3, 9]) {
      const base = 16 + ((tiles[0]!.picture.data[18 * 48 + x]! - 16) >> 2);
      expect(own[18 * 96 + x], `label pixel ${x}`).toBe(base + (((235 - base) * label.alpha[x - 2]!) >> 8));
    }

    // Both slots taken: the third frame is a plain buffer, composed the same.
    const second = c.compose(tiles);
    const third = c.compose(tiles);
    expect([inWasm(second), inWasm(third)]).toEqual([true, false]);
    expect(Buffer.compare(third, plain)).toBe(0);
    // A released slot is reused (dirty from its last frame: a full grid must overwrite it all); others are ignored.
    c.release(third);
    c.release(own);
    c.release(own);
    const reused = c.compose(tiles.slice(0, 3));
    expect(reused.byteOffset).toBe(own.byteOffset);
    expect(inWasm(c.compose(tiles))).toBe(false);
    const first3 = c.compose(tiles.slice(0, 3), Buffer.alloc(c.frameBytes, 7));
    expect(Buffer.compare(reused, first3)).toBe(0);
  });
});

describe('VideoTileDecoder', () => {
  it('decodes VP8 to tile-sized fitted pictures with their pts, across an input resolution change', async () => {
    const red = await vp8Ivf('red', '320x240', 1);
    const blue = await vp8Ivf('blue', '160x120', 1);
    const dec = new VideoTileDecoder({ codec: 'vp8', width: 640, height: 360, label: 'test' });
    const out: DecodedFrame[] = [];
    dec.on('frame', (f) => out.push(f));
    let needKey = 0;
    dec.on('needKeyframe', () => needKey++);
    // An inter frame before any keyframe is refused (and a keyframe asked for).
    dec.push(red[1]!.data, false, 0);
    expect(needKey).toBe(1);
    const all = [...red, ...blue];
    all.forEach((f, i) => dec.push(f.data, f.key, 1000 + Math.round((i * 1000) / 15)));
    await dec.stop(5000);
    expect(out.length).toBe(all.length);
    expect(out.map((f) => f.ptsMs)).toEqual(all.map((_, i) => 1000 + Math.round((i * 1000) / 15)));
    for (const f of out) expect([f.width, f.height, f.data.length]).toEqual([640, 360, 640 * 360 * 1.5]);
    // 4:3 in 16:9: 480x360 centred, black bars of 80 px left and right.
    const first = out[2]!;
    const [y, u, v] = meanYuv(first, 300, 160, 40, 40);
    expect(v).toBeGreaterThan(200); // red: high V
    expect(u).toBeLessThan(110);
    expect(y).toBeGreaterThan(60);
    expect(meanYuv(first, 0, 100, 60, 100)[0]).toBeLessThan(20); // bar
    expect(meanYuv(first, 600, 100, 40, 100)[0]).toBeLessThan(20);
    const last = out.at(-1)!;
    expect(meanYuv(last, 300, 160, 40, 40)[1]).toBeGreaterThan(200); // blue: high U, still 640x360
  });
});

describe('VideoTileDecoder picture pool', () => {
  it('reuses released pictures: each arrives complete, no new buffer per picture', async () => {
    const red = await vp8Ivf('red', '320x240', 2);
    const dec = new VideoTileDecoder({ codec: 'vp8', width: 320, height: 240, label: 'pool' });
    const buffers = new Set<ArrayBufferLike>();
    const reds: number[] = [];
    dec.on('frame', (f) => {
      buffers.add(f.data.buffer);
      reds.push(meanYuv(f, 100, 100, 40, 40)[2]); // V is high for red
      dec.release(f.data);
    });
    red.forEach((f, i) => dec.push(f.data, f.key, i * 67));
    await dec.stop(5000);
    expect(reds).toHaveLength(red.length);
    for (const v of reds) expect(v).toBeGreaterThan(200);
    expect(buffers.size).toBeLessThanOrEqual(3);
  });

  it("reads into the compositor's picture slots while there are free ones, and those compose like any picture", async () => {
    const red = await vp8Ivf('red', '320x240', 1);
    const comp = new Compositor(320, 240, 2, 4);
    const dec = new VideoTileDecoder({ codec: 'vp8', width: 320, height: 240, label: 'slots', pictures: comp.pictures });
    const held: DecodedFrame[] = [];
    dec.on('frame', (f) => held.push(f));
    red.forEach((f, i) => dec.push(f.data, f.key, i * 67));
    await dec.stop(5000);
    expect(held).toHaveLength(red.length);
    // Nothing released while decoding: the first 4 pictures took the 4 slots, the rest are the decoder's own.
    const slotBuffer = held[0]!.data.buffer;
    expect(held.map((f) => f.data.buffer === slotBuffer)).toEqual(held.map((_, i) => i < 4));
    // A slot picture composes (without staging) exactly like a copy of it in a buffer of its own.
    const tile = (picture: DecodedFrame) => [{ rect: { x: 0, y: 0, w: 320, h: 240 }, picture }];
    const viaSlot = Buffer.from(comp.compose(tile(held[1]!)));
    const viaCopy = comp.compose(tile({ ...held[1]!, data: Buffer.from(held[1]!.data) }), Buffer.alloc(comp.frameBytes));
    expect(Buffer.compare(viaSlot, viaCopy)).toBe(0);
    expect(meanYuv(held[1]!, 100, 100, 40, 40)[2]).toBeGreaterThan(200);
    // Released (twice, even): every slot is free again, once each.
    for (const f of [...held, ...held]) dec.release(f.data);
    const again = [1, 2, 3, 4, 5].map(() => comp.pictures.acquire(320 * 240 * 1.5));
    expect(again.map((b) => b?.buffer === slotBuffer)).toEqual([true, true, true, true, false]);
  });
});

describe('VideoTileDecoder (H.264)', () => {
  it('decodes Annex-B access units in order, pairing each picture with its pts', async () => {
    const file = join(dir, 'lime.h264');
    await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'color=c=lime:s=320x240:r=15', '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '15', '-bsf:v', 'h264_metadata=aud=insert', '-f', 'h264', '-y', file]);
    const stream = readFileSync(file);
    // Split at access unit delimiters (00 00 00 01 09).
    const starts: number[] = [];
    for (let i = 0; i + 4 < stream.length; i++) {
      if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 0 && stream[i + 3] === 1 && (stream[i + 4]! & 0x1f) === 9) starts.push(i);
    }
    const units = starts.map((s, k) => stream.subarray(s, starts[k + 1] ?? stream.length));
    expect(units.length).toBe(15);
    const dec = new VideoTileDecoder({ codec: 'h264', width: 320, height: 240, label: 'h264' });
    const out: DecodedFrame[] = [];
    dec.on('frame', (f) => out.push(f));
    units.forEach((u, k) => dec.push(u, k === 0, 500 + k * 67));
    await dec.stop(5000);
    expect(out.map((f) => f.ptsMs)).toEqual(units.map((_, k) => 500 + k * 67));
    expect(meanYuv(out[5]!, 140, 100, 40, 40)[0]).toBeGreaterThan(120); // lime: bright (Y 145)
  });
});

describe('Compositor + Mp4Encoder', () => {
  it('writes a fragmented MP4 that finalizes to faststart H.264 + AAC with the right duration and tiles', async () => {
    const rec = mkdtempSync(join(dir, 'rec-'));
    const enc = new Mp4Encoder({ path: join(rec, 'recording.part.mp4'), video: { width: 640, height: 360, fps: 30 }, audio: { sampleRate: 48_000, channels: 1 } });
    const comp = new Compositor(640, 360);
    const text = new TextRenderer();
    const label = await text.label('Alice', 20);
    expect(label && label.width > 20).toBe(true);
    const placeholder = await text.placeholder('Bob', 320, 180);
    const red = { data: solidYuv(320, 180, 255, 0, 0), width: 320, height: 180 };
    const blueSmall = { data: solidYuv(160, 120, 0, 0, 255), width: 160, height: 120 }; // scaled + fitted by the compositor
    const tone = new Int16Array(960);
    for (let n = 0; n < 90; n++) {
      const frame = comp.compose([
        { rect: { x: 0, y: 0, w: 320, h: 180 }, picture: red, label },
        { rect: { x: 320, y: 0, w: 320, h: 180 }, picture: blueSmall },
        { rect: { x: 0, y: 180, w: 320, h: 180 }, picture: placeholder },
      ]);
      enc.writeVideo(Buffer.from(frame), n);
      // 30 fps video, 20 ms audio frames: 1.5 audio frames per video frame.
      while (enc.audioSamplesWritten < ((n + 1) * 48_000) / 30) {
        for (let i = 0; i < 960; i++) tone[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (enc.audioSamplesWritten + i)) / 48_000));
        enc.writeAudio(tone);
      }
    }
    const exit = await enc.stop();
    expect(exit.code).toBe(0);
    text.dispose();
    const done = await finalizeComposite(rec);
    expect(done?.file).toBe('recording.mp4');
    expect(existsSync(join(rec, 'recording.part.mp4'))).toBe(false);
    const file = join(rec, 'recording.mp4');
    expect(await decodeErrors(file)).toEqual([]);
    const info = await probe(file);
    expect(info.streams.map((s) => s.codec).sort()).toEqual(['aac', 'h264']);
    expect(info.streams.find((s) => s.type === 'audio')?.sampleRate).toBe(48_000);
    expect(Math.abs((await streamDuration(file, 'video')) - 3)).toBeLessThan(0.05);
    expect(topLevelBoxes(file).indexOf('moov')).toBeLessThan(topLevelBoxes(file).indexOf('mdat'));
    expect(nearestNamedColor(await sampleColor(file, { timeSec: 1.5, x: 200, y: 60, w: 40, h: 40 })).name).toBe('red');
    expect(nearestNamedColor(await sampleColor(file, { timeSec: 1.5, x: 460, y: 70, w: 40, h: 40 })).name).toBe('blue');
    // Bars beside the fitted 4:3 picture in the 16:9 tile.
    expect(nearestNamedColor(await sampleColor(file, { timeSec: 1.5, x: 322, y: 60, w: 8, h: 40 })).name).toBe('black');
  });
});

/** Top-level MP4 box types in file order. */
export function topLevelBoxes(file: string): string[] {
  const fd = openSync(file, 'r');
  const boxes: string[] = [];
  try {
    const head = Buffer.alloc(16);
    let off = 0;
    for (;;) {
      if (readSync(fd, head, 0, 16, off) < 8) break;
      let size = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      if (size === 1) size = Number(head.readBigUInt64BE(8));
      boxes.push(type);
      if (size < 8) break;
      off += size;
    }
  } finally {
    closeSync(fd);
  }
  return boxes;
}
