import { EventEmitter } from 'node:events';
import { RtcRecordError } from '../../errors.js';
import { logger as defaultLogger, type Logger } from '../../logger.js';
import { FfmpegProcess } from '../ffmpeg/FfmpegProcess.js';
import { ivfFileHeader, ivfFrameHeader, vp8KeyframeSize } from './IvfWriter.js';
import type { DecodedFrame, VideoTileDecoderEvents, VideoTileDecoderOptions } from './VideoTileDecoderTypes.js';

const SHOWINFO = /\bn:\s*\d+\s+pts:\s*(-?\d+)/;

/**
 * One ffmpeg process decoding one video track to tile-sized yuv420p frames: depacketized VP8 frames go in as IVF on
 * stdin (H.264 as Annex-B), scaled + padded raw pictures come out on stdout. Each output picture is paired with the pts
 * it went in with — from ffmpeg's showinfo log for IVF, in order for H.264 (which carries no pts) — so the compositor
 * can place it on the recording timeline whatever the decoder's latency.
 *
 * A different tile size needs a new instance (scaling is part of ffmpeg's graph); input resolution changes mid-stream
 * are handled by ffmpeg itself (the graph is reconfigured, the output size stays).
 */
export class VideoTileDecoder extends EventEmitter<VideoTileDecoderEvents> {
  readonly width: number;
  readonly height: number;
  framesIn = 0;
  framesOut = 0;
  framesDropped = 0;

  private readonly proc: FfmpegProcess;
  private readonly frameBytes: number;
  private readonly log: Logger;
  private readonly maxQueued: number;
  private started = false;
  private waitingForKeyframe = true;
  private lastPts = -1;
  /** pts of pictures ffmpeg reported (IVF) or of frames pushed (H.264), oldest first, awaiting their bytes. */
  private readonly ptsQueue: number[] = [];
  /** Complete pictures whose pts has not been reported yet. */
  private readonly pending: Buffer[] = [];
  private assembling?: Buffer;
  private filled = 0;
  private stopped = false;

  constructor(readonly options: VideoTileDecoderOptions) {
    super();
    const { width, height, codec } = options;
    if (width % 2 || height % 2 || width <= 0 || height <= 0) {
      throw new RtcRecordError('INVALID_FIELD', `tile size must be positive and even, got ${width}x${height}`);
    }
    this.width = width;
    this.height = height;
    this.frameBytes = (width * height * 3) / 2;
    this.log = (options.logger ?? defaultLogger).child({ decoder: options.label });
    this.maxQueued = options.maxQueuedBytes ?? 4 * 1024 * 1024;
    const fit =
      `scale=w=${width}:h=${height}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bilinear,` +
      `pad=w=${width}:h=${height}:x=floor((ow-iw)/4)*2:y=floor((oh-ih)/4)*2:color=black,setsar=1,format=yuv420p`;
    const input = codec === 'vp8' ? ['-f', 'ivf'] : ['-f', 'h264'];
    this.proc = new FfmpegProcess(
      [
        '-loglevel', 'info', '-nostats',
        '-threads', '1',
        '-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0',
        ...input, '-i', 'pipe:0',
        '-an', '-vf', codec === 'vp8' ? `${fit},showinfo=checksum=0` : fit,
        '-fps_mode', 'passthrough', '-copyts',
        '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1',
      ],
      { label: `decode ${options.label}`, logger: options.logger, stdout: 'pipe', stderrTailLines: 20 },
    );
    if (codec === 'vp8') {
      this.proc.on('stderr', (line) => {
        const m = SHOWINFO.exec(line);
        if (m) this.onPts(Number(m[1]));
      });
    }
    this.proc.stdout!.on('data', (b: Buffer) => this.onData(b));
    this.proc.on('error', (err) => {
      if (!this.stopped) this.emit('error', err);
    });
  }

  get running(): boolean {
    return this.proc.running && !this.stopped;
  }

  /**
   * Feeds one complete encoded frame. Until the first keyframe (and after a drop) frames are discarded and
   * 'needKeyframe' is emitted. Never blocks: when ffmpeg falls behind, frames are dropped until the next keyframe.
   */
  push(data: Uint8Array, isKeyframe: boolean, ptsMs: number): void {
    if (!this.running) return;
    if (this.waitingForKeyframe) {
      if (!isKeyframe) {
        this.framesDropped++;
        this.emit('needKeyframe');
        return;
      }
      this.waitingForKeyframe = false;
    }
    if (this.proc.stdin.writableLength > this.maxQueued) {
      this.log.warn({ queued: this.proc.stdin.writableLength }, 'decoder falling behind; dropping until next keyframe');
      this.framesDropped++;
      this.waitingForKeyframe = true;
      this.emit('needKeyframe');
      return;
    }
    const pts = Math.max(Math.round(ptsMs), this.lastPts + 1);
    this.lastPts = pts;
    if (this.options.codec === 'vp8') {
      if (!this.started) {
        const size = vp8KeyframeSize(data) ?? { width: 640, height: 480 };
        this.proc.write(ivfFileHeader('VP80', size.width, size.height));
        this.started = true;
      }
      this.proc.write(ivfFrameHeader(data.length, pts));
    } else {
      this.started = true;
      this.ptsQueue.push(pts);
    }
    this.proc.write(data);
    this.framesIn++;
  }

  /** After a loss: discard input until the next keyframe (the last good picture stays on screen meanwhile). */
  resync(): void {
    if (!this.waitingForKeyframe) this.framesDropped++;
    this.waitingForKeyframe = true;
  }

  private onData(b: Buffer): void {
    // Copy straight into the picture being assembled: one copy per byte, no concatenation.
    let off = 0;
    while (off < b.length) {
      this.assembling ??= Buffer.allocUnsafe(this.frameBytes);
      const n = b.copy(this.assembling, this.filled, off, Math.min(b.length, off + this.frameBytes - this.filled));
      off += n;
      this.filled += n;
      if (this.filled === this.frameBytes) {
        this.pending.push(this.assembling);
        this.assembling = undefined;
        this.filled = 0;
        this.drain();
      }
    }
  }

  private onPts(pts: number): void {
    this.ptsQueue.push(pts);
    this.drain();
  }

  private drain(): void {
    while (this.pending.length && this.ptsQueue.length) {
      const data = this.pending.shift()!;
      const ptsMs = this.ptsQueue.shift()!;
      this.framesOut++;
      const frame: DecodedFrame = { data, width: this.width, height: this.height, ptsMs };
      this.emit('frame', frame);
    }
  }

  /** Closes stdin and lets ffmpeg flush; resolves once it exited (SIGKILL after graceMs). */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.proc.stop({ graceMs });
  }
}
