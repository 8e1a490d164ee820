import { EventEmitter } from 'node:events';
import { logger as defaultLogger, type Logger } from '../../logger.js';
import { fpsModeArgs } from '../ffmpeg/compat.js';
import { FfmpegProcess, runFfmpeg, type FfmpegExit } from '../ffmpeg/FfmpegProcess.js';
import { ivfFrameHeader, ivfRawHeader } from '../video/IvfWriter.js';
import type { Mp4AudioSettings, Mp4EncoderEvents, Mp4EncoderOptions, Mp4VideoSettings } from './Mp4EncoderTypes.js';

/** Fragmented MP4: a playable file at every fragment boundary (~1 s), so a crash loses only the last ~1–2 s. */
export const FRAGMENTED_MOVFLAGS = '+frag_keyframe+empty_moov+default_base_moof';

/**
 * x264 output settings of the mixed video: `ultrafast` + `zerolatency` (the composite is produced live), the bitrate
 * with 1.2× peaks, and a keyframe a second so fragments (and so crash losses) are ~1 s. Exported so the benchmark's
 * ffmpeg-only floor encodes exactly alike.
 */
export function videoEncoderArgs(video: Mp4VideoSettings): string[] {
  const kbps = video.bitrateKbps ?? 2500;
  const gop = String(video.fps);
  return [
    '-c:v', 'libx264', '-preset', video.preset ?? 'ultrafast', '-tune', 'zerolatency',
    '-b:v', `${kbps}k`, '-maxrate', `${Math.round(kbps * 1.2)}k`, '-bufsize', `${kbps * 2}k`,
    '-g', gop, '-keyint_min', gop, '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
  ];
}

/**
 * AAC output settings of the mixed audio. The "fast" coder: ~40 % less CPU than the default two-loop search, no
 * audible difference on a voice mix at 96 kbit/s. Exported for the benchmark's floor.
 */
export function audioEncoderArgs(audio: Mp4AudioSettings): string[] {
  return ['-c:a', 'aac', '-aac_coder', 'fast', '-b:a', `${audio.bitrateKbps ?? 96}k`, '-ar', String(audio.sampleRate)];
}

/**
 * The one encoder of a composite recording: raw yuv420p frames on stdin (frame n = n / fps — the caller feeds frames by
 * number on its own clock, IVF-framed with that pts) and s16le PCM on fd 3 (stdin when audio-only), x264 + AAC into a fragmented MP4.
 */
/**
 * The PCM input says what it is (s16le, rate, channels): ffmpeg need not read ahead to find out. Probing it held the
 * encoder back in the first second while the video pipe backed up: 15-17 frames skipped at the start of every bench
 * composite, 2-5 without. (Not on the IVF video input: without probing there, the video came out a frame late against
 * the audio, test/unit/media/encoderSync.test.ts.)
 */
const NO_PROBING = ['-probesize', '32', '-analyzeduration', '0'];

export class Mp4Encoder extends EventEmitter<Mp4EncoderEvents> {
  videoFramesWritten = 0;
  videoFramesDropped = 0;
  audioSamplesWritten = 0;

  private readonly proc: FfmpegProcess;
  private readonly log: Logger;
  private readonly audioIndex: number | undefined;
  private readonly maxQueuedBytes: number;
  private ivfStarted = false;
  private readonly audioBatchBytes: number;
  private audioBatch: Buffer[] = [];
  private audioBatched = 0;

  constructor(readonly options: Mp4EncoderOptions) {
    super();
    const { video, audio, path } = options;
    this.log = (options.logger ?? defaultLogger).child({ encoder: path });
    this.audioBatchBytes = Math.round(((audio.batchMs ?? 100) * audio.sampleRate * audio.channels * 2) / 1000);
    const audioIn = [
      '-f', 's16le', '-ar', String(audio.sampleRate), '-ac', String(audio.channels), '-thread_queue_size', '1024',
      ...NO_PROBING, '-i', video ? 'pipe:3' : 'pipe:0',
    ];
    const audioOut = audioEncoderArgs(audio);
    let args: string[];
    if (video) {
      const frameBytes = (video.width * video.height * 3) / 2;
      this.maxQueuedBytes = frameBytes * (options.maxQueuedFrames ?? Math.ceil(video.fps / 2));
      // Raw I420 pictures in IVF framing: each carries its pts, so a frame we had to skip (encoder starved of CPU) is a
      // gap ffmpeg fills by repeating the previous picture (-fps_mode cfr, -vsync cfr before 5.1), and the timeline never shrinks.
      args = [
        '-f', 'ivf', '-thread_queue_size', '64', '-i', 'pipe:0',
        ...audioIn,
        '-map', '0:v:0', '-map', '1:a:0',
        ...videoEncoderArgs(video),
        ...fpsModeArgs('cfr'), '-r', String(video.fps),
        ...audioOut,
      ];
      this.audioIndex = 0;
    } else {
      this.maxQueuedBytes = Infinity;
      args = [...audioIn, '-map', '0:a:0', ...audioOut, '-frag_duration', '1000000'];
      this.audioIndex = undefined;
    }
    // Audio-only has no keyframe structure to cut at: fragments by duration instead.
    const movflags = video ? FRAGMENTED_MOVFLAGS : '+empty_moov+default_base_moof';
    args.push('-f', 'mp4', '-movflags', movflags, '-flush_packets', '1', '-y', path);
    this.proc = new FfmpegProcess(args, { label: `encode ${path}`, logger: options.logger, progress: true, extraInputs: video ? 1 : 0 });
    this.proc.on('progress', (p) => this.emit('progress', p));
    this.proc.on('error', (err) => this.emit('error', err));
    this.proc.on('exit', (e) => {
      const p = this.proc.lastProgress;
      this.log.debug({ frames: p?.frame, sec: p?.time, written: this.videoFramesWritten, skipped: this.videoFramesDropped }, 'encoder done');
      this.emit('exit', e);
    });
  }

