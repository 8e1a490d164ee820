import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { isRtcRecordError, RtcRecordError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Manifest, ManifestPart } from '../ManifestTypes.js';
import { ManifestWriter } from '../ManifestWriter.js';
import { locateAll, readManifest } from '../recordingList.js';
import type { RecorderHandle, StartRecorder } from '../RecordingServiceTypes.js';
import { isAbandoned, OWNER_FILE, recoverRecording, writeOwner } from '../recovery.js';
import { RoomRecorder } from '../RoomRecorder.js';
import { partDirName } from '../storage.js';
import { Admission } from './Admission.js';
import { CpuMeter } from './cpuMeter.js';
import { DEFAULT_JOB_COSTS, defaultCores } from './jobCosts.js';
import { JobQueue, queueName } from './JobQueue.js';
import type { JobStore } from './JobStore.js';
import { HELD_STATES, JOB_KINDS, type DispatchData, type JobKind, type JobPart, type JobStatus, type WorkerAdvert } from './RecordingJobTypes.js';
import type { RecordingWorkerEvents, RecordingWorkerOptions } from './RecordingWorkerTypes.js';

/** Errors after which a recording cannot go on (as in RecordingService). */
const FATAL_CODES = new Set(['DISK_FULL', 'OUTPUT_NOT_WRITABLE']);

interface Held {
  id: string;
  token: string;
  part: number;
  status: JobStatus;
  recorder?: RecorderHandle;
  /** Resolves with the reason when the recording must end (stop request, shutdown, fatal error, lost ownership). */
  ended: Promise<string>;
  end: (reason: string) => void;
  /** Status writes in order; they wait out a Redis outage without holding up the recording. */
  writes: Promise<unknown>;
  /** Recovery of earlier parts (takeover), awaited before the final manifest is written. */
  recovering: Promise<void>;
  /** Ownership lost to a takeover (this worker was cut off from Redis too long): its part ends, the status is not ours. */
  superseded?: boolean;
  /** Handed to another worker on shutdown: this part records on until the next part has media. */
  handedOver?: boolean;
  mediaNoted?: boolean;
}

/**
 * `rtc-record worker`: takes recording jobs from Redis while they fit its cores, records each with a RoomRecorder
 * (joining the room through its server like any recorder), keeps a heartbeat per job, obeys stops sent on the job's
 * channel, and takes over recordings whose worker died (as part N+1 of the same recording, the dead part recovered).
 * Recording never depends on Redis being up: status writes wait for it and catch up.
 */
export class RecordingWorker extends EventEmitter<RecordingWorkerEvents> {
  readonly id: string;
  readonly host = hostname();
  readonly outputRoot: string;
  readonly admission: Admission;
  private readonly held = new Map<string, Held>();
  private readonly bull = new Map<JobKind, Worker>();
  private readonly meter = new CpuMeter();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startRecorder: StartRecorder;
  private readonly logger: Logger;
  private readonly ttl: number;
  private polling = false;
  private closing = false;
  private seq = 0;
  private recoveringDisk?: Promise<void>;

  private constructor(
    private readonly queue: JobQueue,
    private readonly sub: Redis,
    private readonly options: RecordingWorkerOptions,
    id: string,
  ) {
    super();
    this.id = id;
    this.logger = options.logger.child({ worker: id });
    this.outputRoot = resolve(options.outputRoot);
    this.admission = new Admission(options.cores ?? defaultCores(), { ...DEFAULT_JOB_COSTS, ...options.costs });
    this.startRecorder = options.startRecorder ?? ((o, l) => RoomRecorder.start(o, l));
    this.ttl = options.heartbeatTtlMs ?? 3000;
    const prefix = `${options.prefix ?? 'rtc-record:'}bull`;
    for (const kind of JOB_KINDS) {
      // Manual fetching: a job is asked for only when its kind fits (no processor, so BullMQ never takes one by itself).
      const w = new Worker(queueName(kind), null, { connection: queue.redis, prefix, lockDuration: 120_000, autorun: false });
      w.on('error', (err) => this.logger.debug({ err: err.message }, 'bullmq worker error'));
      this.bull.set(kind, w);
    }
    sub.on('message', (channel: string) => {
      for (const h of this.held.values()) if (channel === this.store.stopChannel(h.id)) h.end('stop requested');
    });
    // Back after an outage: beat at once (before any reaper's grace runs out) and re-publish what Redis may have lost.
    queue.redis.on('ready', () => void this.resync());
    this.timers.push(setInterval(() => void this.poll(), options.pollMs ?? 250));
    this.timers.push(setInterval(() => void this.beat(), options.heartbeatMs ?? 1000));
    this.timers.push(setInterval(() => void this.recoverDisk(), 30_000));
  }

