/**
 * The compositor's frames, and the decoders' pictures, in one fixed WebAssembly memory so tile rows can be moved by a
 * few lines of WebAssembly: one call per plane per tile instead of one `copyWithin` per row (2,880 per 2x2 720p frame,
 * each a trip into V8's C++ runtime), straight from where the decoder read the picture. Name labels are blended there
 * too (the JS loop was the recorder's busiest function, 3 % of its CPU). A 2x2 720p frame with labels: 0.65 → 0.12 ms,
 * pictures staged (less from picture slots).
 *
 * Layout: `slots` frames; a scratch area the size of a frame for pictures from elsewhere (placeholders, a decoder
 * that found no free slot), copied in before their rows move; one for a label's mask; then `pictureSlots` slots of a
 * frame's size each for decoded pictures. The memory never grows, so views into it never detach; pages cost memory
 * only once written.
 */

/**
 * The module, assembled by hand (no toolchain needed; the Compositor test in test/unit/media/videoPipeline.test.ts
 * checks it byte for byte against the JS path). Its source:
 *
 *   (module
 *     (import "env" "memory" (memory 1))
 *     ;; Copies `rows` rows of `width` bytes.
 *     (func (export "copyRows") (param $dst i32) (param $dstStride i32) (param $src i32) (param $srcStride i32)
 *                               (param $width i32) (param $rows i32)
 *       (block $done
 *         (loop $row
 *           (br_if $done (i32.eqz (local.get $rows)))
 *           (memory.copy (local.get $dst) (local.get $src) (local.get $width))
 *           (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
 *           (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
 *           (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
 *           (br $row))))
 *     ;; A name label: each luma byte p darkened to base = (p >> 2) + 12 (= 16 + ((p - 16) >> 2)), then white (235)
 *     ;; blended in by the mask's alpha a: base + (((235 - base) * a) >> 8).
 *     (func (export "blendLabel") (param $dst i32) (param $dstStride i32) (param $mask i32) (param $maskStride i32)
 *                                 (param $width i32) (param $rows i32) (local $x i32) (local $base i32)
 *       (block $done
 *         (loop $row
 *           (br_if $done (i32.eqz (local.get $rows)))
 *           (local.set $x (i32.const 0))
 *           (block $rowDone
 *             (loop $pixel
 *               (br_if $rowDone (i32.ge_u (local.get $x) (local.get $width)))
 *               (local.set $base (i32.add (i32.shr_u (i32.load8_u (i32.add (local.get $dst) (local.get $x))) (i32.const 2))
 *                                         (i32.const 12)))
 *               (i32.store8 (i32.add (local.get $dst) (local.get $x))
 *                 (i32.add (local.get $base)
 *                   (i32.shr_u (i32.mul (i32.sub (i32.const 235) (local.get $base))
 *                                       (i32.load8_u (i32.add (local.get $mask) (local.get $x))))
 *                              (i32.const 8))))
 *               (local.set $x (i32.add (local.get $x) (i32.const 1)))
 *               (br $pixel)))
 *           (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
 *           (local.set $mask (i32.add (local.get $mask) (local.get $maskStride)))
 *           (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
 *           (br $row)))))
 */
