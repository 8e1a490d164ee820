import { EventEmitter } from 'node:events';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { RtcRecordError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { newRecordingId } from '../recordingId.js';
import { JobStore } from './JobStore.js';
import { jobKind } from './jobCosts.js';
import { connectRedis, isReady, waitReady } from './redisConnection.js';
import { Reaper } from './Reaper.js';
import { JOB_KINDS, LIVE_STATES, type DispatchData, type JobEvents, type JobKind, type JobRequest, type JobStatus } from './RecordingJobTypes.js';

export interface JobQueueOptions {
  redisUrl: string;
  /** Key prefix shared by every server and worker of one deployment. Default `rtc:`. */
  prefix?: string;
  logger: Logger;
  /** Keep a local copy of every status current (servers: list and pages read it synchronously). Default true. */
  watch?: boolean;
  /** Run a reaper here (default true). */
  reap?: boolean;
  /** Who reaps (log lines, leases). */
  owner?: string;
  /** A holder whose heartbeat key is gone for this long is dead (the key's TTL). Default 3000. */
  heartbeatTtlMs?: number;
}

export type EnqueueRequest = Omit<JobRequest, 'id' | 'kind'> & { id?: string };

/** BullMQ queue names: one per job kind, so a worker asks only for the kinds that fit its free cores. */
export const queueName = (kind: JobKind) => `rtc-record-${kind}`;

/**
 * The servers' side of recording jobs: queues start requests (BullMQ, one queue per job kind), keeps the shared status
 * (JobStore), sends stops to the worker that holds a recording, and reaps jobs whose worker died.
 */
export class JobQueue extends EventEmitter<JobEvents> {
  readonly store: JobStore;
  private readonly queues = new Map<JobKind, Queue>();
  private readonly cache = new Map<string, JobStatus>();
  private readonly sub?: Redis;
  private readonly refreshTimer?: NodeJS.Timeout;
  readonly reaper?: Reaper;
  private closed = false;

  private constructor(
    readonly redis: Redis,
    private readonly options: JobQueueOptions,
  ) {
    super();
    const prefix = options.prefix ?? 'rtc-record:';
    this.store = new JobStore(redis, prefix);
    for (const kind of JOB_KINDS) {
      const q = new Queue(queueName(kind), { connection: redis, prefix: `${prefix}bull` });
      q.on('error', () => undefined); // connection errors: reported once by connectRedis, retried by ioredis
      this.queues.set(kind, q);
    }
    if (options.watch !== false) {
      this.sub = redis.duplicate();
      this.sub.on('error', () => undefined); // reported by the main connection
      void this.sub.subscribe(this.store.eventsChannel);
      this.sub.on('message', (_ch, id: string) => void this.refreshOne(id));
      // Events sent while this server was cut off from Redis are missed: a periodic full read catches up.
      this.refreshTimer = setInterval(() => void this.refresh(), 2000).unref();
      redis.on('ready', () => void this.refresh());
    }
    if (options.reap !== false) {
      this.reaper = new Reaper(this, this.owner, options.logger, { heartbeatTtlMs: options.heartbeatTtlMs });
    }
  }

  static async connect(options: JobQueueOptions): Promise<JobQueue> {
    const redis = connectRedis(options.redisUrl, options.logger, options.owner ?? 'rtc-record');
    try {
      await waitReady(redis, options.redisUrl);
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    const q = new JobQueue(redis, options);
    if (options.watch !== false) await q.refresh();
    return q;
  }

  /** Who this queue is (servers: `serve-<pid>`, workers: their id). */
  get owner(): string {
    return this.options.owner ?? `server-${process.pid}`;
  }

  get logger(): Logger {
    return this.options.logger;
  }

  get ready(): boolean {
    return isReady(this.redis);
  }

  /** Queues a recording of `request.room`; resolves with its status (queued). ALREADY_RECORDING across servers. */
  async enqueue(request: EnqueueRequest): Promise<JobStatus> {
    if (!this.ready) throw new RtcRecordError('REDIS_UNAVAILABLE', 'Redis is unreachable: recordings cannot be queued now');
    const id = request.id ?? newRecordingId();
    const full: JobRequest = { ...request, id, kind: jobKind(request.composite, request.tracks), origin: this.owner };
    const now = Date.now();
    const status: JobStatus = {
      id,
      room: full.room,
      kind: full.kind,
      state: 'queued',
      trigger: full.trigger,
      request: full,
      enqueuedAt: now,
      updatedAt: now,
      dispatch: 1,
      part: 1,
      parts: [],
      gaps: [],
      takeovers: 0,
    };
    const workers = await this.store.workers();
    const fits = workers.filter((w) => w.freeCores + 1e-9 >= w.costs[full.kind]);
    if (!workers.length) status.note = 'no worker is running: queued until one starts';
    else if (!fits.length) status.note = `no worker has room for a ${full.kind} job now (free cores: ${workers.map((w) => w.freeCores.toFixed(2)).join(', ')}): queued`;
    await this.store.create(status);
    await this.dispatch(status);
    this.cache.set(id, status);
    return status;
  }

  /** Puts the current dispatch of `status` on its kind's queue (first start, or a takeover). */
  async dispatch(status: JobStatus): Promise<void> {
    const data: DispatchData = { request: status.request, part: status.part, dispatch: status.dispatch };
    await this.queues.get(status.kind)!.add('record', data, {
      jobId: `${status.id}-d${status.dispatch}`,
      removeOnComplete: 1000,
      removeOnFail: 1000,
    });
  }

  /**
   * Stops a recording wherever it runs: marks it stop-requested (a worker taking it over later sees that), tells the
   * holder on its stop channel (repeated until it answers), and resolves once it is done or failed.
   */
  async stop(id: string, timeoutMs = 180_000): Promise<JobStatus> {
    const status = await this.store.update(id, (s) => {
      if (!LIVE_STATES.includes(s.state)) return false;
      s.stopRequested = true;
      if (s.state === 'queued') {
        // Nobody holds it: ends here. A takeover still waiting for a worker keeps the parts it has.
        s.state = s.parts.length ? 'done' : 'failed';
        s.stoppedAt = Date.now();
        if (s.parts.length) s.note = 'stopped while waiting for a worker to take it over';
        else s.error = 'stopped before a worker started it';
      }
    });
    if (!status) throw new RtcRecordError('NOT_FOUND', `no recording ${id}`);
    if (!LIVE_STATES.includes(status.state)) {
      await this.queues.get(status.kind)!.remove(`${id}-d${status.dispatch}`).catch(() => undefined);
      this.cache.set(id, status);
      return status;
    }
    const nudge = setInterval(() => void this.store.requestStop(id).catch(() => undefined), 2000);
    try {
      await this.store.requestStop(id);
      return await this.waitFor(id, (s) => !LIVE_STATES.includes(s.state), timeoutMs);
    } finally {
      clearInterval(nudge);
    }
  }

  /** Resolves with the status once `done(status)` holds (JOB_TIMEOUT after `timeoutMs`). */
  async waitFor(id: string, done: (s: JobStatus) => boolean, timeoutMs: number): Promise<JobStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.ready ? await this.store.get(id) : this.cache.get(id);
      if (s) this.cache.set(id, s);
      if (s && done(s)) return s;
      if (Date.now() > deadline) throw new RtcRecordError('JOB_TIMEOUT', `recording ${id} is still ${s?.state ?? 'unknown'} after ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The latest known status of every recording (newest first); kept current by events and a 2 s re-read. */
  snapshot(): JobStatus[] {
    return [...this.cache.values()].sort((a, b) => b.enqueuedAt - a.enqueuedAt);
  }

  cached(id: string): JobStatus | undefined {
    return this.cache.get(id);
  }

  async refresh(): Promise<void> {
    if (!this.ready || this.closed) return;
    try {
      const list = await this.store.list();
      for (const s of list) this.cacheStatus(s);
    } catch {
      // Redis went away mid-read: the next tick retries.
    }
  }

  private async refreshOne(id: string): Promise<void> {
    try {
      const s = await this.store.get(id);
      if (s) this.cacheStatus(s);
    } catch {
      // as above
    }
  }

  private cacheStatus(s: JobStatus): void {
    const old = this.cache.get(s.id);
    this.cache.set(s.id, s);
    if (!old || old.updatedAt !== s.updatedAt || old.state !== s.state) this.emit('status', s);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.refreshTimer);
    this.reaper?.stop();
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.sub?.disconnect();
    this.redis.disconnect();
  }
}
