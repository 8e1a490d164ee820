import type { Command } from 'commander';
import type { Logger } from '../logger.js';
import { uploadTargetFromCli } from '../recording/upload/uploadTarget.js';
import type { UploadCliOptions, UploadOutcome, UploadTarget } from '../recording/upload/UploadTypes.js';
import { formatBytes } from './statusLine.js';

/** The bucket flags shared by `rtc-record --room`, `serve` and `upload`. */
export function addUploadOptions(cmd: Command, opts: { fromLastAttempt?: boolean } = {}): Command {
  return cmd
    .option('--s3 <url>', `upload finished recordings to s3://bucket/prefix (credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)${opts.fromLastAttempt ? '; default: where the last attempt went' : ''}`)
    .option('--s3-endpoint <url>', 'an S3-compatible store (MinIO, R2, …) instead of AWS: http(s)://host:port')
    .option('--s3-region <region>', 'the bucket region (default AWS_REGION, or us-east-1 with --s3-endpoint)')
    .option('--s3-path-style', 'path-style URLs (endpoint/bucket/key), which most self-hosted stores need')
    .option('--s3-key-template <template>', 'object keys under the prefix: {room} {id} {date} {file} {name} {participant} {track} {attempt} (default {room}/{id}/{file})')
    .option('--keep-local', 'keep the local files after a verified upload (they are always kept when an upload fails)');
}

/** The target the flags name (validated: BAD_S3_TARGET); undefined without --s3. */
export function targetFromOptions(opts: UploadCliOptions): UploadTarget | undefined {
  return uploadTargetFromCli(opts);
}

/** One line per outcome, for people (a failure's code in [brackets] unless the caller prints it). */
export function describeOutcome(dir: string, outcome: UploadOutcome, opts: { code?: boolean } = {}): string {
  if (outcome.state === 'uploaded') {
    const bytes = outcome.objects.reduce((n, o) => n + o.size, 0);
    return `uploaded ${outcome.objects.length} object(s), ${formatBytes(bytes)}, to s3://${outcome.bucket}/${commonPrefix(outcome.objects.map((o) => o.key))} (attempt ${outcome.attempt}); local copy ${outcome.localDeleted ? 'deleted' : `kept in ${dir}`}`;
  }
  const code = opts.code === false ? '' : `[${outcome.error?.code}] `;
  return `${code}upload failed (attempt ${outcome.attempt}): ${outcome.error?.message}; local files kept in ${dir}; retry with: rtc-record upload ${dir}`;
}

/** Progress as log lines: at most one every 2 s per recording. */
export function progressLogger(logger: Logger): (p: { file: string; bytesDone: number; bytesTotal: number }) => void {
  let last = 0;
  return (p) => {
    if (Date.now() - last < 2000) return;
    last = Date.now();
    logger.info({ file: p.file, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }, `uploading ${Math.round((100 * p.bytesDone) / Math.max(1, p.bytesTotal))} %`);
  };
}

function commonPrefix(keys: string[]): string {
  if (!keys.length) return '';
  let p = keys[0]!;
  for (const k of keys) while (!k.startsWith(p)) p = p.slice(0, -1);
  return p.slice(0, p.lastIndexOf('/') + 1);
}
