import type { RtcRecordError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { PictureMemory } from './CompositorTypes.js';

export type TileDecoderCodec = 'vp8' | 'h264';

export interface VideoTileDecoderOptions {
  codec: TileDecoderCodec;
  /** Output (tile) size; even numbers. The picture is fitted inside with black bars, keeping its aspect ratio. */
  width: number;
  height: number;
  /** Shown in logs, e.g. "alice/cam 640x360". */
  label: string;
  logger?: Logger;
  /** Stop accepting frames (and wait for the next keyframe) when this much is queued for ffmpeg. Default 4 MiB. */
  maxQueuedBytes?: number;
  /** Where to read pictures into (the compositor's memory, see Compositor.pictures); default: buffers of our own. */
  pictures?: PictureMemory;
}

/** One decoded picture: planar yuv420p, `width` x `height`. */
export interface YuvFrame {
  data: Buffer;
  width: number;
  height: number;
}

export interface DecodedFrame extends YuvFrame {
  /** The pts the encoded frame was pushed with (recording timeline, ms). */
  ptsMs: number;
}

export interface VideoTileDecoderEvents {
  frame: [frame: DecodedFrame];
  /** A keyframe is needed: decoding (re)starts only at one. */
  needKeyframe: [];
  /** ffmpeg died (FFMPEG_DIED) or could not start (FFMPEG_NOT_FOUND); the owner decides whether to restart. */
  error: [err: RtcRecordError];
}
