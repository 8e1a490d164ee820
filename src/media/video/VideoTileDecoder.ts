import { EventEmitter } from 'node:events';
import { RtcRecordError } from '../../errors.js';
import { logger as defaultLogger, type Logger } from '../../logger.js';
import { fitScaleFilter, fpsModeArgs } from '../ffmpeg/compat.js';
import { FfmpegProcess } from '../ffmpeg/FfmpegProcess.js';
import { watchPipeTransfer } from '../ffmpeg/pipeTransfers.js';
import { openReadSocket } from '../ffmpeg/readSocket.js';
import { StderrLineSocket } from '../ffmpeg/StderrLineSocket.js';
import { ivfFileHeader, ivfFrameHeader, vp8KeyframeSize } from './IvfWriter.js';
import type { DecodedFrame, VideoTileDecoderEvents, VideoTileDecoderOptions } from './VideoTileDecoderTypes.js';

const SHOWINFO_PREFIX = Buffer.from('[Parsed_showinfo');
/** Released pictures kept per decoder; more than a few only means a consumer released a burst at once. */
const MAX_FREE_PICTURES = 12;

/**
 * The filter that fits a decoded picture into its tile (aspect kept, centred on black, yuv420p). Exported so the bench's
 * ffmpeg-only floor scales exactly as the decoders do.
 */
export function tileFitFilter(width: number, height: number): string {
  return (
    `${fitScaleFilter(width, height)},` +
    `pad=w=${width}:h=${height}:x=floor((ow-iw)/4)*2:y=floor((oh-ih)/4)*2:color=black,setsar=1,format=yuv420p`
  );
}

/**
 * One ffmpeg process decoding one video track to tile-sized yuv420p frames: depacketized VP8 frames go in as IVF on
 * stdin (H.264 as Annex-B), scaled + padded raw pictures come out on stdout. Each output picture is paired with the pts
 * it went in with — from ffmpeg's showinfo log for IVF, in order for H.264 (which carries no pts) — so the compositor
 * can place it on the recording timeline whatever the decoder's latency.
 *
 * A different tile size needs a new instance (scaling is part of ffmpeg's graph); input resolution changes mid-stream
 * are handled by ffmpeg itself (the graph is reconfigured, the output size stays).
 *
 * Pictures are read straight into pooled buffers (see openReadSocket), the compositor's memory when given
 * (`pictures`): hand each one back with release() once it is no longer needed, or the pool simply allocates more.
 * ffmpeg starts a moment after construction (the socket pair is set up first); frames pushed meanwhile are queued.
 */
export class VideoTileDecoder extends EventEmitter<VideoTileDecoderEvents> {
  readonly width: number;
  readonly height: number;
  framesIn = 0;
  framesOut = 0;
  framesDropped = 0;

