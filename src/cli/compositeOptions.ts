import { InvalidArgumentError, Option, type Command } from 'commander';
import type { CompositeSettings } from '../recording/CompositeRecorderTypes.js';

/** The mixed-recording flags shared by `rtc-record --room` and `rtc-record serve`. */
export interface CompositeCliOptions {
  size: { width: number; height: number };
  fps: number;
  layout: 'grid' | 'speaker';
  maxSpeakers: number;
  /** false with --no-video: audio-only recording.m4a. */
  video: boolean;
  /** false with --no-composite: tracks only. */
  composite: boolean;
  /** false with --no-tracks: the mixed recording only. */
  tracks: boolean;
}

function parseSize(value: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(value);
  const width = Number(m?.[1]);
  const height = Number(m?.[2]);
  if (!m || width % 2 || height % 2 || width < 64 || height < 64 || width > 3840 || height > 2160) {
    throw new InvalidArgumentError('size must be WxH with even numbers from 64x64 to 3840x2160, e.g. 1280x720');
  }
  return { width, height };
}

function parseFps(value: string): number {
  const fps = Number(value);
  if (!Number.isInteger(fps) || fps < 1 || fps > 60) throw new InvalidArgumentError('fps must be an integer 1-60');
  return fps;
}

function parseLayout(value: string): 'grid' | 'speaker' {
  if (value !== 'grid' && value !== 'speaker') throw new InvalidArgumentError('layout must be grid or speaker');
  return value;
}

function parseMaxSpeakers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new InvalidArgumentError('max-speakers must be an integer 1-16');
  return n;
}

export function addCompositeOptions(command: Command): Command {
  return command
    .addOption(new Option('--size <WxH>', 'mixed recording.mp4 size').argParser(parseSize).default({ width: 1280, height: 720 }, '1280x720'))
    .option('--fps <n>', 'mixed recording.mp4 frame rate', parseFps, 30)
    .option('--layout <layout>', 'mixed video layout: grid | speaker (active speaker large)', parseLayout, 'grid')
    .option('--max-speakers <n>', 'voices in the mixed audio at most (the loudest)', parseMaxSpeakers, 3)
    .option('--no-video', 'mixed recording is audio only (recording.m4a)')
    .option('--no-composite', 'no mixed recording: per-track files only')
    .option('--no-tracks', 'no per-track files: the mixed recording only (tracks still counted in manifest.json)');
}

/** What RoomRecorder takes: `false` for tracks only. */
export function compositeSettings(opts: CompositeCliOptions): CompositeSettings | false {
  if (opts.composite === false) return false;
  return { ...opts.size, fps: opts.fps, layout: opts.layout, maxSpeakers: opts.maxSpeakers, video: opts.video !== false };
}
