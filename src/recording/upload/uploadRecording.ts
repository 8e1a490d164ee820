import { createHash } from 'node:crypto';
import { existsSync, lstatSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isRtcRecordError, RtcRecordError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Manifest } from '../ManifestTypes.js';
import { readManifest } from '../recordingList.js';
import { renderKey } from './keyTemplate.js';
import { createS3Client } from './objectStore.js';
import { ObjectUploader } from './ObjectUploader.js';
import { listRecordingObjects, type LocalObject } from './recordingObjects.js';
import { currentOwner, readUploadState, uploadInterrupted, writeUploadState } from './uploadState.js';
import type { UploadedObject, UploadOptions, UploadOutcome, UploadProgress, UploadStateFile, UploadTarget } from './UploadTypes.js';

/** Manifest states in which the files are still being written: nothing is uploaded then. */
const UNFINISHED = new Set(['queued', 'starting', 'recording', 'finalizing']);

/** Directories this process is uploading now (upload.json's owner covers other processes). */
const inProgress = new Set<string>();

/**
 * Uploads a finished recording directory to `target` and verifies every object (size, and the SHA-256 computed here,
 * read back from the object's metadata). The manifest goes last, with the list of objects (key, size, sha256) added
 * under `upload`. Only when every object is verified are the local media files deleted (never with keepLocal, never
 * after a failure); manifest.json and upload.json stay, so the recording is still listed and its files served from the
 * store. Each attempt uses its own keys (`.attempt-N` from attempt 2), so a retry never overwrites.
 *
 * Progress and the outcome are written to `<dir>/upload.json` as it goes. Store failures resolve with state 'failed'
 * (and a coded error: BUCKET_UNREACHABLE, UPLOAD_FAILED, UPLOAD_VERIFY_FAILED); a directory that cannot be uploaded at
 * all (no manifest, still recording, another upload running) throws.
 */
export async function uploadRecording(
  dir: string,
  target: UploadTarget,
  opts: UploadOptions = {},
): Promise<UploadOutcome> {
  const log = opts.logger?.child({ upload: dir });
  const manifest = readManifest(dir);
  if (!manifest) throw new RtcRecordError('NOT_FOUND', `${dir}: no readable manifest.json (not a recording directory?)`);
  if (UNFINISHED.has(manifest.state)) {
    throw new RtcRecordError('RECORDING_ACTIVE', `recording ${manifest.id} is ${manifest.state}: it is uploaded once finished (a crashed one once recovered by \`rtc-record serve\`)`);
  }
  const previous = readUploadState(dir);
  if (inProgress.has(dir) || (previous?.state === 'uploading' && !uploadInterrupted(previous) && previous.owner?.pid !== process.pid)) {
    throw new RtcRecordError('UPLOAD_IN_PROGRESS', `recording ${manifest.id} is being uploaded by ${previous?.owner ? `process ${previous.owner.pid} on ${previous.owner.host}` : 'this process'}`);
  }
  if (previous?.state === 'uploaded' && previous.objects.some((o) => !o.file.endsWith('manifest.json') && !existsSync(join(dir, o.file)))) {
    // Its local copy is gone: another attempt would store (and list) only what is left. Idempotent instead.
    log?.info({ attempt: previous.attempt, bucket: previous.bucket }, 'already uploaded and the local copy deleted: nothing to upload');
    return { state: 'uploaded', bucket: previous.bucket, attempt: previous.attempt, objects: previous.objects, localDeleted: previous.localDeleted };
  }
  inProgress.add(dir);
  try {
    return await run(dir, manifest, target, previous, opts, log);
  } finally {
    inProgress.delete(dir);
  }
}

