import { mkdirSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { RtcRecordError } from '../errors.js';

/** The default output root: nothing outside it is ever written or served by the recorder. */
export const DEFAULT_OUTPUT_ROOT = 'recordings';

/**
 * Joins `parts` under `root` and refuses anything that would land outside it (`..`, absolute parts, or a symlink
 * inside the root pointing out). The root itself is created if missing.
 */
export function resolveInside(root: string, ...parts: string[]): string {
  mkdirSync(root, { recursive: true });
  const realRoot = realpathSync(root);
  const target = resolve(realRoot, ...parts);
  if (!isWithin(realRoot, target)) throw new RtcRecordError('FORBIDDEN', `path escapes the recordings root: ${parts.join('/')}`);
  // Follow whatever part of the target already exists: a symlink inside the root must not lead out of it.
  let existing = target;
  for (;;) {
    try {
      const real = realpathSync(existing);
      if (!isWithin(realRoot, real)) throw new RtcRecordError('FORBIDDEN', `path escapes the recordings root: ${parts.join('/')}`);
      break;
    } catch (err) {
      if (err instanceof RtcRecordError) throw err;
      const parent = resolve(existing, '..');
      if (parent === existing) break;
      existing = parent;
    }
  }
  return target;
}

function isWithin(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/** Where part N ≥ 2 of a recording continued after a takeover lives, inside the recording's directory. */
export function partDirName(part: number): string {
  return `part-${part}`;
}

/**
 * Makes `recordings/<room>/<id>/tracks` (or `<id>/part-N/tracks` for a later part), reporting an unwritable root as
 * such rather than as a bare EACCES.
 */
export function createRecordingDir(root: string, room: string, id: string, sub?: string): string {
  try {
    const dir = sub ? resolveInside(root, room, id, sub) : resolveInside(root, room, id);
    mkdirSync(resolve(dir, 'tracks'), { recursive: true });
    return dir;
  } catch (err) {
    if (err instanceof RtcRecordError) throw err;
    const e = err as NodeJS.ErrnoException;
    const code = e.code === 'ENOSPC' ? 'DISK_FULL' : 'OUTPUT_NOT_WRITABLE';
    throw new RtcRecordError(code, `cannot create the recording directory under ${root}: ${e.message}`, { cause: err });
  }
}
