import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { UploadStateFile } from './UploadTypes.js';

export const UPLOAD_STATE_FILE = 'upload.json';

/** The upload state of a recording directory, or undefined when it was never uploaded (or the file is unreadable). */
export function readUploadState(dir: string): UploadStateFile | undefined {
  try {
    const s = JSON.parse(readFileSync(join(dir, UPLOAD_STATE_FILE), 'utf8')) as UploadStateFile;
    return s && typeof s === 'object' && typeof s.state === 'string' && Array.isArray(s.objects) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole to a temporary file and renamed over: a reader never sees half a state. */
export function writeUploadState(dir: string, state: Omit<UploadStateFile, 'updatedAt' | 'version'>): UploadStateFile {
  const full: UploadStateFile = { version: 1, ...state, updatedAt: new Date().toISOString() };
  const tmp = join(dir, `.${UPLOAD_STATE_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(full, null, 2));
  renameSync(tmp, join(dir, UPLOAD_STATE_FILE));
  return full;
}

export function currentOwner(): { pid: number; host: string } {
  return { pid: process.pid, host: hostname() };
}

/**
 * An upload marked `uploading` whose process is gone (crashed, killed) on this host. One on another host is taken as
 * running: we cannot see its process.
 */
export function uploadInterrupted(state: UploadStateFile): boolean {
  if (state.state !== 'uploading' || !state.owner) return false;
  if (state.owner.host !== hostname()) return false;
  if (state.owner.pid === process.pid) return false;
  try {
    process.kill(state.owner.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