async function run(dir: string, manifest: Manifest, target: UploadTarget, previous: UploadStateFile | undefined, opts: UploadOptions, log?: Logger): Promise<UploadOutcome> {
  // Never an attempt number already used here: its keys may hold that attempt's objects.
  const attempt = Math.max(opts.attempt ?? 0, (previous?.attempt ?? 0) + 1);
  const history = [
    ...(previous?.history ?? []),
    // A queued state's history already holds the attempt before it.
    ...(previous && previous.state !== 'queued' ? [{ attempt: previous.attempt, state: previous.state, ...(previous.error ? { error: previous.error } : {}), ...(previous.finishedAt ? { finishedAt: previous.finishedAt } : {}) }] : []),
  ];
  const base = {
    attempt,
    bucket: target.bucket,
    prefix: target.prefix,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    ...(target.region ? { region: target.region } : {}),
    ...(target.forcePathStyle ? { forcePathStyle: true } : {}),
    keyTemplate: target.keyTemplate,
    ...(history.length ? { history } : {}),
  };
  const startedAt = new Date().toISOString();
  const objects: UploadedObject[] = [];
  let state: Omit<UploadStateFile, 'updatedAt' | 'version'> = { ...base, state: 'uploading', owner: currentOwner(), startedAt, objects, localDeleted: false };
  // upload.json reports to other processes: a write that fails (a full disk) must not stop the upload itself.
  const persist = (next: Omit<UploadStateFile, 'updatedAt' | 'version'>): boolean => {
    state = next;
    try {
      writeUploadState(dir, next);
      return true;
    } catch (err) {
      log?.warn({ err: (err as Error).message }, 'could not write upload.json');
      return false;
    }
  };
  persist(state);

  const fail = (err: unknown): UploadOutcome => {
    const e = isRtcRecordError(err) ? err : new RtcRecordError('UPLOAD_FAILED', (err as Error)?.message ?? String(err), { cause: err });
    const error = { code: e.code, message: e.message };
    persist({ ...base, state: 'failed', startedAt, finishedAt: new Date().toISOString(), objects, localDeleted: false, error });
    log?.error({ code: e.code, err: e.message, attempt, uploaded: objects.length }, 'upload failed; local files kept');
    return { state: 'failed', bucket: target.bucket, attempt, objects, localDeleted: false, error };
  };

  let files: LocalObject[];
  let keys: Map<string, string>;
  try {
    files = await listRecordingObjects(dir, manifest, { includeParts: opts.includeParts });
    keys = objectKeys(target, manifest, files, attempt);
  } catch (err) {
    return fail(err);
  }
  const manifestKey = keys.get('manifest.json')!;
  let bytesTotal = files.reduce((n, f) => n + f.size, 0);
  let bytesDone = 0;
  let lastPersist = 0;
  const progress = (file: LocalObject | { file: string; size: number }, key: string, loaded: number, filesDone: number) => {
    const p: UploadProgress = { file: file.file, key, loaded, size: file.size, bytesDone: bytesDone + loaded, bytesTotal, filesDone, filesTotal: files.length + 1 };
    opts.onProgress?.(p);
    // upload.json shows the progress to other processes, about once a second.
    if (Date.now() - lastPersist >= 1000) {
      lastPersist = Date.now();
      persist({ ...state, progress: { bytesDone: p.bytesDone, bytesTotal } });
    }
  };

  const client = createS3Client(target, { stallTimeoutMs: opts.stallTimeoutMs });
  const uploader = new ObjectUploader(client, target.bucket, { endpoint: target.endpoint, retry: opts.retry, partSize: opts.partSize, signal: opts.signal, logger: log });
  const t0 = Date.now();
  try {
    for (const f of files) {
      const key = keys.get(f.file)!;
      const { etag } = await uploader.put(
        { key, source: { path: f.path }, size: f.size, sha256: f.sha256, contentType: f.contentType, metadata: { attempt: String(attempt) } },
        (loaded) => progress(f, key, loaded, objects.length),
      );
      bytesDone += f.size;
      objects.push({ file: f.file, key, size: f.size, sha256: f.sha256, ...(etag ? { etag } : {}) });
      persist({ ...state, objects, progress: { bytesDone, bytesTotal } });
      log?.debug({ key, size: f.size }, 'object uploaded and verified');
    }
    // Last: the manifest with every object, so a reader that finds it knows the rest is there.
    const uploadedManifest = Buffer.from(
      JSON.stringify({ ...manifest, upload: { bucket: target.bucket, prefix: target.prefix, attempt, uploadedAt: new Date().toISOString(), objects } }, null, 2),
    );
    const sha256 = createHash('sha256').update(uploadedManifest).digest('hex');
    const m = { file: 'manifest.json', size: uploadedManifest.length };
    bytesTotal += m.size;
    const { etag } = await uploader.put(
      { key: manifestKey, source: { bytes: uploadedManifest }, size: m.size, sha256, contentType: 'application/json', metadata: { attempt: String(attempt) } },
      (loaded) => progress(m, manifestKey, loaded, objects.length),
    );
    objects.push({ file: 'manifest.json', key: manifestKey, size: m.size, sha256, ...(etag ? { etag } : {}) });
  } catch (err) {
    client.destroy();
    return fail(err);
  }
  client.destroy();

  // Where the files went is on disk before any local file goes: without that record nothing is deleted.
  const recorded = persist({ ...base, state: 'uploaded', startedAt, finishedAt: new Date().toISOString(), objects, localDeleted: false });
  const localDeleted = recorded && !opts.keepLocal ? deleteLocal(files, log) : false;
  if (localDeleted) persist({ ...state, localDeleted: true });
  const seconds = (Date.now() - t0) / 1000;
  log?.info({ bucket: target.bucket, attempt, objects: objects.length, bytes: bytesTotal, seconds, mbPerS: +(bytesTotal / 1e6 / Math.max(seconds, 1e-3)).toFixed(1), localDeleted }, 'recording uploaded and verified');
  return { state: 'uploaded', bucket: target.bucket, attempt, objects, localDeleted };
}

