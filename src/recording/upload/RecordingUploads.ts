import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import type { Logger } from '../../logger.js';
import { readManifest } from '../recordingList.js';
import { readUploadState, uploadInterrupted, writeUploadState } from './uploadState.js';
import { uploadRecording } from './uploadRecording.js';
import type { RetryPolicy, UploadOutcome, UploadTarget } from './UploadTypes.js';

export interface RecordingUploadsOptions {
  target: UploadTarget;
  keepLocal?: boolean;
  retry?: RetryPolicy;
  partSize?: number;
  /** On shutdown, running uploads get this long to finish before they are aborted (local files kept). Default 30 s. */
  shutdownGraceMs?: number;
}

export interface RecordingUploadsEvents {
  uploaded: [id: string, outcome: UploadOutcome];
  uploadFailed: [id: string, outcome: UploadOutcome];
}

/**
 * The uploads of a recordings service: each finished (or recovered) recording is uploaded once its files are final,
 * one at a time in the background, so a slow bucket never holds up a stop. State lives in each directory's
 * upload.json; this only runs the queue.
 */
export class RecordingUploads extends EventEmitter<RecordingUploadsEvents> {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private running?: { dir: string; abort: AbortController; done: Promise<void> };
  private closed = false;

  constructor(
    private readonly options: RecordingUploadsOptions,
    private readonly logger: Logger,
  ) {
    super();
  }

  /** Queues a finished recording's upload (marked `queued` in its upload.json at once). */
  schedule(dir: string): void {
    if (this.closed || this.queued.has(dir) || this.running?.dir === dir) return;
    try {
      this.markQueued(dir);
    } catch (err) {
      // A full disk must not stop the recording from being uploaded: the state file is only a report.
      this.logger.warn({ dir, err: (err as Error).message }, 'could not write upload.json');
    }
    this.queued.add(dir);
    this.queue.push(dir);
    this.next();
  }

  private markQueued(dir: string): void {
    const previous = readUploadState(dir);
    const history = previous && previous.state !== 'queued' ? [...(previous.history ?? []), { attempt: previous.attempt, state: previous.state, ...(previous.error ? { error: previous.error } : {}) }] : previous?.history;
    writeUploadState(dir, {
      ...(history?.length ? { history } : {}),
      state: 'queued',
      attempt: previous?.attempt ?? 0,
      bucket: this.options.target.bucket,
      prefix: this.options.target.prefix,
      objects: previous?.state === 'uploaded' ? previous.objects : [],
      localDeleted: false,
    });
  }

  /**
   * At start (recovery scan): recordings whose upload was queued or interrupted (its process died) are queued again;
   * failed ones wait for `rtc-record upload`.
   */
  resumeInterrupted(dirs: string[]): void {
    for (const dir of dirs) {
      const s = readUploadState(dir);
      if (!s) continue;
      if (s.state === 'queued' || uploadInterrupted(s)) {
        this.logger.warn({ dir, state: s.state, attempt: s.attempt }, 'upload was interrupted; uploading again');
        this.schedule(dir);
      }
    }
  }

  isBusy(dir: string): boolean {
    return this.queued.has(dir) || this.running?.dir === dir;
  }

  /** Lets the running upload finish (up to shutdownGraceMs, then aborts it); queued ones stay queued on disk. */
  async shutdown(): Promise<void> {
    this.closed = true;
    const r = this.running;
    if (!r) return;
    const grace = setTimeout(() => r.abort.abort(), this.options.shutdownGraceMs ?? 30_000);
    await r.done;
    clearTimeout(grace);
  }

  private next(): void {
    if (this.running || this.closed) return;
    const dir = this.queue.shift();
    if (!dir) return;
    this.queued.delete(dir);
    const abort = new AbortController();
    const id = readManifest(dir)?.id ?? basename(dir);
    const done = (async () => {
      try {
        const outcome = await uploadRecording(dir, this.options.target, {
          keepLocal: this.options.keepLocal,
          retry: this.options.retry,
          partSize: this.options.partSize,
          logger: this.logger.child({ id }),
          signal: abort.signal,
        });
        // Cut short by a shutdown: queued again on disk, so the next start resumes it (local files are all there).
        if (outcome.state === 'failed' && abort.signal.aborted) this.markQueued(dir);
        this.emit(outcome.state === 'uploaded' ? 'uploaded' : 'uploadFailed', id, outcome);
      } catch (err) {
        this.logger.error({ id, err: (err as Error).message }, 'upload could not start');
      } finally {
        this.running = undefined;
        this.next();
      }
    })();
    this.running = { dir, abort, done };
  }
}
