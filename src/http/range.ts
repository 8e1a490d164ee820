// HTTP Range (RFC 9110 §14) for downloads: one byte range per request, which is what players (seeking) and download
// managers (resuming) send. Several ranges are answered with the whole file, as the RFC allows.

export type RangeResult =
  | { type: 'full' }
  | { type: 'partial'; start: number; end: number }
  /** 416 with `Content-Range: bytes *\/size`. */
  | { type: 'unsatisfiable' };

const SPEC = /^(\d*)-(\d*)$/;

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { type: 'full' };
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  // Other units are not ours to interpret: serve the whole representation.
  if (!m) return /^\s*[a-z]+\s*=/i.test(header) ? { type: 'full' } : { type: 'unsatisfiable' };
  const specs = m[1]!.split(',').map((s) => s.trim());
  if (specs.length > 1) return specs.every((s) => SPEC.test(s) && s !== '-') ? { type: 'full' } : { type: 'unsatisfiable' };
  const parts = SPEC.exec(specs[0]!);
  if (!parts || (parts[1] === '' && parts[2] === '')) return { type: 'unsatisfiable' };
  const [, first, last] = parts;
  if (first === '') {
    // Suffix: the last N bytes.
    const n = Number(last);
    if (!Number.isSafeInteger(n) || n === 0 || size === 0) return { type: 'unsatisfiable' };
    return { type: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || start >= size) return { type: 'unsatisfiable' };
  return { type: 'partial', start, end: Math.min(end, size - 1) };
}

/** `If-Range` holding anything but the current validator means "the file changed: send it all". */
export function ifRangeMatches(ifRange: string | undefined, etag: string, lastModified: string): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  return v.startsWith('"') || v.startsWith('W/') ? v === etag : v === lastModified;
}
