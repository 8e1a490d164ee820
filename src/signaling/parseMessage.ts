import { clientMessageSchema, MAX_MESSAGE_BYTES, MESSAGE_TYPES, type ClientMessage } from './messages.js';

export type ParseResult =
  | { ok: true; message: ClientMessage }
  | { ok: false; code: 'MESSAGE_TOO_LARGE' | 'BAD_JSON' | 'UNKNOWN_TYPE' | 'INVALID_FIELD'; message: string; ref?: string };

/** Turns one raw WebSocket frame into a validated message, or a coded reason why not. */
export function parseClientMessage(raw: Buffer | string): ParseResult {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_MESSAGE_BYTES) {
    return { ok: false, code: 'MESSAGE_TOO_LARGE', message: `message is ${size} bytes; the limit is ${MAX_MESSAGE_BYTES}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(raw.toString());
  } catch {
    return { ok: false, code: 'BAD_JSON', message: 'message is not valid JSON' };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, code: 'INVALID_FIELD', message: 'message must be a JSON object with a "type"' };
  }
  const type = (data as { type?: unknown }).type;
  if (typeof type !== 'string' || !(MESSAGE_TYPES as string[]).includes(type)) {
    return {
      ok: false,
      code: 'UNKNOWN_TYPE',
      message: `unknown message type ${JSON.stringify(type)?.slice(0, 80)}; expected one of ${MESSAGE_TYPES.join(', ')}`,
    };
  }
  const parsed = clientMessageSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || type;
    return { ok: false, code: 'INVALID_FIELD', message: `${type}: ${where}: ${issue?.message ?? 'invalid'}`, ref: type };
  }
  return { ok: true, message: parsed.data };
}
