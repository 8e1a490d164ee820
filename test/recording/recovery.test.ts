// Recordings a crash left unfinished are repaired on the next start: the fragmented composite becomes recording.mp4,
// track files written live (no duration, no cues) are remuxed, the manifest is closed and marked `recovered`.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { newRecordingId } from '../../src/recording/recordingId.js';
import { RecordingService } from '../../src/recording/RecordingService.js';
import { isAbandoned, OWNER_FILE, STALE_AFTER_MS } from '../../src/recording/recovery.js';
import { createRecordingDir } from '../../src/recording/storage.js';
import { decodeErrors, probe, streamDuration } from '../harness/analyze.js';
import { quietLogger, tempRoot } from './fakes.js';

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';

/** ffmpeg writing to a pipe cannot seek back: like our live sinks after a SIGKILL, the file has no duration or cues. */
async function liveWebm(path: string, seconds: number): Promise<void> {
  const child = spawn(FFMPEG, ['-v', 'error', '-f', 'lavfi', '-i', `testsrc=s=160x120:r=15:d=${seconds}`, '-c:v', 'libvpx', '-deadline', 'realtime', '-f', 'webm', 'pipe:1']);
  const out = createWriteStream(path);
  child.stdout.pipe(out);
  await new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    child.on('error', reject);
  });
}

function fragmentedMp4(path: string, seconds: number): void {
  execFileSync(FFMPEG, [
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc=s=160x120:r=15:d=${seconds}`, '-f', 'lavfi', '-i', `sine=d=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-c:a', 'aac', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', '-y', path,
  ]);
}

async function crashedRecording(root: string, opts: { owner?: number; composite?: boolean } = {}) {
  const id = newRecordingId(new Date(Date.now() - 10_000));
  const dir = createRecordingDir(root, 'demo', id);
  await liveWebm(join(dir, 'tracks', 'Alice-a1-0.webm'), 4);
  if (opts.composite) {
    fragmentedMp4(join(dir, 'recording.part.mp4'), 4);
    truncateSync(join(dir, 'recording.part.mp4'), statSync(join(dir, 'recording.part.mp4')).size - 300); // a torn last fragment
  }
  const startedAt = new Date(Date.now() - 10_000).toISOString();
  const manifest: Manifest = {
    version: 1, id, room: 'demo', state: 'recording', startedAt,
    participants: [{ id: 'a1', name: 'Alice', joinedAtMs: Date.parse(startedAt) }],
    tracks: [{ id: 'Alice-a1-0', participantId: 'a1', participantName: 'Alice', kind: 'video', codec: 'vp8', clockRate: 90000, ssrc: 1, file: 'tracks/Alice-a1-0.webm', packetsReceived: 60, packetsLost: 0, keyframesRequested: 1, bytesWritten: 1, lastPacketAtMs: Date.now() - 5000 }],
    ...(opts.composite
      ? { composite: { file: 'recording.part.mp4', state: 'recording' as const, format: 'mp4' as const, maxSpeakers: 3, startedAtMs: Date.parse(startedAt), videoFramesWritten: 60, videoFramesDropped: 0, audioFramesWritten: 100, layoutChanges: 1 } }
      : {}),
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  if (opts.owner !== undefined) writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ pid: opts.owner }));
  return { id, dir };
}

function deadPid(): number {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid!;
  execFileSync('sleep', ['0.3']);
  return pid;
}

describe('recovery', () => {
  it('tells abandoned recordings from live ones', async () => {
    const root = tempRoot('rtc-recov-');
    const dead = await crashedRecording(root, { owner: deadPid() });
    const mine = await crashedRecording(root, { owner: process.pid });
    const unknown = await crashedRecording(root);
    const read = (d: string) => JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as Manifest;
    expect(isAbandoned(dead.dir, read(dead.dir))).toBe(true);
    expect(isAbandoned(mine.dir, read(mine.dir))).toBe(false);
    // No owner file (a CLI recording): abandoned once its manifest has gone stale.
    expect(isAbandoned(unknown.dir, read(unknown.dir))).toBe(false);
    const old = (Date.now() - STALE_AFTER_MS - 5000) / 1000;
    utimesSync(join(unknown.dir, 'manifest.json'), old, old);
    expect(isAbandoned(unknown.dir, read(unknown.dir))).toBe(true);
  });

  it('repairs the composite and the tracks and marks the recording recovered', async () => {
    const root = tempRoot('rtc-recov-');
    const { id, dir } = await crashedRecording(root, { owner: deadPid(), composite: true });
    const track = join(dir, 'tracks', 'Alice-a1-0.webm');
    expect((await probe(track)).durationSec).toBeNull();

    const svc = new RecordingService({ outputRoot: root, serverUrl: 'ws://127.0.0.1:1', logger: quietLogger, recoveryIntervalMs: 0 });
    const finished: Manifest[] = [];
    svc.on('recordingFinished', (m) => finished.push(m));
    await svc.recover();
    await svc.shutdown();

    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest & { recoveredAt?: string };
    expect(m).toMatchObject({ id, state: 'recovered', stoppedAt: expect.any(String), recoveredAt: expect.any(String) });
    expect(m.error).toBeUndefined();
    expect(m.participants[0]!.leftAtMs).toBeGreaterThan(0);
    expect(m.composite).toMatchObject({ file: 'recording.mp4', state: 'done' });
    expect(finished.map((f) => f.state)).toEqual(['recovered']);
    expect(existsSync(join(dir, 'recording.part.mp4'))).toBe(false);
    expect(existsSync(join(dir, OWNER_FILE))).toBe(false);
    // Both files play, seekable, with (nearly) all that was written.
    // (A torn last fragment can leave one undecodable audio frame at the very end; that is finalizeComposite's call.)
    expect((await decodeErrors(join(dir, 'recording.mp4'))).filter((e) => !/\baac\b|stream #0:1/.test(e))).toEqual([]);
    expect(await streamDuration(join(dir, 'recording.mp4'), 'video')).toBeGreaterThan(2.5);
    expect((await probe(track)).durationSec).toBeGreaterThan(3.5);
    expect(await decodeErrors(track)).toEqual([]);
    expect(svc.list()[0]).toMatchObject({ id, state: 'recovered' });
  });

  it('leaves recordings alone whose owner is alive', async () => {
    const root = tempRoot('rtc-recov-');
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)']);
    try {
      const { dir } = await crashedRecording(root, { owner: other.pid! });
      const svc = new RecordingService({ outputRoot: root, serverUrl: 'ws://127.0.0.1:1', logger: quietLogger, recoveryIntervalMs: 0 });
      await svc.recover();
      await svc.shutdown();
      expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).state).toBe('recording');
    } finally {
      other.kill('SIGKILL');
    }
  });
});
