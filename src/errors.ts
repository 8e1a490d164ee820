/** Stable, machine-readable error codes shared by signaling, recording, HTTP and CLI layers. */
export type ErrorCode =
  | 'BAD_JSON'
  | 'MESSAGE_TOO_LARGE'
  | 'UNKNOWN_TYPE'
  | 'INVALID_FIELD'
  | 'UNKNOWN_PEER'
  | 'NOT_IN_ROOM'
  | 'ALREADY_JOINED'
  | 'ROOM_FULL'
  | 'FFMPEG_NOT_FOUND'
  | 'FFMPEG_UNSUITABLE'
  | 'FFMPEG_DIED'
  | 'SERVER_UNREACHABLE'
  | 'BAD_ROOM_NAME'
  | 'OUTPUT_NOT_WRITABLE'
  | 'DISK_FULL'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'UNAUTHORIZED'
  | 'BAD_REQUEST'
  | 'METHOD_NOT_ALLOWED'
  | 'BAD_RECORDING_ID'
  | 'PAYLOAD_TOO_LARGE'
  | 'ALREADY_RECORDING'
  | 'RECORDING_ACTIVE'
  | 'TOO_MANY_RECORDINGS'
  | 'SHUTTING_DOWN'
  | 'RECORDINGS_DISABLED'
  | 'REDIS_UNAVAILABLE'
  | 'WORKER_LOST'
  | 'JOB_TIMEOUT'
  | 'BAD_S3_TARGET'
  | 'BUCKET_UNREACHABLE'
  | 'UPLOAD_FAILED'
  | 'UPLOAD_VERIFY_FAILED'
  | 'UPLOAD_IN_PROGRESS'
  | 'INTERNAL';

export class RtcRecordError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RtcRecordError';
    this.code = code;
  }
}

export function isRtcRecordError(err: unknown, code?: ErrorCode): err is RtcRecordError {
  return err instanceof RtcRecordError && (code === undefined || err.code === code);
}
