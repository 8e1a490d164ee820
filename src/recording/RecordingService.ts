import { EventEmitter } from 'node:events';
import { lstatSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isRtcRecordError, RtcRecordError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ROOM_NAME, type PeerInfo } from '../signaling/messages.js';
import type { CompositeSettings } from './CompositeRecorderTypes.js';
import type { Manifest } from './ManifestTypes.js';
import { ManifestWriter } from './ManifestWriter.js';
import { locateAll, locateRecording, offeredFiles, readManifest, summarize } from './recordingList.js';
import type {
  ActiveRecordingInfo,
  RecorderHandle,
  RecordingServiceEvents,
  RecordingServiceOptions,
  RecordingSummary,
  StartRecordingOptions,
  StartRecorder,
} from './RecordingServiceTypes.js';
import { isAbandoned, OWNER_FILE, recoverRecording, writeOwner } from './recovery.js';
import { assertSomethingToRecord, RoomRecorder } from './RoomRecorder.js';
import { codeOf, QueuedRecordings } from './jobs/QueuedRecordings.js';
import type { JobStatus, WorkerAdvert } from './jobs/RecordingJobTypes.js';
import { RecordingUploads } from './upload/RecordingUploads.js';

interface Active {
  room: string;
  trigger: 'api' | 'auto';
  /** Set once the recorder has joined. */
  recorder?: RecorderHandle;
  starting?: Promise<RecorderHandle>;
  stopping?: Promise<Manifest>;
  /** A fatal error (disk full, output unwritable) that ended the recording. */
  failure?: RtcRecordError;
}

/** Errors after which the recording cannot go on: it is stopped, what was written is kept, and it is marked failed. */
const FATAL_CODES = new Set(['DISK_FULL', 'OUTPUT_NOT_WRITABLE']);

const isParticipant = (p: PeerInfo) => p.role === 'participant' || p.role === 'seed-sender';

/**
 * Runs the recordings of a server: one RoomRecorder (its own recorder peer) per recorded room, started and stopped by
 * the API or, with auto-record, by room presence. Also repairs what a crash left behind and lists what is on disk.
 */
export class RecordingService extends EventEmitter<RecordingServiceEvents> {
  readonly root: string;
  private readonly active = new Map<string, Active>();
  /** Rooms whose auto recording was stopped by hand: not restarted until the room empties. */
  private readonly suppressed = new Set<string>();
  private readonly autoStopTimers = new Map<string, NodeJS.Timeout>();
  private readonly recovering = new Set<string>();
  /** Final state of recordings whose manifest could not be written (full disk), so the list still tells the truth. */
  private readonly outcomes = new Map<string, { state: 'failed'; error: string }>();
  private readonly startRecorder: StartRecorder;
  /** With workers (`serve --redis`): recordings go through the job queue instead of running here. */
  private readonly queued?: QueuedRecordings;
  private readonly logger: Logger;
  private readonly recoveryTimer?: NodeJS.Timeout;
  private recoveryRun?: Promise<void>;
  private closed = false;
  private readonly onPeerJoined = (room: string, peer: PeerInfo) => this.peerJoined(room, peer);
  private readonly onPeerLeft = (room: string, peer: PeerInfo) => this.peerLeft(room, peer);
  /** Last state of each worker-run recording this server has seen (its events are sent on transitions). */
  private readonly jobStates = new Map<string, string>();
  private readonly onJobStatus = (s: JobStatus) => this.jobEvent(s);
  /** Totals of recordings that ended in this process (live ones are added on read). */
  readonly finished = { bytesWritten: 0, packetsReceived: 0, packetsLost: 0, done: 0, failed: 0, recovered: 0 };
  ffmpegRestarts = 0;
  /** Uploads finished recordings to the bucket (`serve --s3`); with workers, they upload their own. */
  readonly uploads?: RecordingUploads;

  constructor(private readonly options: RecordingServiceOptions) {
    super();
    this.root = resolve(options.outputRoot);
    this.logger = options.logger;
    this.startRecorder = options.startRecorder ?? ((o, l) => RoomRecorder.start(o, l));
    options.rooms?.on('peerJoined', this.onPeerJoined);
    options.rooms?.on('peerLeft', this.onPeerLeft);
    if (options.jobs) {
      this.queued = new QueuedRecordings(options.jobs.queue, this.root, options.jobs.serverUrl);
      // States known at start are history: only transitions seen from now on are events.
      for (const s of options.jobs.queue.snapshot()) this.jobStates.set(s.id, s.state);
      options.jobs.queue.on('status', this.onJobStatus);
    }
    if (options.upload && !options.jobs) {
      this.uploads = new RecordingUploads(options.upload, this.logger);
      this.uploads.resumeInterrupted(locateAll(this.root).map((l) => l.dir));
    }
    // With workers, recovery is theirs: the one that takes a recording over (or restarts on that disk) repairs it.
    const every = options.jobs ? 0 : (options.recoveryIntervalMs ?? 30_000);
    if (every > 0) this.recoveryTimer = setInterval(() => void this.recover(), every).unref();
  }

