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
