import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { RtcRecordError } from '../../errors.js';
import type { UploadTarget } from './UploadTypes.js';

/** A request that sends and receives nothing this long fails (and is retried). */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

/**
 * An S3 client for `target`. Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 * AWS_PROFILE and ~/.aws, …). Checksums only "when required": many S3-compatible stores reject the SDK's default
 * streaming (aws-chunked) checksums; we check content ourselves (size + SHA-256 metadata).
 */
export function createS3Client(target: Pick<UploadTarget, 'endpoint' | 'region' | 'forcePathStyle'>, opts: { maxAttempts?: number; stallTimeoutMs?: number } = {}): S3Client {
  // The SDK warns on every run under Node 20 that its releases after January 2027 need Node 22: our pin is exact, so
  // that is a note for whoever upgrades it (README), not for every user of the CLI.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const region = target.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (target.endpoint ? 'us-east-1' : undefined);
  return new S3Client({
    ...(region ? { region } : {}),
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    forcePathStyle: target.forcePathStyle === true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Our own retries (with backoff, per object) come on top; the SDK's cover a dropped connection mid-request.
    maxAttempts: opts.maxAttempts ?? 2,
    // The SDK waits forever by default: a store that accepts connections and never answers would hold the upload
    // (and serve's upload queue) for good.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS },
  });
}

/** A time-limited GET link to one object (downloads of recordings whose local copy is gone). */
export async function presignGet(client: S3Client, bucket: string, key: string, opts: { expiresInS?: number; filename?: string; attachment?: boolean } = {}): Promise<string> {
  const disposition = opts.filename ? `${opts.attachment ? 'attachment' : 'inline'}; filename="${opts.filename.replace(/["\\\r\n]/g, '_')}"` : undefined;
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key, ...(disposition ? { ResponseContentDisposition: disposition } : {}) }), {
    expiresIn: opts.expiresInS ?? 900,
  });
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'TimeoutError', 'RequestTimeout']);

/** Why a store request failed, coded: BUCKET_UNREACHABLE (no answer), UPLOAD_FAILED (the store said no), … */
export function classifyStoreError(err: unknown, bucket: string, endpoint?: string): { error: RtcRecordError; retryable: boolean } {
  if (err instanceof RtcRecordError) return { error: err, retryable: (err as { retryable?: boolean }).retryable === true };
  const e = err as Error & { code?: string; name?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const where = `bucket ${bucket}${endpoint ? ` at ${endpoint}` : ''}`;
  const netCode = [e.code, e.name, e.cause?.code, ...aggregateCodes(e)].find((c) => c && NETWORK_CODES.has(c));
  if (netCode) {
    return { error: new RtcRecordError('BUCKET_UNREACHABLE', `cannot reach ${where}: ${netCode} (${e.message || 'no answer'})`, { cause: err }), retryable: true };
  }
  if (e.name === 'AbortError') return { error: new RtcRecordError('UPLOAD_FAILED', `upload to ${where} aborted`, { cause: err }), retryable: false };
  if (e.name === 'CredentialsProviderError' || /credential/i.test(e.message ?? '') && !(err instanceof S3ServiceException)) {
    return {
      error: new RtcRecordError('UPLOAD_FAILED', `no credentials for ${where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (${e.message})`, { cause: err }),
      retryable: false,
    };
  }
  const status = e.$metadata?.httpStatusCode;
  if (err instanceof S3ServiceException || status !== undefined) {
    const what = `${e.name}${status ? ` (HTTP ${status})` : ''}: ${e.message}`;
    if (e.name === 'NoSuchBucket') return { error: new RtcRecordError('UPLOAD_FAILED', `${where} does not exist: ${what}`, { cause: err }), retryable: false };
    const retryable = status === undefined || status >= 500 || status === 429 || status === 408 || /Throttl|SlowDown|RequestTimeout|InternalError/.test(e.name ?? '');
    return { error: new RtcRecordError('UPLOAD_FAILED', `${where} refused: ${what}`, { cause: err }), retryable };
  }
  // Anything else without an answer from the store (a socket error the SDK wrapped): worth another try.
  return { error: new RtcRecordError('BUCKET_UNREACHABLE', `cannot reach ${where}: ${e.message ?? String(err)}`, { cause: err }), retryable: true };
}

function aggregateCodes(e: unknown): string[] {
  const errors = (e as { errors?: unknown }).errors;
  return Array.isArray(errors) ? errors.map((x) => (x as { code?: string }).code ?? '') : [];
}
