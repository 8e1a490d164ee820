import { existsSync, lstatSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { runFfmpeg } from '../media/ffmpeg/index.js';
import { finalizeComposite, FINAL_FILES } from './finalizeComposite.js';
import type { Manifest } from './ManifestTypes.js';
import { ManifestWriter } from './ManifestWriter.js';

// Repairs recordings a crash left unfinished (manifest state 'recording'/'finalizing'): the fragmented composite is
// remuxed into recording.mp4, each track file (no duration/cues after a SIGKILL) is remuxed so players can seek, and the
// manifest is closed and marked 'recovered'. Whatever survived is kept; nothing is re-encoded.

/** Written by the service into each recording it runs, so a restart can tell a dead owner from a live one. */
export const OWNER_FILE = '.owner.json';
/** A live recorder rewrites its manifest every ~2 s; one untouched this long has no live owner. */
export const STALE_AFTER_MS = 30_000;

export type RecoveredManifest = Manifest & { recoveredAt?: string };

export function writeOwner(dir: string): void {
  try {
    writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid }) + '\n');
  } catch {
    // Only a hint for recovery; the staleness rule covers its absence.
  }
}

/** True when a recording marked live on disk has nobody writing it any more. */
export function isAbandoned(dir: string, manifest: Manifest, now = Date.now()): boolean {
  if (manifest.state !== 'recording' && manifest.state !== 'finalizing') return false;
  const owner = readOwnerPid(dir);
  if (owner !== undefined && owner !== process.pid && !processAlive(owner)) return true;
  if (owner === process.pid) return false;
  try {
    return now - statSync(join(dir, 'manifest.json')).mtimeMs > STALE_AFTER_MS;
  } catch {
    return true;
  }
}

export async function recoverRecording(dir: string, manifest: Manifest, logger: Logger): Promise<RecoveredManifest> {
  const log = logger.child({ recording: manifest.id, room: manifest.room });
  log.warn('recovering a recording left unfinished (crash or kill)');
  const problems: string[] = [];

  let composite: Awaited<ReturnType<typeof finalizeComposite>>;
  try {
    composite = await finalizeComposite(dir, log);
  } catch (err) {
    problems.push(`mixed recording: ${(err as Error).message.split('\n')[0]}`);
  }

  for (const track of manifest.tracks) {
    if (!track.file) continue;
    const file = join(dir, track.file);
    try {
      const st = lstatSync(file);
      if (!st.isFile() || st.size === 0) continue;
      await remuxTrack(file, log);
      track.bytesWritten = statSync(file).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      problems.push(`${track.file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  const lastMs = lastSign(dir, manifest);
  const m = manifest as RecoveredManifest;
  m.state = 'recovered';
  m.stoppedAt ??= new Date(lastMs).toISOString();
  m.recoveredAt = new Date().toISOString();
  for (const p of m.participants) p.leftAtMs ??= lastMs;
  for (const t of m.tracks) t.endedAtMs ??= t.lastPacketAtMs ?? lastMs;
  if (m.composite) {
    if (composite) {
      m.composite.file = composite.file;
      m.composite.state = 'done';
    } else if (existsSync(join(dir, FINAL_FILES[m.composite.format]))) {
      m.composite.file = FINAL_FILES[m.composite.format];
      if (m.composite.state !== 'failed') m.composite.state = 'done';
    } else if (m.composite.state !== 'done') {
      m.composite.state = 'failed';
      m.composite.error ??= 'nothing of the mixed recording survived';
    }
  }
  if (problems.length) m.error = `recovered with problems: ${problems.join('; ')}`;
  const writer = new ManifestWriter(dir, m);
  if (writer.error) throw writer.error;
  rmSync(join(dir, OWNER_FILE), { force: true });
  log.warn({ problems }, 'recording recovered');
  return m;
}

/** `-c copy` rewrites the header with the real duration and adds cues; the original is replaced only on success. */
async function remuxTrack(file: string, logger: Logger): Promise<void> {
  const format = file.endsWith('.mkv') ? 'matroska' : 'webm';
  const tmp = `${file}.recovering`;
  try {
    await runFfmpeg(['-v', 'error', '-err_detect', 'ignore_err', '-i', file, '-map', '0', '-c', 'copy', '-f', format, '-y', tmp], {
      logger,
      label: `recover ${file}`,
      timeoutMs: 300_000,
    });
    if (statSync(tmp).size === 0) throw new Error('remux produced an empty file');
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** When the recording was last alive: its last packet, else the manifest's last write. */
function lastSign(dir: string, manifest: Manifest): number {
  const lastPacket = Math.max(0, ...manifest.tracks.map((t) => t.lastPacketAtMs ?? 0));
  if (lastPacket > 0) return lastPacket;
  try {
    return statSync(join(dir, 'manifest.json')).mtimeMs;
  } catch {
    return Date.parse(manifest.startedAt);
  }
}

function readOwnerPid(dir: string): number | undefined {
  try {
    const pid = (JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