  static async start(options: RecordingWorkerOptions): Promise<RecordingWorker> {
    const id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const queue = await JobQueue.connect({
      redisUrl: options.redisUrl,
      prefix: options.prefix,
      logger: options.logger,
      watch: false,
      owner: id,
      heartbeatTtlMs: options.heartbeatTtlMs,
    });
    const sub = queue.redis.duplicate();
    sub.on('error', () => undefined);
    const worker = new RecordingWorker(queue, sub, options, id);
    await worker.advertise();
    void worker.recoverDisk();
    return worker;
  }

  private get store(): JobStore {
    return this.queue.store;
  }

  advert(): WorkerAdvert {
    return {
      id: this.id,
      host: this.host,
      pid: process.pid,
      cores: this.admission.cores,
      committedCores: round(this.admission.committedCores),
      measuredCores: round(this.admission.measuredCores),
      freeCores: round(this.admission.freeCores),
      costs: { ...this.admission.costs },
      jobs: [...this.held.keys()],
      outputRoot: this.outputRoot,
      seenAt: Date.now(),
    };
  }

  /** Recordings this worker holds now. */
  jobs(): JobStatus[] {
    return [...this.held.values()].map((h) => h.status);
  }

  // ── taking jobs ──

  private async poll(): Promise<void> {
    if (this.closing || this.polling || !this.queue.ready) return;
    this.polling = true;
    try {
      // The biggest kinds first: small jobs must not keep a composite waiting forever on a busy worker.
      for (const kind of JOB_KINDS) {
        while (!this.closing && this.admission.fits(kind)) {
          const token = `${this.id}:${++this.seq}`;
          this.admission.reserve(token, kind); // held while fetching, so two fetches cannot both fit the same room
          let job: Job | undefined;
          try {
            job = await this.bull.get(kind)!.getNextJob(token, { block: false });
          } catch (err) {
            this.admission.release(token);
            throw err;
          }
          if (!job) {
            this.admission.release(token);
            break;
          }
          void this.run(job, token, kind).catch((err) => this.logger.error({ err: (err as Error).message }, 'job handling failed'));
        }
      }
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'polling for jobs failed; retrying');
    } finally {
      this.polling = false;
    }
  }

  private async run(job: Job, token: string, kind: JobKind): Promise<void> {
    const data = job.data as DispatchData;
    const id = data.request.id;
    const log = this.logger.child({ id, room: data.request.room, part: data.part });
    let status: JobStatus | undefined;
    try {
      status = await this.store.update(id, (s) => {
        if (s.dispatch !== data.dispatch || s.state !== 'queued' || s.claimedBy) return false;
        s.claimedBy = this.id;
        s.worker = this.id;
        s.state = 'starting';
        s.note = undefined;
      });
    } catch (err) {
      this.admission.release(token);
      throw err;
    }
    if (!status || status.claimedBy !== this.id || status.dispatch !== data.dispatch || status.state !== 'starting') {
      // Superseded (stopped while queued, taken by another dispatch): nothing to do.
      await job.moveToCompleted({ skipped: true }, token, false).catch(() => undefined);
      this.admission.release(token);
      return;
    }
    let end!: (reason: string) => void;
    const ended = new Promise<string>((r) => (end = r));
    const held: Held = { id, token, part: data.part, status, ended, end, writes: Promise.resolve(), recovering: Promise.resolve() };
    this.held.set(id, held);
    await this.store.heartbeat(id, this.id, this.ttl).catch(() => undefined);
    await this.sub.subscribe(this.store.stopChannel(id)).catch(() => undefined);
    void this.advertise();
    log.info({ kind, takeover: data.part > 1 }, data.part > 1 ? 'taking over a recording: joining as part ' + data.part : 'recording job taken: joining the room');

    let recorder: RecorderHandle;
    try {
      const serverUrl = this.options.joinUrl ? await this.options.joinUrl(data.request.serverUrl, data.request.room) : data.request.serverUrl;
      recorder = await this.startRecorder(
        {
          serverUrl,
          room: data.request.room,
          outputRoot: this.outputRoot,
          iceAddress: this.options.iceAddress,
          iceServers: this.options.iceServers,
          composite: data.request.composite,
          tracks: data.request.tracks,
          recordingId: id,
          part: data.part,
        },
        log,
      );
    } catch (err) {
      const e = err instanceof RtcRecordError ? err : new RtcRecordError('INTERNAL', (err as Error).message);
      log.error({ code: e.code, err: e.message }, 'recording could not start');
      await this.write(held, (s) => {
        s.state = 'failed';
        s.stoppedAt = Date.now();
        s.error = `${e.code}: ${e.message}`;
      });
      await held.writes;
      await job.moveToFailed(e, token, false).catch(() => undefined);
      await this.release(held);
      return;
    }
    held.recorder = recorder;
    writeOwner(recorder.dir);
    recorder.on('error', (err) => {
      if (isRtcRecordError(err) && FATAL_CODES.has(err.code)) end(`${err.code}: ${err.message}`);
    });
    const startedAt = Date.now();
    await this.write(held, (s) => {
      s.state = 'recording';
      s.startedAt ??= startedAt;
      const prev = s.parts.at(-1);
      s.parts.push({
        part: data.part,
        dir: data.part > 1 ? partDirName(data.part) : '.',
        worker: this.id,
        host: this.host,
        outputRoot: this.outputRoot,
        startedAt: new Date(startedAt).toISOString(),
        lastSeenAt: startedAt,
        state: 'recording',
      });
      if (prev && data.part > 1) {
        const fromMs = prev.lastSeenAt ?? Date.parse(prev.endedAt ?? prev.startedAt);
        s.gaps = s.gaps.filter((g) => g.afterPart !== prev.part);
        s.gaps.push({ afterPart: prev.part, fromMs, toMs: startedAt, ms: startedAt - fromMs });
      }
    });
    await job.moveToCompleted({ part: data.part, worker: this.id }, token, false).catch((err) => log.debug({ err: (err as Error).message }, 'dispatch not completed in BullMQ'));
    this.emit('jobStarted', held.status);
    if (data.part > 1) held.recovering = this.recoverEarlierParts(held, log);
    if (held.status.stopRequested || this.closing) end(this.closing ? 'worker shutting down' : 'stop requested');

    const reason = await ended;
    await this.finish(held, reason, log);
  }

  // ── ending a recording ──

  private async finish(held: Held, reason: string, log: Logger): Promise<void> {
    const recorder = held.recorder!;
    log.info({ reason }, 'stopping the recording');
    if (!held.superseded) void this.write(held, (s) => void (s.state = 'finalizing'));
    let manifest: Manifest;
    try {
      manifest = await recorder.stop();
    } catch (err) {
      manifest = recorder.manifest;
      manifest.state = 'failed';
      manifest.error = `stopping failed: ${(err as Error).message}`;
    }
    if (reason.startsWith('DISK_FULL') || reason.startsWith('OUTPUT_NOT_WRITABLE')) {
      manifest.state = 'failed';
      manifest.error = reason;
    }
    rmSync(join(recorder.dir, OWNER_FILE), { force: true });
    if (held.superseded) {
      // Another worker carries the recording on: this part is closed as what it is; of the shared status only this
      // part's entry (and the gap after it) is ours to correct.
      new ManifestWriter(recorder.dir, manifest);
      const lastPacket = Math.max(0, ...manifest.tracks.map((t) => t.lastPacketAtMs ?? 0));
      await this.store
        .update(held.id, (s) => {
          const p = s.parts.find((x) => x.part === held.part && x.worker === this.id);
          if (!p) return false;
          p.state = manifest.state === 'failed' ? 'failed' : 'done';
          p.endedAt = new Date().toISOString();
          p.lastSeenAt = lastPacket || Date.now(); // where a gap after it starts, if the next part is not there yet
          if (!held.handedOver) p.error = 'ended after a takeover: this worker had been cut off from Redis';
          const gap = s.gaps.find((g) => g.afterPart === held.part);
          if (gap && lastPacket > 0) {
            // Handed over: if this part's last packet came after the next part's first, they overlap: nothing missing.
            const toMs = s.parts.find((x) => x.part === held.part + 1)?.mediaAt ?? gap.toMs;
            if (lastPacket >= toMs) s.gaps = s.gaps.filter((g) => g !== gap);
            else Object.assign(gap, { fromMs: lastPacket, toMs, ms: toMs - lastPacket });
          }
        })
        .catch(() => undefined);
      await this.release(held);
      return;
    }
    await held.recovering;
    const endedAt = new Date().toISOString();
    const firstPacket = Math.min(...manifest.tracks.map((t) => t.firstPacketAtMs ?? Infinity));
    await this.write(held, (s) => {
      const part = s.parts.find((p) => p.part === held.part);
      if (part) {
        part.state = manifest.state === 'failed' ? 'failed' : 'done';
        part.endedAt = endedAt;
        if (manifest.error) part.error = manifest.error;
      }
      // The gap ends at this part's first packet, not at its join.
      const gap = s.gaps.find((g) => g.afterPart === held.part - 1);
      if (gap && Number.isFinite(firstPacket) && firstPacket > gap.fromMs) {
        gap.toMs = firstPacket;
        gap.ms = gap.toMs - gap.fromMs;
      }
    });
    await held.writes;
    this.writeManifests(held.status, held.part, manifest);
    if (this.options.upload) {
      await this.write(held, (s) => void (s.state = 'uploading'));
      // The recording's directory holds every part this disk has (part-N/ inside it): one upload carries them all.
      const top = join(this.outputRoot, held.status.room, held.id);
      if (held.part > 1 && readManifest(top)) await this.uploadPart(held.status, 1, top, log);
      else await this.uploadPart(held.status, held.part, recorder.dir, log);
    }
    await this.write(held, (s) => {
      s.state = manifest.state === 'failed' ? 'failed' : 'done';
      s.stoppedAt = Date.now();
      if (manifest.state === 'failed') s.error = manifest.error;
      s.note = s.stopRequested ? undefined : `ended: ${reason}`;
    });
    await held.writes;
    log.info({ state: held.status.state }, 'recording ended');
    this.emit('jobEnded', held.status);
    await this.release(held);
  }

  private async release(held: Held): Promise<void> {
    this.held.delete(held.id);
    this.admission.release(held.token);
    await this.sub.unsubscribe(this.store.stopChannel(held.id)).catch(() => undefined);
    if (!held.superseded) await this.store.clearHeartbeat(held.id).catch(() => undefined);
    void this.advertise();
  }

  /** Queues a status change behind the earlier ones; the local copy is updated at once. */
  private write(held: Held, change: (s: JobStatus) => void): Promise<unknown> {
    change(held.status);
    held.writes = held.writes.then(async () => {
      for (;;) {
        try {
          const next = await this.store.update(held.id, (s) => {
            if (s.worker !== this.id) return false; // taken over meanwhile: not ours to write
            change(s);
          });
          if (next) {
            if (next.worker === this.id) held.status = next;
          } else {
            await this.store.put(held.status); // Redis lost it (restarted without its data): what we know is put back
          }
          return;
        } catch (err) {
          this.logger.debug({ id: held.id, err: (err as Error).message }, 'status write failed; retrying');
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    });
    return held.writes;
  }

  /** The parts list and gaps go into the recording's own manifest (and this part's), once there is more than one part. */
  private writeManifests(status: JobStatus, part: number, own: Manifest): void {
    if (status.parts.length < 2) return;
    const parts: ManifestPart[] = status.parts.map(({ part, dir, worker, startedAt, endedAt, state, error }) => ({
      part,
      dir,
      worker,
      startedAt,
      ...(endedAt ? { endedAt } : {}),
      state,
      ...(error ? { error } : {}),
    }));
    const top = join(this.outputRoot, status.room, status.id);
    const topManifest = readManifest(top);
    if (part > 1) {
      own.parts = parts;
      own.gaps = status.gaps;
      new ManifestWriter(join(top, partDirName(part)), own);
    }
    const m: Manifest = topManifest ?? {
      version: 1,
      id: status.id,
      room: status.room,
      state: 'done',
      startedAt: status.parts[0]!.startedAt,
      error: `part 1 was written on ${status.parts[0]!.host ?? 'another host'} (${status.parts[0]!.worker}); not reachable here`,
      participants: [],
      tracks: [],
    };
    m.parts = parts;
    m.gaps = status.gaps;
    m.state = own.state === 'failed' ? 'failed' : 'done';
    m.stoppedAt = own.stoppedAt;
    new ManifestWriter(top, m);
  }

  private async uploadPart(status: JobStatus, part: number, dir: string, log: Logger): Promise<void> {
    try {
      const r = await this.options.upload!(dir, status, part);
      if (!r.ok) log.error({ err: r.error }, 'upload failed; files kept on disk');
      const held = this.held.get(status.id);
      const change = (s: JobStatus) => {
        const p = s.parts.find((x) => x.part === part);
        if (p && !r.ok) p.error = `upload failed: ${r.error}`;
        if (r.ok) s.upload = { url: r.location ?? '', files: (s.upload?.files ?? 0) + r.objects, bytes: (s.upload?.bytes ?? 0) + r.bytes };
      };
      if (held) await this.write(held, change);
      else await this.store.update(status.id, change);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'upload failed; files kept on disk');
    }
  }

  // ── takeover: the dead worker's part ──

  /** Where part `p` of a recording is on this machine, if this worker can reach it. */
  private partDir(status: JobStatus, p: JobPart): string | undefined {
    const sub = p.part > 1 ? [partDirName(p.part)] : [];
    const roots = [p.host === this.host && p.outputRoot ? p.outputRoot : undefined, this.outputRoot].filter((r): r is string => !!r);
    for (const root of roots) {
      const dir = join(root, status.room, status.id, ...sub);
      if (existsSync(join(dir, 'manifest.json'))) return dir;
    }
    return undefined;
  }

  private async recoverEarlierParts(held: Held, log: Logger): Promise<void> {
    for (const p of held.status.parts) {
      if (p.part >= held.part || p.state !== 'lost') continue;
      const dir = this.partDir(held.status, p);
      if (!dir) {
        const span = `${p.startedAt} – ${p.endedAt ?? '?'}`;
        log.warn({ part: p.part, deadWorker: p.worker }, 'the dead worker’s files are not reachable from here: reported lost');
        await this.write(held, (s) => {
          const x = s.parts.find((q) => q.part === p.part);
          if (x) x.error = `files on ${x.host ?? '?'}:${x.outputRoot ?? '?'} (worker ${x.worker}) not reachable from ${this.host}; span ${span} is missing here until that disk is recovered`;
        });
        continue;
      }
      await this.recoverPart(held.status.id, p.part, dir, log);
    }
    await held.writes;
  }

  /** Repairs one dead part's files (once, under a lease), records it in the status, uploads it if set up. */
  private async recoverPart(id: string, part: number, dir: string, log: Logger): Promise<void> {
    let manifest = readManifest(dir);
    if (!manifest) return;
    if (manifest.state === 'recording' || manifest.state === 'finalizing') {
      // Its worker is alive after all (it was only cut off from Redis): it closes the part itself.
      if (!isAbandoned(dir, manifest)) return;
      if (!(await this.store.lease(`recover:${id}:${part}`, this.id, 10 * 60_000).catch(() => false))) return;
      try {
        manifest = await recoverRecording(dir, manifest, log);
      } catch (err) {
        log.error({ part, err: (err as Error).message }, 'recovering the dead worker’s part failed; files left as they are');
        return;
      }
    }
    const lastPacket = Math.max(0, ...manifest.tracks.map((t) => t.lastPacketAtMs ?? 0));
    const change = (s: JobStatus) => {
      const p = s.parts.find((x) => x.part === part);
      if (!p) return false;
      p.state = 'recovered';
      p.endedAt = manifest!.stoppedAt ?? p.endedAt;
      p.error = manifest!.error;
      // The gap starts at the dead part's last packet, which its recovered manifest knows exactly.
      const gap = s.gaps.find((g) => g.afterPart === part);
      if (gap && lastPacket > 0) {
        gap.fromMs = lastPacket;
        gap.ms = gap.toMs - gap.fromMs;
      }
    };
    const held = this.held.get(id);
    let status: JobStatus | undefined;
    if (held) {
      await this.write(held, change);
      status = held.status;
    } else status = await this.store.update(id, change).catch(() => undefined);
    log.warn({ part, dir }, 'dead worker’s part recovered');
    // A takeover uploads the recovered part with its own at the end (once the manifest lists every part).
    if (!held && status && this.options.upload) await this.uploadPart(status, part, dir, log);
  }

  /** Recordings on this worker's disk left unfinished by a dead worker (this one before a restart, or another). */
  recoverDisk(): Promise<void> {
    this.recoveringDisk ??= (async () => {
      try {
        for (const loc of locateAll(this.outputRoot)) {
          if (this.closing) break;
          const dirs: Array<[string, number]> = [[loc.dir, 1]];
          try {
            for (const name of readdirSync(loc.dir)) {
              const m = /^part-(\d+)$/.exec(name);
              if (m) dirs.push([join(loc.dir, name), Number(m[1])]);
            }
          } catch {
            continue;
          }
          for (const [dir, part] of dirs) {
            if (this.held.has(loc.id)) continue;
            const manifest = readManifest(dir);
            if (!manifest || !isAbandoned(dir, manifest)) continue;
            const status = await this.store.get(loc.id).catch(() => undefined);
            // A part still shown as held by a live worker is not abandoned (it may be on another host sharing the disk).
            if (status && HELD_STATES.includes(status.state) && status.part === part && (await this.store.heartbeatHolder(loc.id).catch(() => null))) continue;
            await this.recoverPart(loc.id, part, dir, this.logger.child({ id: loc.id, room: loc.room }));
          }
        }
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'disk recovery pass failed');
      } finally {
        this.recoveringDisk = undefined;
      }
    })();
    return this.recoveringDisk;
  }

  // ── liveness ──

  private async beat(): Promise<void> {
    if (this.options.measureCpu !== false) this.admission.measuredCores = this.meter.sample();
    if (!this.queue.ready) return;
    await this.advertise();
    for (const held of this.held.values()) {
      if (held.superseded) continue; // the heartbeat key is the new holder's now
      this.noteFirstMedia(held);
      try {
        await this.store.heartbeat(held.id, this.id, this.ttl);
        const s = await this.store.get(held.id);
        if (!s) continue;
        if (s.worker !== this.id && HELD_STATES.includes(held.status.state) && !held.superseded) {
          // The reaper gave it to another worker (this one was cut off too long): end this part, leave the status be.
          held.superseded = true;
          this.logger.warn({ id: held.id, now: s.worker }, 'recording taken over by another worker; ending this part');
          held.end('taken over by another worker');
        } else if (s.stopRequested) held.end('stop requested');
      } catch {
        // Redis went away mid-beat: the next one retries.
      }
    }
  }

  /** Records when this part's first packet arrived (once): a worker handing the recording over waits for it. */
  private noteFirstMedia(held: Held): void {
    if (held.mediaNoted || !held.recorder) return;
    const first = Math.min(...held.recorder.manifest.tracks.map((t) => t.firstPacketAtMs ?? Infinity));
    if (!Number.isFinite(first)) return;
    held.mediaNoted = true;
    void this.write(held, (s) => {
      const p = s.parts.find((x) => x.part === held.part && x.worker === this.id);
      if (p) p.mediaAt = first;
    });
  }

  private async resync(): Promise<void> {
    for (const held of this.held.values()) {
      await this.store.heartbeat(held.id, this.id, this.ttl).catch(() => undefined);
      const s = await this.store.get(held.id).catch(() => undefined);
      if (!s) await this.store.put(held.status).catch(() => undefined);
      await this.sub.subscribe(this.store.stopChannel(held.id)).catch(() => undefined);
    }
    await this.advertise();
  }

  private async advertise(): Promise<void> {
    if (!this.queue.ready || this.closing) return;
    await this.store.advertise(this.advert(), Math.max(5000, this.ttl * 2)).catch(() => undefined);
  }

  /** Re-queues a recording this worker holds as its next part for another worker; true if it was handed over. */
  private async handOver(held: Held, waitMs = 20_000): Promise<boolean> {
    if (!held.recorder || held.status.state !== 'recording' || held.status.stopRequested) return false;
    const now = Date.now();
    let next: JobStatus | undefined;
    try {
      next = await this.store.update(held.id, (s) => {
        if (s.worker !== this.id || s.state !== 'recording' || s.stopRequested) return false;
        const p = s.parts.find((x) => x.part === held.part);
        if (p) p.lastSeenAt = now;
        s.dispatch++;
        s.part = held.part + 1;
        s.state = 'queued';
        s.worker = s.claimedBy = undefined;
        s.note = `handed over by worker ${this.id} (shutting down)`;
      });
    } catch {
      return false;
    }
    if (!next || next.state !== 'queued' || next.part !== held.part + 1) return false;
    held.superseded = held.handedOver = true;
    await this.queue.dispatch(next);
    this.logger.info({ id: held.id, part: next.part }, 'shutting down: recording handed over; this part records until the next has started');
    void (async () => {
      const deadline = Date.now() + waitMs;
      while (Date.now() < deadline) {
        const s = await this.store.get(held.id).catch(() => undefined);
        // The next part has media (or the recording moved on / ended): a moment more of overlap, then this part ends.
        const next = s?.parts.find((p) => p.part === held.part + 1);
        if (s && (next?.mediaAt || s.part > held.part + 1 || s.state === 'done' || s.state === 'failed')) {
          await new Promise((r) => setTimeout(r, 500));
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      held.end('handed over to another worker (shutting down)');
    })();
    return true;
  }

  /**
   * SIGTERM: takes no more jobs; hands its recordings to other workers when there are any (each part records on until
   * the next part has started: a restart or scale-down does not end anyone's recording), otherwise finalizes (and
   * uploads) them; then leaves.
   */
  async shutdown(): Promise<void> {
    this.closing = true;
    for (const t of this.timers.splice(0)) clearInterval(t);
    // Heartbeats go on while handing over: the recordings are this worker's until the next part takes them.
    const beat = setInterval(() => void this.beat(), this.options.heartbeatMs ?? 1000);
    const others = this.queue.ready ? (await this.store.workers().catch(() => [])).filter((w) => w.id !== this.id) : [];
    await this.store.withdraw(this.id).catch(() => undefined);
    const running = [...this.held.values()];
    for (const h of running) {
      // Only to a worker that has room for it now (else the recording would wait, queued, for one that has).
      const room = others.some((w) => w.freeCores + 1e-9 >= w.costs[h.status.kind]);
      if (!(room && (await this.handOver(h)))) h.end('worker shutting down');
    }
    while (this.held.size) await new Promise((r) => setTimeout(r, 100));
    clearInterval(beat);
    await this.recoveringDisk;
    await this.store.withdraw(this.id).catch(() => undefined);
    await Promise.allSettled([...this.bull.values()].map((w) => w.close(true)));
    this.sub.disconnect();
    await this.queue.close();
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
