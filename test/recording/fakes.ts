import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/logger.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { ManifestWriter } from '../../src/recording/ManifestWriter.js';
import { newRecordingId } from '../../src/recording/recordingId.js';
import type { RecorderHandle, RoomDirectory, StartRecorder } from '../../src/recording/RecordingServiceTypes.js';
import type { RoomRecorderEvents, RoomRecorderOptions } from '../../src/recording/RoomRecorderTypes.js';
import { createRecordingDir } from '../../src/recording/storage.js';
import type { PeerInfo } from '../../src/signaling/messages.js';

export const quietLogger = createLogger({ level: 'silent' });

export function tempRoot(prefix = 'rtc-svc-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A RoomRecorder stand-in: a real directory and manifest, no peer. */
export class FakeRecorder extends EventEmitter<RoomRecorderEvents> implements RecorderHandle {
  readonly dir: string;
  readonly writer: ManifestWriter;
  stopped = false;

  constructor(readonly options: RoomRecorderOptions) {
    super();
    const id = newRecordingId();
    this.dir = createRecordingDir(options.outputRoot!, options.room, id);
    const manifest: Manifest = { version: 1, id, room: options.room, state: 'recording', startedAt: new Date().toISOString(), participants: [], tracks: [] };
    this.writer = new ManifestWriter(this.dir, manifest);
  }

  get manifest(): Manifest {
    return this.writer.manifest;
  }

  get id(): string {
    return this.manifest.id;
  }

  async stop(): Promise<Manifest> {
    this.stopped = true;
    this.manifest.state = 'done';
    this.manifest.stoppedAt = new Date().toISOString();
    this.writer.writeNow();
    return this.manifest;
  }
}

export function fakeStarter(): { start: StartRecorder; started: FakeRecorder[] } {
  const started: FakeRecorder[] = [];
  return {
    started,
    start: async (options) => {
      const r = new FakeRecorder(options);
      started.push(r);
      return r;
    },
  };
}

/** Room presence as the signaling server reports it. */
export class FakeRooms extends EventEmitter<{ peerJoined: [string, PeerInfo]; peerLeft: [string, PeerInfo] }> implements RoomDirectory {
  private readonly rooms = new Map<string, PeerInfo[]>();
  private n = 0;

  listRooms() {
    return [...this.rooms].filter(([, p]) => p.length).map(([room, participants]) => ({ room, participants }));
  }

  join(room: string, name: string, role: PeerInfo['role'] = 'participant'): PeerInfo {
    const peer: PeerInfo = { id: `p${++this.n}`, name, role, joinedAt: Date.now() };
    this.rooms.set(room, [...(this.rooms.get(room) ?? []), peer]);
    this.emit('peerJoined', room, peer);
    return peer;
  }

  leave(room: string, peer: PeerInfo): void {
    this.rooms.set(room, (this.rooms.get(room) ?? []).filter((p) => p !== peer));
    this.emit('peerLeft', room, peer);
  }
}