/** Every file's key (the manifest's too); two files with one key is a template error, found before anything is sent. */
function objectKeys(target: UploadTarget, manifest: Manifest, files: LocalObject[], attempt: number): Map<string, string> {
  const keys = new Map<string, string>();
  // A part directory uploaded by itself: its files are keyed where they sit in the whole recording.
  const part = manifest.part !== undefined && manifest.part >= 2 ? `part-${manifest.part}/` : '';
  const owners = new Map<string, string>();
  for (const f of [...files, { file: 'manifest.json' } as LocalObject]) {
    const key = renderKey(target.prefix, target.keyTemplate, {
      room: manifest.room,
      id: manifest.id,
      startedAt: manifest.startedAt,
      file: part + f.file,
      participant: f.participant,
      track: f.track,
      attempt,
    });
    const other = owners.get(key);
    if (other) throw new RtcRecordError('BAD_S3_TARGET', `the key template ${JSON.stringify(target.keyTemplate)} gives ${other} and ${f.file} the same key ${key}; use {file}`);
    owners.set(key, f.file);
    keys.set(f.file, key);
  }
  return keys;
}

/**
 * Deletes the uploaded media files, each only if it is still the file that was hashed (same size and mtime): a file
 * that changed since is kept. Manifests stay (the listing reads them). True when every media file is gone.
 */
function deleteLocal(files: LocalObject[], log?: Logger): boolean {
  let all = true;
  for (const f of files) {
    if (f.file.endsWith('manifest.json')) continue;
    try {
      const st = lstatSync(f.path);
      if (st.size !== f.size || st.mtimeMs !== f.mtimeMs) {
        all = false;
        log?.warn({ file: f.file }, 'changed since it was uploaded: kept');
        continue;
      }
      rmSync(f.path);
    } catch (err) {
      if (existsSync(f.path)) {
        all = false;
        log?.warn({ file: f.file, err: (err as Error).message }, 'could not delete the local copy');
      }
    }
  }
  return all;
}