  private proc?: FfmpegProcess;
  private readonly started: Promise<void>;
  private readonly args: string[];
  private readonly frameBytes: number;
  private readonly log: Logger;
  private readonly maxQueued: number;
  /** Written before ffmpeg was up (IVF header and frames). */
  private early: Uint8Array[] | undefined = [];
  private earlyBytes = 0;
  private ivfStarted = false;
  private waitingForKeyframe = true;
  private lastPts = -1;
  /** pts of pictures ffmpeg reported (IVF) or of frames pushed (H.264), oldest first, awaiting their bytes. */
  private readonly ptsQueue: number[] = [];
  /** Complete pictures whose pts has not been reported yet. */
  private readonly pending: Buffer[] = [];
  /** Released pictures, reused for the next reads. */
  private readonly free: Buffer[] = [];
  private assembling: Buffer | undefined;
  private filled = 0;
  private stopped = false;
  private outputClosed: Promise<void> = Promise.resolve();

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
    const fit = tileFitFilter(width, height);
    const input = codec === 'vp8' ? ['-f', 'ivf'] : ['-f', 'h264'];
    this.args = [
      '-loglevel', 'info', '-nostats',
      // One thread each for decoding and filtering: a tile is small, and idle worker threads only add overhead
      // (a 720p VP8 tile cost ~30 % more CPU with the default filter threads).
      '-threads', '1', '-filter_threads', '1',
      '-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0',
      ...input, '-i', 'pipe:0',
      '-an', '-vf', codec === 'vp8' ? `${fit},showinfo=checksum=0` : fit,
      ...fpsModeArgs('passthrough'), '-copyts',
      '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1',
    ];
    this.started = this.start().catch((err: unknown) => {
      this.early = undefined;
      if (!this.stopped) {
        this.emit('error', err instanceof RtcRecordError ? err : new RtcRecordError('FFMPEG_DIED', `decode ${options.label}: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  private async start(): Promise<void> {
    const { childEnd, reader } = await openReadSocket({ buffer: () => this.readTarget(), onRead: (n) => this.onRead(n) });
    reader.on('error', (err) => this.log.debug({ err }, 'decoder output socket error'));
    // EOF arrives when ffmpeg exits; pictures still in the socket are read first.
    this.outputClosed = new Promise((resolve) => reader.once('close', () => resolve()));
    // A picture half read: the rest is on its way, and the event loop must stay awake to take it.
    void this.outputClosed.then(watchPipeTransfer(() => this.filled > 0));
    // showinfo writes two lines per picture: the pts comes from the first, both are dropped (as bytes).
    const stderr = await StderrLineSocket.open((buf, start, end) => {
      if (end - start < SHOWINFO_PREFIX.length || buf.compare(SHOWINFO_PREFIX, 0, SHOWINFO_PREFIX.length, start, start + SHOWINFO_PREFIX.length) !== 0) return false;
      const pts = showinfoPts(buf, start, end);
      if (pts !== undefined) this.onPts(pts);
      return true;
    });
    if (this.stopped && !this.early?.length) {
      childEnd.destroy();
      reader.destroy();
      stderr.destroy();
      return;
    }
    const proc = new FfmpegProcess(this.args, {
      label: `decode ${this.options.label}`,
      logger: this.options.logger,
      stdout: childEnd,
      stderr,
      stderrTailLines: 20,
    });
    this.proc = proc;
    void Promise.all([proc.exited, this.outputClosed]).then(() => this.releaseLeftovers());
    proc.on('error', (err) => {
      if (!this.stopped) this.emit('error', err);
    });
    if (this.early?.length) proc.writeAll(this.early);
    this.early = undefined;
  }

  get running(): boolean {
    return !this.stopped && (this.proc?.running ?? this.early !== undefined);
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
    const queued = this.proc ? this.proc.stdin.writableLength : this.earlyBytes;
    if (queued > this.maxQueued) {
      this.log.warn({ queued }, 'decoder falling behind; dropping until next keyframe');
      this.framesDropped++;
      this.waitingForKeyframe = true;
      this.emit('needKeyframe');
      return;
    }
    const pts = Math.max(Math.round(ptsMs), this.lastPts + 1);
    this.lastPts = pts;
    const chunks: Uint8Array[] = [];
    if (this.options.codec === 'vp8') {
      if (!this.ivfStarted) {
        const size = vp8KeyframeSize(data) ?? { width: 640, height: 480 };
        chunks.push(ivfFileHeader('VP80', size.width, size.height));
        this.ivfStarted = true;
      }
      chunks.push(ivfFrameHeader(data.length, pts));
    } else {
      this.ptsQueue.push(pts);
    }
    chunks.push(data);
    this.write(chunks);
    this.framesIn++;
  }

  /** After a loss: discard input until the next keyframe (the last good picture stays on screen meanwhile). */
  resync(): void {
    if (!this.waitingForKeyframe) this.framesDropped++;
    this.waitingForKeyframe = true;
  }

  /** Gives a picture's buffer back for reuse; the caller must not touch it afterwards. */
  release(data: Buffer): void {
    if (this.options.pictures?.release(data)) return;
    if (data.length === this.frameBytes && this.free.length < MAX_FREE_PICTURES) this.free.push(data);
  }

  /** Once ffmpeg is gone and its output read: pictures that never got a pts go back to where they came from. */
  private releaseLeftovers(): void {
    for (const data of this.pending.splice(0)) this.release(data);
    if (this.assembling) this.release(this.assembling);
    this.assembling = undefined;
    this.filled = 0;
  }

  private write(chunks: Uint8Array[]): void {
    if (this.proc) {
      this.proc.writeAll(chunks);
    } else if (this.early) {
      // Callers may reuse their buffers once push() returns.
      for (const c of chunks) {
        this.early.push(Uint8Array.prototype.slice.call(c));
        this.earlyBytes += c.length;
      }
    }
  }

  /** The rest of the picture being assembled: every read lands in its final place, no copy. */
  private readTarget(): Uint8Array {
    this.assembling ??= this.free.pop() ?? this.options.pictures?.acquire(this.frameBytes) ?? Buffer.allocUnsafe(this.frameBytes);
    return this.assembling.subarray(this.filled);
  }

  private onRead(n: number): void {
    this.filled += n;
    if (this.filled < this.frameBytes) return;
    this.pending.push(this.assembling!);
    this.assembling = undefined;
    this.filled = 0;
    this.drain();
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
    await this.started;
    await this.proc?.stop({ graceMs });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.outputClosed, new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
  }
}

const PTS_KEY = Buffer.from(' pts:');
const N_KEY = Buffer.from(' n:');

/** The pts of a showinfo picture line (`… n:  12 pts:  4000 pts_time:…`), read from its bytes; undefined otherwise. */
export function showinfoPts(buf: Buffer, start: number, end: number): number | undefined {
  const n = buf.indexOf(N_KEY, start);
  if (n === -1 || n >= end) return undefined;
  let i = buf.indexOf(PTS_KEY, n);
  if (i === -1 || i >= end) return undefined;
  i += PTS_KEY.length;
  while (i < end && buf[i] === 0x20) i++;
  const negative = buf[i] === 0x2d;
  if (negative) i++;
  let value = 0;
  let digits = 0;
  for (; i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39; i++, digits++) value = value * 10 + buf[i]! - 0x30;
  if (digits === 0) return undefined;
  return negative ? -value : value;
}