  get autoRecord(): boolean {
    return this.options.autoRecord === true;
  }

  get accepting(): boolean {
    return !this.closed;
  }

  /** Starts auto recordings of rooms that are already occupied; call once the server is up. */
  startAutoRecording(): void {
    if (!this.autoRecord || !this.options.rooms) return;
    for (const r of this.options.rooms.listRooms()) {
      if (r.participants.some(isParticipant)) this.autoStart(r.room);
    }
  }

  /** Starts recording `room` with its own recorder peer; resolves once it has joined and its directory exists. */
  async start(room: string, opts: StartRecordingOptions = {}, trigger: 'api' | 'auto' = 'api'): Promise<ActiveRecordingInfo> {
    if (this.closed) throw new RtcRecordError('SHUTTING_DOWN', 'the server is shutting down; no new recordings');
    if (!ROOM_NAME.test(room)) throw new RtcRecordError('BAD_ROOM_NAME', `bad room name ${JSON.stringify(room)}: use 1-64 of A-Z a-z 0-9 _ -`);
    const existing = this.active.get(room);
    if (existing) {
      const id = existing.recorder?.id;
      throw new RtcRecordError('ALREADY_RECORDING', `room ${room} is already being recorded${id ? ` (${id})` : ''}`);
    }
    const composite = this.compositeSettings(opts);
    const tracks = opts.tracks ?? this.options.tracks ?? true;
    assertSomethingToRecord(composite, tracks);
    if (this.queued) return this.queued.start(room, composite, tracks, trigger);
    const max = this.options.maxConcurrent ?? 16;
    if (this.active.size >= max) throw new RtcRecordError('TOO_MANY_RECORDINGS', `${max} recordings are running already`);

    const entry: Active = { room, trigger };
    this.active.set(room, entry);
    entry.starting = this.startRecorder(
      {
        serverUrl: typeof this.options.serverUrl === 'function' ? this.options.serverUrl() : this.options.serverUrl,
        room,
        outputRoot: this.root,
        iceAddress: this.options.iceAddress,
        iceServers: this.options.iceServers,
        tap: this.options.tap,
        composite,
        tracks,
      },
      this.logger.child({ room }),
    );
    let recorder: RecorderHandle;
    try {
      recorder = await entry.starting;
    } catch (err) {
      this.active.delete(room);
      const e = asCoded(err);
      this.logger.error({ room, code: e.code, err: e.message }, 'recording could not start');
      this.emit('recordingFailed', { room, code: e.code, error: e.message });
      throw e;
    }
    entry.recorder = recorder;
    entry.starting = undefined;
    writeOwner(recorder.dir);
    recorder.on('error', (err) => this.onRecorderError(entry, err));
    this.logger.info({ room, id: recorder.id, trigger }, 'recording started');
    this.emit('recordingStarted', { id: recorder.id, room, startedAt: recorder.manifest.startedAt, trigger });
    // Stopped (or the server closed) while joining: finish at once.
    if (this.closed) void this.stopEntry(entry);
    return this.info(entry)!;
  }

  /** Stops a running recording by id; resolves with its final manifest once every file is finalized. */
  async stop(id: string): Promise<Manifest> {
    if (this.queued) {
      const room = this.queued.get(id).room;
      if (this.roomOccupied(room)) this.suppressed.add(room);
      return this.queued.stop(id);
    }
    const entry = [...this.active.values()].find((a) => a.recorder?.id === id);
    if (!entry) {
      locateRecording(this.root, id); // NOT_FOUND / BAD_RECORDING_ID when it does not exist at all
      throw new RtcRecordError('NOT_FOUND', `recording ${id} is not running`);
    }
    if (this.roomOccupied(entry.room)) this.suppressed.add(entry.room);
    return this.stopEntry(entry);
  }

