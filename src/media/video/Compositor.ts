import { RtcRecordError } from '../../errors.js';
import { FrameMemory } from './FrameMemory.js';
import type { PictureMemory, Rect, TileContent } from './CompositorTypes.js';
import type { TextMask } from './TextRendererTypes.js';
import type { YuvFrame } from './VideoTileDecoderTypes.js';

const BLACK_Y = 16;
const NEUTRAL_C = 128;

/**
 * Builds composite yuv420p frames (into its own recycled frames, see FrameMemory). Tile pictures come decoded at tile
 * size, so drawing one is a block copy per plane (see copyPicture); only pictures of another size (briefly, after a
 * re-layout) are scaled here (nearest neighbour, fitted with bars). Names are pre-rendered masks blended on a darkened
 * box.
 */
export class Compositor {
  private frame: Buffer;
  private readonly memory: FrameMemory;
  private readonly ySize: number;
  private readonly cSize: number;

  /**
   * `frameSlots`: frames composed at most before some are given back (release()); beyond that, composing still works
   * but takes a new buffer and copies row by row. The default covers the encoder's queue (half a second at 30 fps).
   * `pictureSlots`: decoded pictures (each up to a frame) decoders may read straight into (see `pictures`); the
   * default covers a second of 30 fps tiles with room to spare. Slots cost address space, memory only once used.
   */
  constructor(
    readonly width: number,
    readonly height: number,
    frameSlots = 24,
    pictureSlots = 160,
  ) {
    if (width % 2 || height % 2 || width <= 0 || height <= 0) {
      throw new RtcRecordError('INVALID_FIELD', `canvas size must be positive and even, got ${width}x${height}`);
    }
    this.ySize = width * height;
    this.cSize = this.ySize / 4;
    this.memory = new FrameMemory(this.frameBytes, frameSlots, pictureSlots);
    this.frame = Buffer.alloc(0);
  }

  /**
   * Picture memory for decoders: a picture read into it is composed with one copy (others are copied in first).
   * acquire() returns undefined when all slots are taken (the decoder then allocates its own); release() is false for
   * buffers not from acquire().
   */
  readonly pictures: PictureMemory = {
    acquire: (bytes) => this.memory.acquirePicture(bytes),
    release: (picture) => this.memory.releasePicture(picture),
  };

  /** Gives a frame from compose() back for reuse once nothing reads it any more (e.g. the pipe has written it). */
  release(frame: Buffer): void {
    this.memory.release(frame);
  }

  /** Bytes of one frame (yuv420p). */
  get frameBytes(): number {
    return this.ySize + 2 * this.cSize;
  }

  /**
   * Composes one frame (background black) into `into` (frameBytes long) or one of our frames, and returns it. The
   * caller owns it (e.g. hands it to a pipe) until it gives it back with release().
   */
  compose(tiles: readonly TileContent[], into?: Buffer): Buffer {
    if (into && into.length !== this.frameBytes) throw new RtcRecordError('INVALID_FIELD', `frame buffer must be ${this.frameBytes} bytes`);
    this.frame = into ?? this.memory.acquire() ?? Buffer.allocUnsafe(this.frameBytes);
    const rects = tiles.map((t) => this.clip(t.rect));
    // Layout tiles never overlap: when tile-sized pictures cover the canvas (a full grid), no background shows.
    const covered = tiles.reduce((sum, t, i) => {
      const r = rects[i];
      return r && t.picture && t.picture.width === r.w && t.picture.height === r.h ? sum + r.w * r.h : sum;
    }, 0);
    if (covered < this.ySize) {
      this.frame.fill(BLACK_Y, 0, this.ySize);
      this.frame.fill(NEUTRAL_C, this.ySize);
    }
    tiles.forEach((t, i) => {
      const r = rects[i];
      if (!r) return;
      if (t.picture) this.drawPicture(r, t.picture);
      if (t.label) this.drawLabel(r, t.label);
    });
    return this.frame;
  }

  private clip(r: Rect): Rect | undefined {
    const x = Math.max(0, r.x & ~1);
    const y = Math.max(0, r.y & ~1);
    const w = Math.min(r.w & ~1, this.width - x);
    const h = Math.min(r.h & ~1, this.height - y);
    return w > 0 && h > 0 ? { x, y, w, h } : undefined;
  }

  private drawPicture(r: Rect, pic: YuvFrame): void {
    if (pic.width === r.w && pic.height === r.h) return this.copyPicture(r, pic);
    // Fit with bars, keeping the picture's aspect ratio.
    const s = Math.min(r.w / pic.width, r.h / pic.height);
    const w = Math.max(2, Math.floor((pic.width * s) / 2) * 2);
    const h = Math.max(2, Math.floor((pic.height * s) / 2) * 2);
    this.scalePicture({ x: r.x + (((r.w - w) / 2) & ~1), y: r.y + (((r.h - h) / 2) & ~1), w, h }, pic);
  }

