import { RtcRecordError } from '../../errors.js';
import { checkKeyTemplate } from './keyTemplate.js';
import { DEFAULT_KEY_TEMPLATE, type UploadCliOptions, type UploadTarget } from './UploadTypes.js';

// Bucket names as S3 allows them (3-63 of a-z 0-9 . -); stores like MinIO and R2 follow the same rule.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/some/prefix` → { bucket, prefix: 'some/prefix' }. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(url.trim());
  if (!m) throw new RtcRecordError('BAD_S3_TARGET', `--s3 must look like s3://bucket/prefix, got ${JSON.stringify(url)}`);
  const bucket = m[1]!;
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new RtcRecordError('BAD_S3_TARGET', `bad bucket name ${JSON.stringify(bucket)}: 3-63 of a-z 0-9 . -`);
  }
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((s) => s === '' || s === '.' || s === '..') && prefix !== '') {
    throw new RtcRecordError('BAD_S3_TARGET', `bad prefix ${JSON.stringify(prefix)}: no empty, . or .. segments`);
  }
  return { bucket, prefix };
}

/** The upload target the CLI options describe; undefined without --s3. */
export function uploadTargetFromCli(opts: UploadCliOptions): UploadTarget | undefined {
  if (!opts.s3) {
    if (opts.s3Endpoint || opts.s3Region || opts.s3KeyTemplate || opts.s3PathStyle) {
      throw new RtcRecordError('BAD_S3_TARGET', '--s3-endpoint, --s3-region, --s3-path-style and --s3-key-template need --s3 s3://bucket/prefix');
    }
    return undefined;
  }
  const { bucket, prefix } = parseS3Url(opts.s3);
  let endpoint: string | undefined;
  if (opts.s3Endpoint) {
    let u: URL;
    try {
      u = new URL(opts.s3Endpoint);
    } catch {
      throw new RtcRecordError('BAD_S3_TARGET', `--s3-endpoint must be an http(s) URL, got ${JSON.stringify(opts.s3Endpoint)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new RtcRecordError('BAD_S3_TARGET', `--s3-endpoint must be an http(s) URL, got ${JSON.stringify(opts.s3Endpoint)}`);
    }
    endpoint = u.toString().replace(/\/$/, '');
  }
  const keyTemplate = opts.s3KeyTemplate ?? DEFAULT_KEY_TEMPLATE;
  checkKeyTemplate(keyTemplate);
  return {
    bucket,
    prefix,
    ...(endpoint ? { endpoint } : {}),
    ...(opts.s3Region ? { region: opts.s3Region } : {}),
    ...(opts.s3PathStyle ? { forcePathStyle: true } : {}),
    keyTemplate,
  };
}
