import { resolve } from 'node:path';
import { RtcRecordError } from '../errors.js';
import { listRecordingsOnDisk, locateAll, readManifest } from '../recording/recordingList.js';
import { isAbandoned } from '../recording/recovery.js';
import type { RecordingSummary } from '../recording/RecordingServiceTypes.js';
import { ROOM_NAME } from '../signaling/messages.js';
import { formatBytes, formatElapsed } from './statusLine.js';

export interface ListOptions {
  out: string;
  json?: boolean;
  room?: string;
}

/** `rtc-record list`: the recordings under the output root, read from disk (no server needed), newest first. */
export function listCommand(opts: ListOptions): void {
  if (opts.room !== undefined && !ROOM_NAME.test(opts.room)) {
    throw new RtcRecordError('BAD_ROOM_NAME', `bad room name ${JSON.stringify(opts.room)}: use 1-64 of A-Z a-z 0-9 _ -`);
  }
  const root = resolve(opts.out);
  const recordings = listRecordingsOnDisk(root).filter((r) => opts.room === undefined || r.room === opts.room);
  if (opts.json) {
    console.log(JSON.stringify(recordings, null, 2));
    return;
  }
  if (recordings.length === 0) {
    console.log(`no recordings under ${root}`);
    return;
  }
  const unfinished = unfinishedIds(root);
  console.log(formatTable(recordings, unfinished));
  if (recordings.some((r) => unfinished.has(r.id))) {
    console.log('* left unfinished by a crash; `rtc-record serve` repairs it on start (state recovered)');
  }
}

export function formatTable(recordings: RecordingSummary[], unfinished = new Set<string>()): string {
  // The UPLOAD column only where something was sent to a bucket (--s3).
  const uploads = recordings.some((r) => r.upload);
  const head = ['ID', 'ROOM', 'STATE', 'STARTED', 'DURATION', 'SIZE', ...(uploads ? ['UPLOAD'] : []), 'PARTICIPANTS'];
  const rows = recordings.map((r) => [
    r.id,
    r.room,
    r.state + (unfinished.has(r.id) ? '*' : ''),
    r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    formatElapsed(r.durationMs),
    formatBytes(r.sizeBytes),
    ...(uploads ? [uploadCell(r)] : []),
    r.participants.join(', ') || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [fmt(head), ...rows.map(fmt)].join('\n');
}

/** `uploaded`, `uploaded+local` (kept), `failed#2` (attempt 2; `rtc-record upload <dir>` retries), `uploading 40%`, `queued`. */
function uploadCell(r: RecordingSummary): string {
  const u = r.upload;
  if (!u) return '-';
  if (u.state === 'uploaded') return u.localDeleted ? 'uploaded' : 'uploaded+local';
  if (u.state === 'failed') return `failed#${u.attempt}`;
  if (u.state === 'uploading') return `uploading${u.progress ? ` ${Math.floor((100 * u.progress.bytesDone) / Math.max(1, u.progress.bytesTotal))}%` : ''}`;
  return u.state;
}

/** Recordings marked live on disk whose recorder is gone (crash, kill). */
function unfinishedIds(root: string): Set<string> {
  const ids = new Set<string>();
  for (const loc of locateAll(root)) {
    const m = readManifest(loc.dir);
    if (m && isAbandoned(loc.dir, m)) ids.add(loc.id);
  }
  return ids;
}
