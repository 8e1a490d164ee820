import { existsSync, lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { RtcRecordError } from '../errors.js';
import { ROOM_NAME } from '../signaling/messages.js';
import type { Manifest, RecordingState } from './ManifestTypes.js';
import { isRecordingId } from './recordingId.js';
import type { RecordingFile, RecordingSummary, RecordingUploadSummary } from './RecordingServiceTypes.js';
import { resolveInside } from './storage.js';
import { readUploadState, uploadInterrupted } from './upload/uploadState.js';
import type { UploadStateFile } from './upload/UploadTypes.js';

// Reads recordings from disk (`<root>/<room>/<id>/manifest.json`): what `rtc-record list`, the API and the recordings
// page show. The disk is the source of truth, so recordings made by the CLI or before a restart are listed too.

/** The files a recording may expose for download; nothing else in its directory is ever served. */
export const DOWNLOADABLE = /^(?:part-\d{1,4}\/)?(?:manifest\.json|recording(?:\.part)?\.(?:mp4|m4a)|tracks\/[A-Za-z0-9_-]{1,200}\.(?:webm|mkv))$/;

const PART_FILE = /^(?:part-\d{1,4}\/)?recording\.part\.(?:mp4|m4a)$/;

/**
 * While a recording is finalizing (stopping, or being recovered after a crash) its part file is about to be remuxed
 * and removed, so a link to it would 404 a moment later: it is not offered until the final file is there.
 */
export function partFileWithdrawn(file: string, state: RecordingState, compositeState?: string): boolean {
  return PART_FILE.test(file) && (state === 'finalizing' || compositeState === 'finalizing');
}

/** The files a recording offers in `state` (see partFileWithdrawn). */
export function offeredFiles<F extends { path: string }>(files: F[], state: RecordingState, compositeState?: string): F[] {
  return files.filter((f) => !partFileWithdrawn(f.path, state, compositeState));
}

export interface LocatedRecording {
  room: string;
  id: string;
  /** Real path, checked to be inside the root. */
  dir: string;
}

/** Finds the directory of recording `id` under `root`; BAD_RECORDING_ID for a malformed id, NOT_FOUND if absent. */
export function locateRecording(root: string, id: string): LocatedRecording {
  if (!isRecordingId(id)) throw new RtcRecordError('BAD_RECORDING_ID', 'recording ids look like 20261126T011500123Z-k3x9qa');
  for (const room of roomDirs(root)) {
    if (!existsSync(join(root, room, id))) continue;
    // resolveInside follows symlinks: a recording dir that links out of the root is refused, not served.
    return { room, id, dir: resolveInside(root, room, id) };
  }
  throw new RtcRecordError('NOT_FOUND', `no recording ${id}`);
}

/** Every recording directory under `root`, newest first (ids sort by start time). */
export function locateAll(root: string): LocatedRecording[] {
  const out: LocatedRecording[] = [];
  for (const room of roomDirs(root)) {
    let ids: string[];
    try {
      ids = readdirSync(join(root, room)).filter(isRecordingId);
    } catch {
      continue;
    }
    for (const id of ids) {
      try {
        out.push({ room, id, dir: resolveInside(root, room, id) });
      } catch {
        // A symlink leading out of the root: not ours to list.
      }
    }
  }
  return out.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export function readManifest(dir: string): Manifest | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    return typeof m === 'object' && m && typeof m.id === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** The downloadable files present in a recording directory (regular files only: symlinks are never listed or served). */
export function recordingFiles(dir: string, manifest?: Manifest): RecordingFile[] {
  const files: RecordingFile[] = [];
  const add = (rel: string, kind: RecordingFile['kind'], mediaKind?: RecordingFile['mediaKind']) => {
    const st = regularFile(join(dir, rel));
    if (st) files.push({ path: rel, bytes: st.size, kind, ...(mediaKind ? { mediaKind } : {}) });
  };
  for (const name of ['recording.mp4', 'recording.m4a', 'recording.part.mp4', 'recording.part.m4a']) {
    add(name, 'composite', name.endsWith('m4a') ? 'audio' : 'video');
  }
  let trackNames: string[] = [];
  try {
    trackNames = readdirSync(join(dir, 'tracks')).sort();
  } catch {
    // no tracks yet
  }
  for (const name of trackNames) {
    const rel = `tracks/${name}`;
    if (!DOWNLOADABLE.test(rel)) continue;
    add(rel, 'track', manifest?.tracks.find((t) => t.file === rel)?.kind);
  }
  add('manifest.json', 'manifest');
  // Later parts of a recording continued by another worker (takeover): `part-N/…`, listed after part 1.
  for (const sub of partDirs(dir)) {
    for (const f of recordingFiles(join(dir, sub), readManifest(join(dir, sub)))) files.push({ ...f, path: `${sub}/${f.path}` });
  }
  return files;
}

function partDirs(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => /^part-\d{1,4}$/.test(n))
      .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  } catch {
    return [];
  }
}

