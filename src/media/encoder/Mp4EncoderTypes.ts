import type { RtcRecordError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { FfmpegExit, FfmpegProgress } from '../ffmpeg/FfmpegProcess.js';

export interface Mp4VideoSettings {
  width: number;
  height: number;
  fps: number;
  /** Default 2500. */
  bitrateKbps?: number;
  /** x264 preset; default ultrafast. */
  preset?: string;
}

export interface Mp4AudioSettings {
  /** Sample rate of the s16le PCM written (48000). */
  sampleRate: number;
  channels: 1 | 2;
  /** Default 96. */
  bitrateKbps?: number;
  /**
   * PCM is handed to ffmpeg in chunks of at least this many ms (default 100): every pipe write wakes ffmpeg's whole
   * transcode loop, and 20 ms writes cost twice the CPU of the encoding itself. A SIGKILL loses at most this much more.
   */
  batchMs?: number;
}

export interface Mp4EncoderOptions {
  /** The fragmented (crash-safe) output written while recording. */
  path: string;
  /** Omitted: audio only (AAC in MP4, e.g. `.m4a`). */
  video?: Mp4VideoSettings;
  audio: Mp4AudioSettings;
  logger?: Logger;
  /** Drop video frames (counted) once this many are queued for ffmpeg; default 3 s worth. */
  maxQueuedFrames?: number;
}

export interface Mp4EncoderEvents {
  progress: [FfmpegProgress];
  /** The encoder died (FFMPEG_DIED): the fragments written so far stay playable. */
  error: [RtcRecordError];
  exit: [FfmpegExit];
}