  /** Every recording on disk, newest first, with the live state of those this service is running. */
  list(room?: string): RecordingSummary[] {
    if (this.queued) return this.queued.list(room);
    const now = Date.now();
    const live = new Map([...this.active.values()].filter((a) => a.recorder).map((a) => [a.recorder!.id, a]));
    const out: RecordingSummary[] = [];
    for (const loc of locateAll(this.root)) {
      if (room !== undefined && loc.room !== room) continue;
      const entry = live.get(loc.id);
      const summary = summarize(loc, entry ? entry.recorder!.manifest : readManifest(loc.dir), now);
      out.push(this.overlay(summary, entry));
    }
    return out;
  }

  /** The manifest of one recording (the live one while it runs). */
  get(id: string): { room: string; dir: string; manifest: Manifest } {
    if (this.queued) return this.queued.get(id);
    const loc = locateRecording(this.root, id);
    const entry = [...this.active.values()].find((a) => a.recorder?.id === id);
    const manifest = entry ? { ...entry.recorder!.manifest } : readManifest(loc.dir);
    if (!manifest) throw new RtcRecordError('NOT_FOUND', `recording ${id} has no readable manifest`);
    if (entry?.stopping && manifest.state === 'recording') manifest.state = 'finalizing';
    if (this.recovering.has(id)) manifest.state = 'finalizing';
    const outcome = this.outcomes.get(id);
    if (outcome) Object.assign(manifest, outcome);
    return { room: loc.room, dir: loc.dir, manifest };
  }

  /** Deletes a finished recording's directory (never a running or recovering one). */
  delete(id: string): { room: string } {
    const loc = locateRecording(this.root, id);
    if ([...this.active.values()].some((a) => a.recorder?.id === id) || this.recovering.has(id) || this.queued?.isLive(id) || this.uploads?.isBusy(loc.dir)) {
      throw new RtcRecordError('RECORDING_ACTIVE', `recording ${id} is still running; stop it first`);
    }
    // A recording directory that is itself a symlink is not ours to delete (even if it points inside the root).
    if (lstatSync(join(this.root, loc.room, id)).isSymbolicLink()) throw new RtcRecordError('FORBIDDEN', `recording ${id} is a symlink`);
    rmSync(loc.dir, { recursive: true, force: true }); // rm never follows symlinks inside the directory
    this.outcomes.delete(id);
    try {
      if (readdirSync(dirname(loc.dir)).length === 0) rmdirSync(dirname(loc.dir));
    } catch {
      // another recording of the room appeared meanwhile
    }
    this.logger.info({ id, room: loc.room }, 'recording deleted');
    return { room: loc.room };
  }

  /** The recording workers sharing this server's Redis, as they advertise themselves (none without `--redis`). */
  async workers(): Promise<WorkerAdvert[]> {
    return this.options.jobs ? this.options.jobs.queue.store.workers() : [];
  }

  /** The recording running in `room`, if any. */
  activeIn(room: string): ActiveRecordingInfo | undefined {
    if (this.queued) return this.queued.activeIn(room);
    const entry = this.active.get(room);
    return entry && this.info(entry);
  }

  activeRecordings(): ActiveRecordingInfo[] {
    if (this.queued) return this.queued.activeRecordings();
    return [...this.active.values()].map((a) => this.info(a)).filter((a): a is ActiveRecordingInfo => a !== undefined);
  }

  /**
   * Repairs recordings left unfinished by a crash (their owner is dead or their manifest went stale) and marks them
   * `recovered`. Runs at start and then periodically; one run at a time.
   */
  recover(): Promise<void> {
    if (this.queued) return Promise.resolve();
    this.recoveryRun ??= (async () => {
      try {
        const running = new Set([...this.active.values()].map((a) => a.recorder?.id));
        for (const loc of locateAll(this.root)) {
          if (this.closed) break;
          if (running.has(loc.id) || this.recovering.has(loc.id)) continue;
          const manifest = readManifest(loc.dir);
          if (!manifest || !isAbandoned(loc.dir, manifest)) continue;
          this.recovering.add(loc.id);
          try {
            const recovered = await recoverRecording(loc.dir, manifest, this.logger);
            this.finished.recovered++;
            this.emit('recordingFinished', recovered);
            this.uploads?.schedule(loc.dir);
          } catch (err) {
            this.logger.error({ id: loc.id, err: (err as Error).message }, 'recovery failed; files left as they are');
          } finally {
            this.recovering.delete(loc.id);
          }
        }
      } finally {
        this.recoveryRun = undefined;
      }
    })();
    return this.recoveryRun;
  }

