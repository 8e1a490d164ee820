import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../ManifestTypes.js';
import { DOWNLOADABLE } from '../recordingList.js';

/** A file of a recording directory that goes to the store. */
export interface LocalObject {
  /** Path in the recording directory: `recording.mp4`, `tracks/…`, `part-2/tracks/…`, `manifest.json`. */
  file: string;
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  contentType: string;
  participant?: string;
  track?: string;
}

const PART_DIR = /^part-\d{1,4}$/;

/**
 * The files a recording is made of, as they are now: those the recordings page offers (composite, tracks, manifest),
 * also in the `part-N/` directories a takeover adds. Never anything else in the directory (owner file, temp files).
 * The top manifest.json is not listed: it is uploaded last, with the object list added.
 */
export async function listRecordingObjects(dir: string, manifest: Manifest, opts: { includeParts?: boolean } = {}): Promise<LocalObject[]> {
  const out: LocalObject[] = [];
  const scan = async (sub: string, m: Manifest | undefined) => {
    const base = sub ? join(dir, sub) : dir;
    const names: string[] = [];
    for (const n of safeReaddir(base)) names.push(n);
    for (const n of safeReaddir(join(base, 'tracks'))) names.push(`tracks/${n}`);
    for (const rel of names.sort()) {
      if (!DOWNLOADABLE.test(rel) || (!sub && rel === 'manifest.json')) continue;
      const file = sub ? `${sub}/${rel}` : rel;
      const path = join(dir, file);
      const st = regular(path);
      if (!st) continue;
      const track = m?.tracks.find((t) => t.file === rel);
      out.push({
        file,
        path,
        size: st.size,
        mtimeMs: st.mtimeMs,
        sha256: await sha256File(path),
        contentType: contentType(rel, track?.kind),
        ...(track ? { participant: track.participantName, track: track.id } : {}),
      });
    }
  };
  await scan('', manifest);
  if (opts.includeParts === false) return out;
  for (const sub of safeReaddir(dir).filter((n) => PART_DIR.test(n)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))) {
    if (!lstatSync(join(dir, sub)).isDirectory()) continue;
    await scan(sub, readJson<Manifest>(join(dir, sub, 'manifest.json')));
  }
  return out;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export function contentType(file: string, kind?: 'audio' | 'video'): string {
  if (file.endsWith('.mp4')) return 'video/mp4';
  if (file.endsWith('.m4a')) return 'audio/mp4';
  if (file.endsWith('.webm')) return kind === 'audio' ? 'audio/webm' : 'video/webm';
  if (file.endsWith('.mkv')) return kind === 'audio' ? 'audio/x-matroska' : 'video/x-matroska';
  if (file.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function regular(path: string): { size: number; mtimeMs: number } | undefined {
  try {
    const st = lstatSync(path);
    return st.isFile() ? st : undefined;
  } catch {
    return undefined;
  }
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