  get running(): boolean {
    return this.proc.running;
  }

  /** For diagnostics: bytes waiting for ffmpeg on the video pipe, and its last progress report. */
  get debugState(): { videoQueuedBytes: number; encodedSec: number | null; speed: number | null } {
    const p = this.proc.lastProgress;
    return { videoQueuedBytes: this.proc.stdin.writableLength, encodedSec: p?.time ?? null, speed: p?.speed ?? null };
  }

  get stderrTail(): string[] {
    return this.proc.stderrTail();
  }

  /**
   * True while ffmpeg is behind by more than `maxQueuedFrames`: the caller should skip this frame (not even compose
   * it). A skipped frame is filled by ffmpeg (-fps_mode cfr) with a neighbouring picture; the duration is unaffected —
   * provided the last few frames before stop() are written without gaps: at end of stream ffmpeg repeats the last
   * frame as often as the median of the last three gaps.
   */
  get videoBacklogged(): boolean {
    return this.proc.stdin.writableLength > this.maxQueuedBytes;
  }

  /** Counts a frame the caller skipped because of `videoBacklogged`. */
  skipVideo(): void {
    this.videoFramesDropped++;
    if (this.videoFramesDropped === 1 || this.videoFramesDropped % 300 === 0) {
      this.log.warn({ skipped: this.videoFramesDropped }, 'encoder behind (CPU starved?): repeating frames instead of new ones');
    }
  }

  /**
   * Composed frame number `index` (shown at index / fps s), exactly width*height*1.5 bytes. The caller must not touch
   * `frame` until `onWritten` is called (then it may reuse it).
   */
  writeVideo(frame: Buffer, index: number, onWritten?: () => void): boolean {
    const video = this.options.video;
    if (!video || !this.proc.running) return false;
    const chunks: Uint8Array[] = [];
    if (!this.ivfStarted) {
      chunks.push(ivfRawHeader(video.width, video.height));
      this.ivfStarted = true;
    }
    chunks.push(ivfFrameHeader(frame.length, (index * 1000) / video.fps), frame);
    this.proc.writeAll(chunks, undefined, onWritten);
    this.videoFramesWritten++;
    return true;
  }

  /** Interleaved s16le samples; passed on in batches of `audio.batchMs`. */
  writeAudio(pcm: Int16Array): boolean {
    if (!this.proc.running) return false;
    this.audioSamplesWritten += pcm.length / this.options.audio.channels;
    // Copied: callers may reuse their array.
    this.audioBatch.push(Buffer.from(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength)));
    this.audioBatched += pcm.byteLength;
    return this.audioBatched >= this.audioBatchBytes ? this.flushAudio() : true;
  }

  private flushAudio(): boolean {
    if (!this.audioBatch.length) return true;
    const chunk = this.audioBatch.length === 1 ? this.audioBatch[0]! : Buffer.concat(this.audioBatch, this.audioBatched);
    this.audioBatch = [];
    this.audioBatched = 0;
    return this.proc.write(chunk, this.audioIndex);
  }

  /** EOF on the inputs; ffmpeg writes the last fragment and exits (SIGINT/SIGKILL after graceMs). */
  stop(graceMs = 10_000): Promise<FfmpegExit> {
    if (this.proc.running) this.flushAudio();
    return this.proc.stop({ graceMs });
  }
}

/**
 * Rewrites a (fragmented, possibly truncated) MP4 as a regular one with the moov first (`-c copy +faststart`).
 * Rejects with FFMPEG_DIED when nothing usable could be written.
 */
export async function remuxFaststart(input: string, output: string, opts: { logger?: Logger; timeoutMs?: number } = {}): Promise<void> {
  await runFfmpeg(
    ['-v', 'error', '-err_detect', 'ignore_err', '-i', input, '-map', '0', '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', '-y', output],
    { logger: opts.logger ?? defaultLogger, label: `remux ${input}`, timeoutMs: opts.timeoutMs ?? 120_000 },
  );
}
