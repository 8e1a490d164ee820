import { closeSync, constants, createReadStream, fstatSync, openSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { RtcRecordError } from '../errors.js';
import { ifRangeMatches, parseRange } from './range.js';

const TYPES: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.webm': 'video/webm',
  '.mkv': 'video/x-matroska',
  '.json': 'application/json; charset=utf-8',
};

export interface FileResponseOptions {
  /** Offered name (ASCII: room, id and file names are restricted to safe characters upstream). */
  filename: string;
  /** attachment: save; inline: play in the page. */
  disposition: 'attachment' | 'inline';
}

/**
 * Sends one file with Range support (206 + Content-Range, 416 for ranges outside it), validators for If-Range, and
 * Content-Disposition. The file is opened without following a symlink in its last component, and served from that
 * descriptor, so a swap after the path check cannot redirect the read.
 */
export function sendFileWithRanges(req: IncomingMessage, res: ServerResponse, path: string, opts: FileResponseOptions): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new RtcRecordError('FORBIDDEN', 'not a regular file');
    throw new RtcRecordError('NOT_FOUND', 'no such file');
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new RtcRecordError('FORBIDDEN', 'not a regular file');
  }
  // A file still being recorded grows: every response describes the size at this instant.
  const size = st.size;
  const etag = `"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const lastModified = st.mtime.toUTCString();
  const headers: Record<string, string | number> = {
    'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
    'accept-ranges': 'bytes',
    'content-disposition': `${opts.disposition}; filename="${opts.filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
    etag,
    'last-modified': lastModified,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  };
  const range = ifRangeMatches(header(req, 'if-range'), etag, lastModified) ? parseRange(header(req, 'range'), size) : ({ type: 'full' } as const);
  if (range.type === 'unsatisfiable') {
    closeSync(fd);
    res.writeHead(416, { ...headers, 'content-range': `bytes */${size}`, 'content-length': 0 });
    res.end();
    return;
  }
  const [status, start, end] = range.type === 'partial' ? [206, range.start, range.end] : [200, 0, size - 1];
  if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  headers['content-length'] = size === 0 ? 0 : end - start + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) {
    closeSync(fd);
    res.end();
    return;
  }
  const stream = createReadStream('', { fd, start, end, autoClose: true });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
