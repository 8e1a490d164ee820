import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import type { RtpPacket } from 'werift';
import {
  DepacketizeCallback,
  DurationPosition,
  JitterBufferCallback,
  RtpSourceCallback,
  WebmCallback,
  type WebmOutput,
} from 'werift/nonstandard';
import { RtcRecordError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { FrameMerger } from '../../media/rtp/FrameMerger.js';
import { RtpTimeStage } from '../../media/rtp/RtpTimeStage.js';
import type { RemoteTrack } from '../../peer/RecorderPeerTypes.js';
import { TrackObserver } from './TrackObserver.js';

/** werift's container codec names for the RTP codecs we accept. */
const WEBM_CODEC = { opus: 'OPUS', vp8: 'VP8', vp9: 'VP9', h264: 'MPEG4/ISO/AVC' } as const;
type SupportedCodec = keyof typeof WEBM_CODEC;

export function isRecordableCodec(name: string): name is SupportedCodec {
  return name in WEBM_CODEC;
}

/** Matroska for H.264 (WebM allows only VP8/VP9/AV1 video); WebM otherwise. */
export function trackFileExtension(codec: string): string {
  return codec === 'h264' ? 'mkv' : 'webm';
}

/**
 * Writes one remote track to its own WebM/Matroska file without transcoding, live: every cluster/block is written to the
 * file as it is produced, so a SIGKILL loses only what was still in the jitter buffer. Chain (werift processors):
 * RTP → jitter buffer → media time from RTP timestamps → depacketizer → WebM muxer → file.
 */
export class WebmTrackSink extends TrackObserver {
  /** Media blocks (frames) in the file; 0 means nothing playable was written (e.g. video that never got a keyframe). */
  framesWritten = 0;
  failed?: RtcRecordError;

  private readonly fd: number;
  private readonly source = new RtpSourceCallback();
  private readonly webm: WebmCallback;
  private keyframeTimer?: NodeJS.Timeout;
  private closed = false;
  private eolDone!: () => void;
  private readonly eol = new Promise<void>((resolve) => (this.eolDone = resolve));

  constructor(
    remote: RemoteTrack,
    readonly path: string,
    private readonly logger: Logger,
  ) {
    super(remote);
    const codec = remote.codec.name;
    if (!isRecordableCodec(codec)) throw new RtcRecordError('INVALID_FIELD', `codec ${codec} cannot be recorded`);
    const { kind, codec: { clockRate } } = remote;
    this.fd = openSync(path, 'w');
    // Duration 0 is a placeholder the clean stop patches in place; after a crash players see "unknown" (not 24 h).
    this.webm = new WebmCallback(
      [{ kind, codec: WEBM_CODEC[codec], clockRate, trackNumber: 1, width: 640, height: 480 }],
      { duration: 0 },
    );
    const time = new RtpTimeStage(clockRate);
    const depacketizer = new DepacketizeCallback(WEBM_CODEC[codec], kind === 'video' ? { isFinalPacketInSequence: (h) => h.marker } : {});
    // Reorders what arrives out of order and waits (latency) for NACK retransmissions before declaring a loss.
    const jitter = new JitterBufferCallback(clockRate, { latency: kind === 'video' ? 300 : 100, bufferSize: 10_000 });
    this.source.pipe(jitter.input);
    jitter.pipe((out) => {
      if (out.isPacketLost && kind === 'video') void this.requestKeyframe('loss');
      time.input(out);
    });
    time.pipe(depacketizer.input);
    if (kind === 'video') depacketizer.pipe(new FrameMerger(codec === 'h264').pipe(this.webm.inputVideo).input);
    else depacketizer.pipe(this.webm.inputAudio);
    this.webm.pipe(async (out) => this.write(out));
  }

  get keyframeReceived(): boolean {
    return this.webm.videoKeyframeReceived;
  }

  override get hasMedia(): boolean {
    return this.framesWritten > 0;
  }

  protected override onPacket(rtp: RtpPacket, first: boolean): void {
    // Ask for a keyframe only once media flows: a PLI sent before is silently lost by the browser.
    if (first && this.remote.kind === 'video') this.keyframeLoop();
    this.source.input(rtp.clone());
  }

  /** PLI now, then once a second until the first keyframe has reached the file. */
  private keyframeLoop(): void {
    if (this.closed || this.keyframeReceived) return;
    void this.requestKeyframe('start');
    this.keyframeTimer = setTimeout(() => this.keyframeLoop(), 1000);
  }

  async requestKeyframe(reason: string): Promise<void> {
    this.keyframesRequested++;
    this.logger.debug({ file: this.path, reason }, 'requesting keyframe');
    this.emit('update');
    await this.remote.requestKeyframe().catch(() => {});
  }

  private write(out: WebmOutput): void {
    if (this.closed || this.failed) return;
    try {
      if (out.saveToFile) {
        writeSync(this.fd, out.saveToFile);
        this.bytesWritten += out.saveToFile.length;
        if (out.kind === 'block') this.framesWritten++;
      } else if (out.eol) {
        // Clean stop: patch the real duration into the header placeholder (cues were appended just before).
        const { durationElement } = out.eol;
        writeSync(this.fd, durationElement, 0, durationElement.length, DurationPosition);
        this.eolDone();
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.failed = new RtcRecordError(e.code === 'ENOSPC' ? 'DISK_FULL' : 'OUTPUT_NOT_WRITABLE', `writing ${this.path}: ${e.message}`, {
        cause: err,
      });
      this.logger.error({ err: e.message, file: this.path }, 'track write failed; keeping what was written');
      this.emit('error', this.failed);
      this.eolDone();
    }
  }

  /** Flushes the chain, writes cues and duration, closes the file. Safe to call twice. */
  override async stop(): Promise<void> {
    if (this.closed) return;
    clearTimeout(this.keyframeTimer);
    const packets = this.stats.packetsReceived;
    await super.stop();
    if (packets > 0) {
      this.source.stop();
      // No eol arrives when nothing was muxed yet (e.g. video that never got a keyframe): don't wait for it forever.
      await Promise.race([this.eol, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
    this.closed = true;
    try {
      this.bytesWritten = fstatSync(this.fd).size;
      closeSync(this.fd);
    } catch {
      /* already failed; nothing more to keep */
    }
  }
}
