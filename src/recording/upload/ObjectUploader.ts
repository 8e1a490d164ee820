import { createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { RtcRecordError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { classifyStoreError } from './objectStore.js';
import type { RetryPolicy } from './UploadTypes.js';

export interface ObjectToPut {
  key: string;
  /** A file on disk (streamed in parts) or bytes in memory (the manifest). */
  source: { path: string } | { bytes: Buffer };
  size: number;
  sha256: string;
  contentType: string;
  metadata?: Record<string, string>;
}

/** S3's minimum part size; below it lib-storage sends one PutObject. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/**
 * Puts one object and checks it back: lib-storage's Upload (multipart above the part size; the parts are Buffers, so
 * the SDK sends them with a Content-Length and no streaming checksum), then HeadObject must show the same size and the
 * SHA-256 we computed locally (sent as `x-amz-meta-sha256`). Failures that may pass (no answer, 5xx, throttling, a
 * mismatch) are retried with exponential backoff; the rest fail at once.
 */
export class ObjectUploader {
  private readonly tries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly opts: { endpoint?: string; retry?: RetryPolicy; partSize?: number; signal?: AbortSignal; logger?: Logger },
  ) {
    this.tries = Math.max(1, opts.retry?.tries ?? 4);
    this.baseDelayMs = opts.retry?.baseDelayMs ?? 500;
    this.maxDelayMs = opts.retry?.maxDelayMs ?? 15_000;
  }

  /** Resolves with the object's ETag once it is stored and verified; throws a coded RtcRecordError otherwise. */
  async put(obj: ObjectToPut, onLoaded?: (loaded: number) => void): Promise<{ etag?: string }> {
    for (let attempt = 1; ; attempt++) {
      this.throwIfAborted();
      try {
        await this.send(obj, onLoaded);
        return await this.verify(obj);
      } catch (err) {
        const { error, retryable } = classifyStoreError(err, this.bucket, this.opts.endpoint);
        if (this.opts.signal?.aborted) throw new RtcRecordError('UPLOAD_FAILED', `upload of ${obj.key} aborted`, { cause: err });
        if (!retryable || attempt >= this.tries) {
          throw attempt > 1 ? new RtcRecordError(error.code, `${error.message} (after ${attempt} tries)`, { cause: err }) : error;
        }
        const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
        this.opts.logger?.warn({ key: obj.key, try: attempt, code: error.code, err: error.message, retryInMs: Math.round(delay) }, 'upload failed; retrying');
        await sleep(delay, undefined, { signal: this.opts.signal }).catch(() => undefined);
      }
    }
  }

  private async send(obj: ObjectToPut, onLoaded?: (loaded: number) => void): Promise<void> {
    const body = 'bytes' in obj.source ? obj.source.bytes : createReadStream(obj.source.path);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: obj.key,
        Body: body,
        ContentType: obj.contentType,
        Metadata: { sha256: obj.sha256, ...obj.metadata },
      },
      partSize: Math.max(MIN_PART_SIZE, this.opts.partSize ?? DEFAULT_PART_SIZE),
      queueSize: 2,
      // On failure the multipart upload is aborted: no orphan parts billed in the bucket.
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    upload.on('httpUploadProgress', (p) => {
      if (p.loaded !== undefined) onLoaded?.(p.loaded);
    });
    try {
      await upload.done();
    } finally {
      this.opts.signal?.removeEventListener('abort', onAbort);
      if (!Buffer.isBuffer(body)) body.destroy();
    }
  }

  private async verify(obj: ObjectToPut): Promise<{ etag?: string }> {
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: obj.key }), { abortSignal: this.opts.signal });
    const stored = head.Metadata?.sha256;
    if (head.ContentLength !== obj.size || stored !== obj.sha256) {
      // Retryable: classifyStoreError sees a 5xx-like status.
      throw Object.assign(
        new RtcRecordError(
          'UPLOAD_VERIFY_FAILED',
          `${obj.key} in bucket ${this.bucket} does not match the local file: size ${head.ContentLength} (local ${obj.size}), sha256 ${stored ?? 'missing'} (local ${obj.sha256})`,
        ),
        { retryable: true },
      );
    }
    return head.ETag ? { etag: head.ETag } : {};
  }

  private throwIfAborted(): void {
    if (this.opts.signal?.aborted) throw new RtcRecordError('UPLOAD_FAILED', 'upload aborted');
  }
}
