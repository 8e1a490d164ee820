import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { RtcRecordError } from '../errors.js';
import { createLogger } from '../logger.js';
import { readUploadState } from '../recording/upload/uploadState.js';
import { uploadRecording } from '../recording/upload/uploadRecording.js';
import { DEFAULT_KEY_TEMPLATE, type UploadCliOptions, type UploadTarget } from '../recording/upload/UploadTypes.js';
import { describeOutcome, progressLogger, targetFromOptions } from './uploadOptions.js';

export interface UploadCommandOptions extends UploadCliOptions {
  json?: boolean;
  logLevel: string;
}

/**
 * `rtc-record upload <dir>`: uploads a finished recording (again), as a new attempt with its own keys. Without --s3 it
 * goes where the last attempt went (upload.json). Exits non-zero when the upload fails; the local files are kept then.
 */
export async function uploadCommand(dirArg: string, opts: UploadCommandOptions): Promise<void> {
  const logger = createLogger({ level: opts.logLevel });
  const dir = resolve(dirArg);
  if (!existsSync(dir)) throw new RtcRecordError('NOT_FOUND', `no such directory: ${dir}`);
  const previous = readUploadState(dir);
  let target = targetFromOptions(opts);
  if (!target && previous) {
    target = {
      bucket: previous.bucket,
      prefix: previous.prefix,
      keyTemplate: previous.keyTemplate ?? DEFAULT_KEY_TEMPLATE,
      ...(previous.endpoint ? { endpoint: previous.endpoint } : {}),
      ...(previous.region ? { region: previous.region } : {}),
      ...(previous.forcePathStyle ? { forcePathStyle: true } : {}),
    } satisfies UploadTarget;
  }
  if (!target) throw new RtcRecordError('BAD_S3_TARGET', `${dir} was never uploaded: say where with --s3 s3://bucket/prefix`);
  if (previous?.state === 'uploaded' && previous.localDeleted && !opts.s3) {
    console.log(`already uploaded (attempt ${previous.attempt}) to s3://${previous.bucket}; nothing left to upload`);
    return;
  }
  console.log(`uploading ${dir} to s3://${target.bucket}/${target.prefix}${target.endpoint ? ` at ${target.endpoint}` : ''}`);
  const outcome = await uploadRecording(dir, target, { keepLocal: opts.keepLocal === true, logger, onProgress: progressLogger(logger) });
  if (opts.json) console.log(JSON.stringify({ dir, ...outcome }));
  if (outcome.state !== 'uploaded') {
    throw new RtcRecordError((outcome.error?.code as RtcRecordError['code']) ?? 'UPLOAD_FAILED', describeOutcome(dir, outcome, { code: false }));
  }
  if (!opts.json) console.log(describeOutcome(dir, outcome));
}
