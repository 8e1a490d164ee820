import type { IncomingMessage, ServerResponse } from 'node:http';
import { RtcRecordError, type ErrorCode } from '../errors.js';

/** Request bodies are small JSON objects (start options); anything bigger is refused before it is read. */
export const MAX_BODY_BYTES = 16 * 1024;

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_JSON: 400,
  BAD_REQUEST: 400,
  INVALID_FIELD: 400,
  BAD_ROOM_NAME: 400,
  BAD_RECORDING_ID: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  RECORDINGS_DISABLED: 404,
  ALREADY_RECORDING: 409,
  RECORDING_ACTIVE: 409,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_RECORDINGS: 429,
  SERVER_UNREACHABLE: 502,
  SHUTTING_DOWN: 503,
  REDIS_UNAVAILABLE: 503,
  JOB_TIMEOUT: 504,
  DISK_FULL: 507,
  OUTPUT_NOT_WRITABLE: 507,
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** `{error: CODE, message}` with the status that code maps to (500 for anything unexpected, without internals). */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof RtcRecordError) {
    const status = STATUS[err.code] ?? 500;
    const headers: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer realm="rtc-record"' } : {};
    if (status === 429 || status === 503) headers['retry-after'] = '5';
    return sendJson(res, status, { error: err.code, message: err.message }, headers);
  }
  sendJson(res, 500, { error: 'INTERNAL', message: 'internal error' });
}

/** Reads a JSON object body of at most MAX_BODY_BYTES; an empty body is `{}`. */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new RtcRecordError('PAYLOAD_TOO_LARGE', `request body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new RtcRecordError('PAYLOAD_TOO_LARGE', `request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RtcRecordError('BAD_JSON', 'the request body is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new RtcRecordError('BAD_JSON', 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}
