import type { Logger } from '../../logger.js';

/** Where a recording's files go: one bucket, under one prefix, named by a key template. */
export interface UploadTarget {
  bucket: string;
  /** Key prefix without leading or trailing slash ('' for the bucket's root). */
  prefix: string;
  /** An S3-compatible store's URL (MinIO, R2, …); absent: AWS S3. */
  endpoint?: string;
  /** Absent: the SDK's own (AWS_REGION, the profile); us-east-1 with a custom endpoint and nothing set. */
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`): most self-hosted stores need them. */
  forcePathStyle?: boolean;
  /**
   * Object key of each file under the prefix. Placeholders: {room} {id} {date} (YYYY-MM-DD of the start, UTC)
   * {file} (path in the recording directory, e.g. tracks/Alice-x-0.webm) {name} (its last segment) {participant}
   * {track} (a track file's participant and track id; empty for other files) {attempt}. Default DEFAULT_KEY_TEMPLATE.
   */
  keyTemplate: string;
}

export const DEFAULT_KEY_TEMPLATE = '{room}/{id}/{file}';

/** What the CLI options give (`--s3 s3://bucket/prefix --s3-endpoint … --s3-region … --s3-path-style --s3-key-template …`). */
export interface UploadCliOptions {
  s3?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3PathStyle?: boolean;
  s3KeyTemplate?: string;
  keepLocal?: boolean;
}

export interface UploadProgress {
  /** The file being sent (path in the recording directory) and its key. */
  file: string;
  key: string;
  /** Bytes of this file sent so far, of its size. */
  loaded: number;
  size: number;
  /** Bytes of the whole recording sent so far (files done + this one's progress), of its total. */
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

export interface UploadedObject {
  /** Path in the recording directory (`recording.mp4`, `tracks/…`, `manifest.json`). */
  file: string;
  key: string;
  size: number;
  /** Hex SHA-256 of the bytes sent (computed locally, stored as the object's `sha256` metadata, checked back). */
  sha256: string;
  etag?: string;
}

export interface UploadOutcome {
  state: 'uploaded' | 'failed';
  bucket: string;
  attempt: number;
  /** Every object this attempt uploaded and verified, the manifest last. On failure: those verified before it. */
  objects: UploadedObject[];
  /** Local media files were deleted (verified in the store, no keepLocal). */
  localDeleted: boolean;
  error?: { code: string; message: string };
}

export type UploadStateName = 'queued' | 'uploading' | 'uploaded' | 'failed';

/** `upload.json` in the recording directory: any process (server, CLI, worker) reads the upload's state from it. */
export interface UploadStateFile {
  version: 1;
  state: UploadStateName;
  attempt: number;
  bucket: string;
  prefix: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  keyTemplate?: string;
  /** Who runs the upload while uploading (a dead owner means it was interrupted). */
  owner?: { pid: number; host: string };
  startedAt?: string;
  finishedAt?: string;
  updatedAt: string;
  /** Bytes sent of the total, while uploading. */
  progress?: { bytesDone: number; bytesTotal: number };
  objects: UploadedObject[];
  localDeleted: boolean;
  error?: { code: string; message: string };
  /** Earlier attempts' outcome (their objects stay in the bucket under their own keys). */
  history?: Array<{ attempt: number; state: UploadStateName; error?: { code: string; message: string }; finishedAt?: string }>;
}

export interface RetryPolicy {
  /** Tries per object (1 = no retry). Default 4. */
  tries?: number;
  /** First backoff; doubles each time up to maxDelayMs (with ±20 % jitter). Default 500 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface UploadOptions {
  /** Keep the local files after a verified upload (they are always kept after a failure). */
  keepLocal?: boolean;
  /** The attempt number (keys get a suffix from 2 on); never below the last attempt in upload.json + 1 (the default). */
  attempt?: number;
  onProgress?: (p: UploadProgress) => void;
  logger?: Logger;
  signal?: AbortSignal;
  retry?: RetryPolicy;
  /** A request to the store that sends and receives nothing this long fails and is retried (a hung store). Default 60 s. */
  stallTimeoutMs?: number;
  /** Multipart part size (≥ 5 MiB). Default 8 MiB. */
  partSize?: number;
  /**
   * Also upload the `part-N/` directories a takeover added (default true). A worker that uploads each part by itself
   * passes false for part 1; a part directory (its manifest says `part: N`) is keyed as `part-N/<file>` either way.
   */
  includeParts?: boolean;
}