  private copyPicture(r: Rect, pic: YuvFrame): void {
    const W = this.width;
    const pw = pic.width;
    const cw = pw / 2;
    const srcU = pw * pic.height;
    const srcV = srcU + (srcU >> 2);
    const yAt = r.y * W + r.x;
    const cAt = (r.y / 2) * (W / 2) + r.x / 2;
    if (this.memory.owns(this.frame)) {
      // One WebAssembly call per plane (see FrameMemory); a picture a decoder read into our memory needs no staging.
      const m = this.memory;
      const p = pic.data;
      if (!m.ownsPicture(p)) m.stagePicture(p);
      m.copyRows(this.frame, yAt, W, p, 0, pw, r.w, r.h);
      m.copyRows(this.frame, this.ySize + cAt, W / 2, p, srcU, cw, r.w / 2, r.h / 2);
      m.copyRows(this.frame, this.ySize + this.cSize + cAt, W / 2, p, srcV, cw, r.w / 2, r.h / 2);
      return;
    }
    // A caller's buffer (or all frames in use): a row at a time. TypedArray.set of a row view is ~25 % faster than
    // Buffer.copy, but still a view per row.
    const src = new Uint8Array(pic.data.buffer, pic.data.byteOffset, pic.data.length);
    const out = new Uint8Array(this.frame.buffer, this.frame.byteOffset, this.frame.length);
    for (let row = 0; row < r.h; row++) out.set(src.subarray(row * pw, row * pw + r.w), yAt + row * W);
    for (let row = 0; row < r.h / 2; row++) {
      const so = row * cw;
      const d = cAt + row * (W / 2);
      out.set(src.subarray(srcU + so, srcU + so + r.w / 2), this.ySize + d);
      out.set(src.subarray(srcV + so, srcV + so + r.w / 2), this.ySize + this.cSize + d);
    }
  }

  private scalePicture(r: Rect, pic: YuvFrame): void {
    const W = this.width;
    const src = pic.data;
    const out = this.frame;
    const xs = new Int32Array(r.w);
    for (let x = 0; x < r.w; x++) xs[x] = Math.min(pic.width - 1, Math.floor((x * pic.width) / r.w));
    for (let y = 0; y < r.h; y++) {
      const sy = Math.min(pic.height - 1, Math.floor((y * pic.height) / r.h)) * pic.width;
      const d = (r.y + y) * W + r.x;
      for (let x = 0; x < r.w; x++) out[d + x] = src[sy + xs[x]!]!;
    }
    const pcw = pic.width / 2;
    const pch = pic.height / 2;
    const srcU = pic.width * pic.height;
    const srcV = srcU + (srcU >> 2);
    const CW = W / 2;
    for (let y = 0; y < r.h / 2; y++) {
      const sy = Math.min(pch - 1, Math.floor((y * pch) / (r.h / 2))) * pcw;
      const d = (r.y / 2 + y) * CW + r.x / 2;
      for (let x = 0; x < r.w / 2; x++) {
        const sx = xs[x * 2]! >> 1;
        out[this.ySize + d + x] = src[srcU + sy + sx]!;
        out[this.ySize + this.cSize + d + x] = src[srcV + sy + sx]!;
      }
    }
  }

  /** Bottom-left of the tile: darkened, colourless box with the white name blended in. */
  private drawLabel(r: Rect, m: TextMask): void {
    const margin = Math.max(2, Math.floor(m.height / 6) & ~1);
    const w = Math.min(m.width, r.w - 2 * margin) & ~1;
    const h = Math.min(m.height, r.h - 2 * margin) & ~1;
    if (w <= 0 || h <= 0) return;
    const x0 = r.x + margin;
    const y0 = r.y + r.h - margin - h;
    const W = this.width;
    const out = this.frame;
    if (this.memory.owns(out) && m.alpha.length <= this.frameBytes) {
      this.memory.blendLabel(out, y0 * W + x0, W, m.alpha, m.width, w, h);
    } else {
      for (let y = 0; y < h; y++) {
        const d = (y0 + y) * W + x0;
        const s = y * m.width;
        for (let x = 0; x < w; x++) {
          // Darkened to a quarter above black (16 + ((p - 16) >> 2)), then white (235) blended in by alpha.
          const base = (out[d + x]! >> 2) + 12;
          out[d + x] = base + (((235 - base) * m.alpha[s + x]!) >> 8);
        }
      }
    }
    const CW = W / 2;
    for (let y = 0; y < h / 2; y++) {
      const d = (y0 / 2 + y) * CW + x0 / 2;
      out.fill(NEUTRAL_C, this.ySize + d, this.ySize + d + w / 2);
      out.fill(NEUTRAL_C, this.ySize + this.cSize + d, this.ySize + this.cSize + d + w / 2);
    }
  }
}