const FRAME_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x0a, 0x01, 0x60, 0x06, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x00, // type 0: (i32 × 6) → ()
  0x02, 0x0f, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x01, // import env.memory, min 1 page
  0x03, 0x03, 0x02, 0x00, 0x00, // two functions of type 0
  0x07, 0x19, 0x02, // exports:
  0x08, 0x63, 0x6f, 0x70, 0x79, 0x52, 0x6f, 0x77, 0x73, 0x00, 0x00, // "copyRows" = function 0
  0x0a, 0x62, 0x6c, 0x65, 0x6e, 0x64, 0x4c, 0x61, 0x62, 0x65, 0x6c, 0x00, 0x01, // "blendLabel" = function 1
  0x0a, 0x9e, 0x01, 0x02, // code section (158 bytes), two bodies
  // copyRows: 46 bytes, no locals
  0x2e, 0x00,
  0x02, 0x40, 0x03, 0x40, // block $done, loop $row
  0x20, 0x05, 0x45, 0x0d, 0x01, // rows == 0 → leave
  0x20, 0x00, 0x20, 0x02, 0x20, 0x04, 0xfc, 0x0a, 0x00, 0x00, // memory.copy(dst, src, width)
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x00, // dst += dstStride
  0x20, 0x02, 0x20, 0x03, 0x6a, 0x21, 0x02, // src += srcStride
  0x20, 0x05, 0x41, 0x01, 0x6b, 0x21, 0x05, // rows -= 1
  0x0c, 0x00, 0x0b, 0x0b, 0x0b, // next row; end loop, block, function
  // blendLabel: 109 bytes, locals x (6) and base (7)
  0x6d, 0x01, 0x02, 0x7f,
  0x02, 0x40, 0x03, 0x40, // block $done, loop $row
  0x20, 0x05, 0x45, 0x0d, 0x01, // rows == 0 → leave
  0x41, 0x00, 0x21, 0x06, // x = 0
  0x02, 0x40, 0x03, 0x40, // block $rowDone, loop $pixel
  0x20, 0x06, 0x20, 0x04, 0x4f, 0x0d, 0x01, // x >= width → row done
  0x20, 0x00, 0x20, 0x06, 0x6a, 0x2d, 0x00, 0x00, 0x41, 0x02, 0x76, 0x41, 0x0c, 0x6a, 0x21, 0x07, // base = (dst[x] >> 2) + 12
  0x20, 0x00, 0x20, 0x06, 0x6a, // address dst + x
  0x20, 0x07, 0x41, 0xeb, 0x01, 0x20, 0x07, 0x6b, // base, 235 - base
  0x20, 0x02, 0x20, 0x06, 0x6a, 0x2d, 0x00, 0x00, 0x6c, // × mask[x]
  0x41, 0x08, 0x76, 0x6a, 0x3a, 0x00, 0x00, // >> 8, + base, store8
  0x20, 0x06, 0x41, 0x01, 0x6a, 0x21, 0x06, // x += 1
  0x0c, 0x00, 0x0b, 0x0b, // next pixel; end loop, block
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x00, // dst += dstStride
  0x20, 0x02, 0x20, 0x03, 0x6a, 0x21, 0x02, // mask += maskStride
  0x20, 0x05, 0x41, 0x01, 0x6b, 0x21, 0x05, // rows -= 1
  0x0c, 0x00, 0x0b, 0x0b, 0x0b, // next row; end loop, block, function
]);

const PAGE = 65_536;
let compiled: WebAssembly.Module | undefined;

type RowsFn = (dst: number, dstStride: number, src: number, srcStride: number, width: number, rows: number) => void;

/**
 * `count` equal slots from byte `at` on: handed out most recently given back first (slots in steady use stay few, and
 * untouched pages cost no memory), each at most once however often it is given back.
 */
class SlotPool {
  private readonly free: number[] = [];
  /** 1 where a slot is in `free`. */
  private readonly isFree: Uint8Array;

  constructor(
    private readonly at: number,
    private readonly slotBytes: number,
    private readonly count: number,
  ) {
    for (let i = count - 1; i >= 0; i--) this.free.push(i);
    this.isFree = new Uint8Array(count).fill(1);
  }

  /** Byte offset of a free slot, or undefined when all are taken. */
  take(): number | undefined {
    const slot = this.free.pop();
    if (slot === undefined) return undefined;
    this.isFree[slot] = 0;
    return this.at + slot * this.slotBytes;
  }

  /** Whether `offset` lies in this pool's range. */
  holds(offset: number): boolean {
    return offset >= this.at && offset < this.at + this.count * this.slotBytes;
  }

  /** Gives back the slot starting at `offset` (ignored when it is not a slot start or is free already). */
  give(offset: number): void {
    const slot = (offset - this.at) / this.slotBytes;
    if (Number.isInteger(slot) && this.isFree[slot] === 0) {
      this.isFree[slot] = 1;
      this.free.push(slot);
    }
  }
}