  /** SIGTERM: refuse new work, finalize every running recording, then resolve. */
  async shutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.recoveryTimer);
    this.options.jobs?.queue.off('status', this.onJobStatus);
    for (const t of this.autoStopTimers.values()) clearTimeout(t);
    this.autoStopTimers.clear();
    this.options.rooms?.off('peerJoined', this.onPeerJoined);
    this.options.rooms?.off('peerLeft', this.onPeerLeft);
    const entries = [...this.active.values()];
    await Promise.allSettled(
      entries.map(async (entry) => {
        if (entry.starting) await entry.starting.catch(() => undefined);
        if (entry.recorder) await this.stopEntry(entry);
      }),
    );
    await this.recoveryRun?.catch(() => undefined);
    await this.uploads?.shutdown();
  }

  private compositeSettings(opts: StartRecordingOptions): CompositeSettings | false {
    const defaults = this.options.composite;
    if (opts.composite === false || (defaults === false && opts.composite !== true)) return false;
    return {
      ...(defaults || {}),
      ...(opts.layout ? { layout: opts.layout } : {}),
      ...(opts.maxSpeakers ? { maxSpeakers: opts.maxSpeakers } : {}),
      ...(opts.video !== undefined ? { video: opts.video } : {}),
    };
  }

  private stopEntry(entry: Active): Promise<Manifest> {
    const recorder = entry.recorder!;
    entry.stopping ??= (async () => {
      let manifest: Manifest;
      try {
        manifest = await recorder.stop();
      } catch (err) {
        manifest = recorder.manifest;
        manifest.state = 'failed';
        manifest.error = `stopping failed: ${(err as Error).message}`;
      }
      if (entry.failure) {
        manifest.state = 'failed';
        manifest.error = `${entry.failure.code}: ${entry.failure.message}`;
      }
      if (manifest.state === 'failed') this.persistFailure(recorder.dir, manifest);
      rmSync(join(recorder.dir, OWNER_FILE), { force: true });
      this.active.delete(entry.room);
      this.clearAutoStop(entry.room);
      this.account(manifest, recorder.dir);
      this.uploads?.schedule(recorder.dir);
      if (manifest.state === 'failed') {
        this.emit('recordingFailed', { id: manifest.id, room: entry.room, code: entry.failure?.code ?? 'INTERNAL', error: manifest.error ?? 'failed' });
      } else this.emit('recordingFinished', manifest);
      this.logger.info({ room: entry.room, id: manifest.id, state: manifest.state }, 'recording stopped');
      return manifest;
    })();
    return entry.stopping;
  }

  /** The failure reason goes to disk when the disk allows it, and is remembered in any case. */
  private persistFailure(dir: string, manifest: Manifest): void {
    const writer = new ManifestWriter(dir, manifest);
    if (writer.error) this.outcomes.set(manifest.id, { state: 'failed', error: manifest.error ?? 'failed' });
  }

  private account(manifest: Manifest, dir: string): void {
    const p = summarize({ room: manifest.room, id: manifest.id, dir }, manifest);
    this.finished.bytesWritten += p.sizeBytes;
    for (const t of manifest.tracks) {
      this.finished.packetsReceived += t.packetsReceived;
      this.finished.packetsLost += t.packetsLost;
    }
    if (manifest.state === 'failed') this.finished.failed++;
    else this.finished.done++;
  }

  private onRecorderError(entry: Active, err: Error): void {
    if (isRtcRecordError(err, 'FFMPEG_DIED')) {
      this.ffmpegRestarts++;
      this.emit('ffmpegRestart', entry.room);
    }
    if (isRtcRecordError(err) && FATAL_CODES.has(err.code) && !entry.failure && !entry.stopping) {
      entry.failure = err;
      this.logger.error({ room: entry.room, code: err.code, err: err.message }, 'recording failed; stopping it and keeping what was written');
      void this.stopEntry(entry);
    }
  }

  private info(entry: Active): ActiveRecordingInfo | undefined {
    const r = entry.recorder;
    if (!r) return undefined;
    return { id: r.id, room: entry.room, state: entry.stopping ? 'finalizing' : 'recording', manifest: r.manifest, dir: r.dir };
  }

  private overlay(summary: RecordingSummary, entry: Active | undefined): RecordingSummary {
    if (entry) {
      summary.state = entry.stopping ? 'finalizing' : 'recording';
      summary.durationMs = Date.now() - Date.parse(summary.startedAt);
    } else if (this.recovering.has(summary.id)) summary.state = 'finalizing';
    const outcome = this.outcomes.get(summary.id);
    if (outcome) Object.assign(summary, outcome);
    summary.files = offeredFiles(summary.files, summary.state);
    return summary;
  }

  // ── auto-record: follows room presence ──

  private peerJoined(room: string, peer: PeerInfo): void {
    if (!isParticipant(peer)) return;
    this.emit('participantJoined', { room, peer, recordingId: this.active.get(room)?.recorder?.id });
    this.clearAutoStop(room);
    if (this.autoRecord && !this.suppressed.has(room)) this.autoStart(room);
  }

  private peerLeft(room: string, peer: PeerInfo): void {
    if (!isParticipant(peer)) return;
    this.emit('participantLeft', { room, peer, recordingId: this.active.get(room)?.recorder?.id });
    if (this.roomOccupied(room)) return;
    this.suppressed.delete(room);
    if (this.queued) return this.queuedAutoStop(room);
    const entry = this.active.get(room);
    if (!this.autoRecord || !entry || this.autoStopTimers.has(room)) return;
    const timer = setTimeout(() => {
      this.autoStopTimers.delete(room);
      if (this.roomOccupied(room) || this.active.get(room) !== entry) return;
      if (entry.recorder) void this.stopEntry(entry);
    }, this.options.autoStopGraceMs ?? 3000);
    timer.unref();
    this.autoStopTimers.set(room, timer);
  }

  /**
   * Events of worker-run recordings (webhooks, metrics): sent by the server that queued the recording only, so several
   * servers do not send each one several times.
   */
  private jobEvent(s: JobStatus): void {
    if (s.request.origin !== this.options.jobs!.queue.owner) return;
    const prev = this.jobStates.get(s.id);
    if (prev === s.state) return;
    this.jobStates.set(s.id, s.state);
    if (s.state === 'recording' && (prev === undefined || prev === 'queued' || prev === 'starting') && s.part === 1) {
      this.emit('recordingStarted', { id: s.id, room: s.room, startedAt: new Date(s.startedAt ?? s.enqueuedAt).toISOString(), trigger: s.trigger });
    } else if (s.state === 'done') {
      try {
        this.emit('recordingFinished', this.queued!.get(s.id).manifest);
        this.finished.done++;
      } catch (err) {
        this.logger.warn({ id: s.id, err: (err as Error).message }, 'finished recording not readable here');
      }
    } else if (s.state === 'failed') {
      this.finished.failed++;
      this.emit('recordingFailed', { id: s.id, room: s.room, code: codeOf(s.error), error: s.error ?? 'failed' });
    }
  }

  /** Auto-record with workers: the room's recording (on whichever worker) stops once the room stayed empty. */
  private queuedAutoStop(room: string): void {
    if (!this.autoRecord || !this.queued!.activeIn(room) || this.autoStopTimers.has(room)) return;
    const timer = setTimeout(() => {
      this.autoStopTimers.delete(room);
      const rec = this.queued!.activeIn(room);
      if (this.roomOccupied(room) || !rec) return;
      this.queued!.stop(rec.id).catch((err) => this.logger.error({ room, err: (err as Error).message }, 'auto stop failed'));
    }, this.options.autoStopGraceMs ?? 3000);
    timer.unref();
    this.autoStopTimers.set(room, timer);
  }

  private autoStart(room: string): void {
    if (this.closed || this.active.has(room) || this.queued?.activeIn(room)) return;
    this.start(room, {}, 'auto').catch((err) => this.logger.error({ room, err: (err as Error).message }, 'auto recording failed to start'));
  }

  private clearAutoStop(room: string): void {
    const t = this.autoStopTimers.get(room);
    if (t) clearTimeout(t);
    this.autoStopTimers.delete(room);
  }

  private roomOccupied(room: string): boolean {
    return this.options.rooms?.listRooms().some((r) => r.room === room && r.participants.some(isParticipant)) ?? false;
  }
}

function asCoded(err: unknown): RtcRecordError {
  if (err instanceof RtcRecordError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') return new RtcRecordError('DISK_FULL', `disk full: ${e.message}`, { cause: err });
  if (e?.code === 'EACCES' || e?.code === 'EROFS' || e?.code === 'ENOTDIR' || e?.code === 'EEXIST') {
    return new RtcRecordError('OUTPUT_NOT_WRITABLE', `output directory not writable: ${e.message}`, { cause: err });
  }
  return new RtcRecordError('INTERNAL', (e as Error)?.message ?? String(err), { cause: err });
}
