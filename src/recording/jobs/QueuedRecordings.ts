import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RtcRecordError } from '../../errors.js';
import type { CompositeSettings } from '../CompositeRecorderTypes.js';
import type { Manifest } from '../ManifestTypes.js';
import { locateAll, locateRecording, offeredFiles, readManifest, summarize, type LocatedRecording } from '../recordingList.js';
import type { ActiveRecordingInfo, RecordingSummary } from '../RecordingServiceTypes.js';
import type { JobQueue } from './JobQueue.js';
import { LIVE_STATES, type JobStatus } from './RecordingJobTypes.js';

/** How long `start` waits for a worker to join before answering with the job still queued/starting. */
const START_WAIT_MS = 20_000;

/**
 * A server's recordings when workers run them (`serve --redis`): start/stop/list/get go through the job queue, so any
 * server shows and controls any recording; files are read from the shared output root when this server can reach it.
 */
export class QueuedRecordings {
  constructor(
    private readonly queue: JobQueue,
    private readonly root: string,
    /** ws URL of the signaling server `room` lives on, handed to workers. */
    private readonly serverUrl: (room: string) => string | Promise<string>,
  ) {}

  async start(room: string, composite: CompositeSettings | false, tracks: boolean, trigger: 'api' | 'auto'): Promise<ActiveRecordingInfo> {
    const status = await this.queue.enqueue({ room, composite, tracks, trigger, serverUrl: await this.serverUrl(room) });
    let now = status;
    try {
      now = await this.queue.waitFor(status.id, (s) => s.state !== 'queued' && s.state !== 'starting', START_WAIT_MS);
    } catch (err) {
      // No worker had room in time: the answer says queued; it starts when one has (or fails and says why).
      if (!(err instanceof RtcRecordError && err.code === 'JOB_TIMEOUT')) throw err;
      now = this.queue.cached(status.id) ?? status;
    }
    if (now.state === 'failed') throw new RtcRecordError(codeOf(now.error), now.error ?? 'recording failed to start');
    return this.info(now);
  }

  async stop(id: string): Promise<Manifest> {
    const status = await this.queue.stop(id);
    return this.manifestOf(status);
  }

  /** Disk listing overlaid with the job states; recordings with nothing on this disk yet are listed from Redis. */
  list(room?: string): RecordingSummary[] {
    const now = Date.now();
    const statuses = new Map(this.queue.snapshot().map((s) => [s.id, s]));
    const out: RecordingSummary[] = [];
    const seen = new Set<string>();
    for (const loc of locateAll(this.root)) {
      if (room !== undefined && loc.room !== room) continue;
      seen.add(loc.id);
      out.push(this.overlay(summarize(loc, readManifest(loc.dir), now), statuses.get(loc.id), now));
    }
    for (const s of statuses.values()) {
      if (seen.has(s.id) || (room !== undefined && s.room !== room)) continue;
      out.push(this.overlay(bare(s), s, now));
    }
    return out.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  get(id: string): { room: string; dir: string; manifest: Manifest } {
    const s = this.queue.cached(id);
    let loc: LocatedRecording | undefined;
    try {
      loc = locateRecording(this.root, id);
    } catch (err) {
      if (!s) throw err;
    }
    const room = loc?.room ?? s!.room;
    const dir = loc?.dir ?? join(this.root, room, id);
    const manifest = this.manifestOf(s, loc && readManifest(loc.dir));
    return { room, dir, manifest };
  }

  isLive(id: string): boolean {
    const s = this.queue.cached(id);
    return !!s && LIVE_STATES.includes(s.state);
  }

  activeIn(room: string): ActiveRecordingInfo | undefined {
    const s = this.queue.snapshot().find((x) => x.room === room && LIVE_STATES.includes(x.state));
    return s && this.info(s);
  }

  activeRecordings(): ActiveRecordingInfo[] {
    return this.queue
      .snapshot()
      .filter((s) => LIVE_STATES.includes(s.state))
      .map((s) => this.info(s));
  }

  private info(s: JobStatus): ActiveRecordingInfo {
    const state = s.state === 'done' || s.state === 'failed' ? 'finalizing' : s.state; // only live ones are asked for
    return { id: s.id, room: s.room, state, manifest: this.manifestOf(s), dir: join(this.root, s.room, s.id) };
  }

  /** The manifest on disk (if reachable) with the job's state; a stand-in built from the status otherwise. */
  private manifestOf(s: JobStatus | undefined, onDisk?: Manifest): Manifest {
    const disk = onDisk ?? (s && existsSync(join(this.root, s.room, s.id)) ? readManifest(join(this.root, s.room, s.id)) : undefined);
    if (!s) {
      if (!disk) throw new RtcRecordError('NOT_FOUND', 'recording has no readable manifest');
      return disk;
    }
    const m: Manifest = disk
      ? { ...disk }
      : { version: 1, id: s.id, room: s.room, state: s.state, startedAt: new Date(s.startedAt ?? s.enqueuedAt).toISOString(), participants: [], tracks: [] };
    if (LIVE_STATES.includes(s.state) || s.state === 'failed') m.state = s.state;
    if (s.error) m.error = s.error;
    if (s.parts.length > 1 && !m.parts) {
      m.parts = s.parts.map(({ part, dir, worker, startedAt, endedAt, state, error }) => ({ part, dir, worker, startedAt, endedAt, state, error }));
      m.gaps = s.gaps;
    }
    return m;
  }

  private overlay(summary: RecordingSummary, s: JobStatus | undefined, now: number): RecordingSummary {
    if (!s) return summary;
    if (LIVE_STATES.includes(s.state) || s.state === 'failed') summary.state = s.state;
    if (s.error) summary.error = s.error;
    else if (s.note && LIVE_STATES.includes(s.state)) summary.error = s.note;
    if (LIVE_STATES.includes(s.state) && s.startedAt) summary.durationMs = now - s.startedAt;
    summary.files = offeredFiles(summary.files, summary.state);
    return summary;
  }
}

function bare(s: JobStatus): RecordingSummary {
  return {
    id: s.id,
    room: s.room,
    state: s.state,
    startedAt: new Date(s.startedAt ?? s.enqueuedAt).toISOString(),
    ...(s.stoppedAt ? { stoppedAt: new Date(s.stoppedAt).toISOString() } : {}),
    durationMs: 0,
    sizeBytes: 0,
    participants: [],
    files: [],
  };
}

export function codeOf(error: string | undefined): RtcRecordError['code'] {
  const m = /^([A-Z_]+):/.exec(error ?? '');
  return (m?.[1] as RtcRecordError['code']) ?? 'INTERNAL';
}