export class FrameMemory {
  private readonly bytes: Uint8Array;
  private readonly copyRowsFn: RowsFn;
  private readonly blendLabelFn: RowsFn;
  private readonly frames: SlotPool;
  /** After the frames: where a picture is staged (frameBytes), then a label mask (frameBytes), then the picture slots. */
  private readonly pictureScratch: number;
  private readonly maskScratch: number;
  private readonly pictures: SlotPool;

  /**
   * `slots` composed frames; `pictureSlots` decoded pictures of up to frameBytes each, for decoders to read into
   * (so composing one is a single copy, see acquirePicture()).
   */
  constructor(
    readonly frameBytes: number,
    readonly slots: number,
    readonly pictureSlots = 0,
  ) {
    const pages = Math.ceil(((slots + 2 + pictureSlots) * frameBytes) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    compiled ??= new WebAssembly.Module(FRAME_WASM);
    const { exports } = new WebAssembly.Instance(compiled, { env: { memory } });
    this.copyRowsFn = exports.copyRows as RowsFn;
    this.blendLabelFn = exports.blendLabel as RowsFn;
    this.bytes = new Uint8Array(memory.buffer);
    this.frames = new SlotPool(0, frameBytes, slots);
    this.pictureScratch = slots * frameBytes;
    this.maskScratch = this.pictureScratch + frameBytes;
    this.pictures = new SlotPool(this.maskScratch + frameBytes, frameBytes, pictureSlots);
  }

  /** A free frame (its old contents left as they were), or undefined when all are in use. */
  acquire(): Buffer | undefined {
    const at = this.frames.take();
    return at === undefined ? undefined : Buffer.from(this.bytes.buffer, at, this.frameBytes);
  }

  /** Gives a frame from acquire() back; anything else is ignored. */
  release(frame: Buffer): void {
    if (this.owns(frame)) this.frames.give(frame.byteOffset);
  }

  owns(frame: Uint8Array): boolean {
    return frame.buffer === this.bytes.buffer && this.frames.holds(frame.byteOffset);
  }

  /** Memory for a decoded picture of `bytes` (≤ frameBytes), or undefined when every picture slot is taken. */
  acquirePicture(bytes: number): Buffer | undefined {
    const at = bytes <= this.frameBytes ? this.pictures.take() : undefined;
    return at === undefined ? undefined : Buffer.from(this.bytes.buffer, at, bytes);
  }

  /** Takes a picture from acquirePicture() back; false (and nothing done) for any other buffer. */
  releasePicture(picture: Uint8Array): boolean {
    if (!this.ownsPicture(picture)) return false;
    this.pictures.give(picture.byteOffset);
    return true;
  }

  ownsPicture(picture: Uint8Array): boolean {
    return picture.buffer === this.bytes.buffer && this.pictures.holds(picture.byteOffset);
  }

  /** Puts a picture (at most frameBytes) where copyRows() reads it when it is not in a picture slot already. */
  stagePicture(picture: Uint8Array): void {
    this.bytes.set(picture, this.pictureScratch);
  }

  /**
   * Copies a `width` × `rows` block of `picture` (rows `srcStride` apart from `srcOffset`) into `frame` (one of ours)
   * at `dstOffset`, rows `dstStride` apart. A picture outside the picture slots must have been staged (stagePicture).
   */
  copyRows(frame: Buffer, dstOffset: number, dstStride: number, picture: Uint8Array, srcOffset: number, srcStride: number, width: number, rows: number): void {
    const src = this.ownsPicture(picture) ? picture.byteOffset : this.pictureScratch;
    this.copyRowsFn(frame.byteOffset + dstOffset, dstStride, src + srcOffset, srcStride, width, rows);
  }

  /**
   * Darkens a `width` × `rows` luma block of `frame` (one of ours) at `dstOffset` and blends white in by `alpha` (rows
   * `alphaStride` apart, at most frameBytes): the compositor's name label.
   */
  blendLabel(frame: Buffer, dstOffset: number, dstStride: number, alpha: Uint8Array, alphaStride: number, width: number, rows: number): void {
    this.bytes.set(alpha, this.maskScratch);
    this.blendLabelFn(frame.byteOffset + dstOffset, dstStride, this.maskScratch, alphaStride, width, rows);
  }
}
