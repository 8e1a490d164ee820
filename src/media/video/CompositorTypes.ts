import type { TextMask } from './TextRendererTypes.js';
import type { YuvFrame } from './VideoTileDecoderTypes.js';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** What goes into one tile of one output frame. */
export interface TileContent {
  rect: Rect;
  /** The picture (normally exactly rect-sized; other sizes are scaled, e.g. right after a re-layout). */
  picture?: YuvFrame;
  /** Name drawn at the tile's bottom-left on a dark box. */
  label?: TextMask;
}

/** Where a decoder may read its pictures (see Compositor.pictures). */
export interface PictureMemory {
  /** Memory for one picture of `bytes`, or undefined when there is none left. */
  acquire(bytes: number): Buffer | undefined;
  /** Gives a picture from acquire() back; false when it was not one. */
  release(picture: Buffer): boolean;
}
