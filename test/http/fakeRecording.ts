import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { newRecordingId } from '../../src/recording/recordingId.js';

export interface FakeRecording {
  root: string;
  room: string;
  id: string;
  dir: string;
  /** Bytes of tracks/Alice-a1-0.webm (deterministic: byte i = i % 251). */
  track: Buffer;
}

/** A finished recording on disk (manifest + one "track" of known bytes), without recording anything. */
export function fakeRecording(opts: { root?: string; room?: string; bytes?: number; state?: Manifest['state'] } = {}): FakeRecording {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'rtc-http-'));
  const room = opts.room ?? 'demo';
  const id = newRecordingId();
  const dir = join(root, room, id);
  mkdirSync(join(dir, 'tracks'), { recursive: true });
  const track = Buffer.alloc(opts.bytes ?? 100_000);
  for (let i = 0; i < track.length; i++) track[i] = i % 251;
  writeFileSync(join(dir, 'tracks', 'Alice-a1-0.webm'), track);
  const startedAt = new Date(Date.now() - 60_000).toISOString();
  const manifest: Manifest = {
    version: 1,
    id,
    room,
    state: opts.state ?? 'done',
    startedAt,
    stoppedAt: new Date(Date.parse(startedAt) + 42_000).toISOString(),
    participants: [{ id: 'a1', name: 'Alice', joinedAtMs: Date.parse(startedAt), leftAtMs: Date.parse(startedAt) + 42_000 }],
    tracks: [
      {
        id: 'Alice-a1-0',
        participantId: 'a1',
        participantName: 'Alice',
        kind: 'video',
        codec: 'vp8',
        clockRate: 90_000,
        ssrc: 1,
        file: 'tracks/Alice-a1-0.webm',
        packetsReceived: 10,
        packetsLost: 0,
        keyframesRequested: 1,
        bytesWritten: track.length,
      },
    ],
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { root, room, id, dir, track };
}