/** A list entry from a manifest; `live` overrides what the disk says for recordings this process is running. */
export function summarize(loc: LocatedRecording, manifest: Manifest | undefined, now = Date.now()): RecordingSummary {
  const uploadState = readUploadState(loc.dir);
  const files = withStoredFiles(recordingFiles(loc.dir, manifest), uploadState, manifest);
  const upload = uploadState ? uploadSummary(uploadState) : undefined;
  const sizeBytes = files.reduce((sum, f) => sum + f.bytes, 0);
  if (!manifest) {
    return { id: loc.id, room: loc.room, state: 'failed', startedAt: idTime(loc.id), durationMs: 0, sizeBytes, participants: [], files, error: 'manifest.json missing or unreadable' };
  }
  const started = Date.parse(manifest.startedAt);
  const ended = manifest.stoppedAt ? Date.parse(manifest.stoppedAt) : manifest.state === 'recording' || manifest.state === 'finalizing' ? lastActivity(loc.dir, manifest, now) : started;
  const composite = manifest.composite;
  // A recording in parts (takeover) lasted from its start to the last part's end; part 1's mix covers part 1 only.
  const durationMs = (manifest.parts?.length ?? 0) < 2 && composite?.durationMs !== undefined ? composite.durationMs : Math.max(0, ended - started);
  return {
    id: manifest.id,
    room: manifest.room,
    state: manifest.state,
    startedAt: manifest.startedAt,
    ...(manifest.stoppedAt ? { stoppedAt: manifest.stoppedAt } : {}),
    durationMs,
    sizeBytes,
    participants: [...new Set(manifest.participants.map((p) => p.name))],
    files: offeredFiles(files, manifest.state, composite?.state),
    ...(manifest.error ? { error: manifest.error } : {}),
    ...(composite ? { composite: { file: composite.file, state: composite.state, format: composite.format } } : {}),
    ...(upload ? { upload } : {}),
  };
}

/**
 * The files whose local copy was deleted after a verified upload are still the recording's: listed from upload.json,
 * marked as in the bucket (downloads redirect there).
 */
export function withStoredFiles(local: RecordingFile[], upload: UploadStateFile | undefined, manifest?: Manifest): RecordingFile[] {
  if (upload?.state !== 'uploaded') return local;
  const here = new Set(local.map((f) => f.path));
  const stored: RecordingFile[] = [];
  for (const o of upload.objects) {
    if (here.has(o.file) || !DOWNLOADABLE.test(o.file) || o.file === 'manifest.json') continue;
    const kind: RecordingFile['kind'] = o.file.startsWith('tracks/') ? 'track' : 'composite';
    const mediaKind = kind === 'track' ? manifest?.tracks.find((t) => t.file === o.file)?.kind : o.file.endsWith('.m4a') ? 'audio' : 'video';
    stored.push({ path: o.file, bytes: o.size, kind, ...(mediaKind ? { mediaKind } : {}), location: 'bucket' });
  }
  if (!stored.length) return local;
  // Same order as recordingFiles: composite, tracks, manifest.
  const order = (f: RecordingFile) => (f.kind === 'composite' ? 0 : f.kind === 'track' ? 1 : 2);
  return [...local, ...stored].sort((a, b) => order(a) - order(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** upload.json for the list; an upload whose process died shows as failed (it is retried by `rtc-record upload`). */
export function uploadSummary(s: UploadStateFile): RecordingUploadSummary {
  const interrupted = uploadInterrupted(s);
  return {
    state: interrupted ? 'failed' : s.state,
    attempt: s.attempt,
    bucket: s.bucket,
    prefix: s.prefix,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    objects: s.objects.map(({ file, key, size, sha256 }) => ({ file, key, size, sha256 })),
    localDeleted: s.localDeleted,
    ...(s.progress && s.state === 'uploading' && !interrupted ? { progress: s.progress } : {}),
    ...(interrupted ? { error: { code: 'UPLOAD_FAILED', message: `interrupted: process ${s.owner?.pid} is gone` } } : s.error ? { error: s.error } : {}),
    updatedAt: s.updatedAt,
  };
}

/** Every recording on disk, newest first. */
export function listRecordingsOnDisk(root: string, now = Date.now()): RecordingSummary[] {
  return locateAll(root).map((loc) => summarize(loc, readManifest(loc.dir), now));
}

function roomDirs(root: string): string[] {
  try {
    return readdirSync(root).filter((r) => ROOM_NAME.test(r));
  } catch {
    return [];
  }
}

function regularFile(path: string): Stats | undefined {
  try {
    const st = lstatSync(path);
    return st.isFile() ? st : undefined;
  } catch {
    return undefined;
  }
}

/** For a recording still marked live on disk: its last sign of life (a manifest written once a second while live). */
function lastActivity(dir: string, manifest: Manifest, now: number): number {
  const st = regularFile(join(dir, 'manifest.json'));
  const lastPacket = Math.max(0, ...manifest.tracks.map((t) => t.lastPacketAtMs ?? 0));
  return Math.min(now, Math.max(st?.mtimeMs ?? 0, lastPacket, Date.parse(manifest.startedAt)));
}

function idTime(id: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z` : new Date(0).toISOString();
}
