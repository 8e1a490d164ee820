import type { Redis } from 'ioredis';
import { RtcRecordError } from '../../errors.js';
import { LIVE_STATES, type JobStatus, type WorkerAdvert } from './RecordingJobTypes.js';

// The recordings' shared state in Redis, and nothing else (BullMQ only dispatches):
//   <p>job:<id>          JSON JobStatus               <p>jobs        zset id → enqueued at (newest listed first)
//   <p>live              set of ids not done/failed   <p>recording-room:<room> the room's live recording (one per room)
//   <p>job:<id>:hb       worker id, PX ttl            <p>worker:<w>  JSON WorkerAdvert, PX ttl; <p>workers set of ids
//   channels <p>job:<id>:stop (stop requests to the holder) and <p>events (id of a status that changed)
// Updates are read → modify → compare-and-set (a Lua CAS on the whole JSON), retried on a concurrent write: no WATCH
// state to lose when the connection drops and comes back.

/** How long a finished recording's status stays in Redis. */
export const FINISHED_TTL_MS = 30 * 24 * 3600 * 1000;

const CAS = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`;

export class JobStore {
  constructor(
    readonly redis: Redis,
    readonly prefix = 'rtc-record:',
  ) {}

  jobKey = (id: string) => `${this.prefix}job:${id}`;
  heartbeatKey = (id: string) => `${this.prefix}job:${id}:hb`;
  stopChannel = (id: string) => `${this.prefix}job:${id}:stop`;
  /** Not `<p>room:<room>`: that is the room registry's (src/cluster), in the same namespace. */
  roomKey = (room: string) => `${this.prefix}recording-room:${room}`;
  workerKey = (id: string) => `${this.prefix}worker:${id}`;
  get eventsChannel(): string {
    return `${this.prefix}events`;
  }

  async get(id: string): Promise<JobStatus | undefined> {
    const raw = await this.redis.get(this.jobKey(id));
    return raw ? (JSON.parse(raw) as JobStatus) : undefined;
  }

  /** Creates a queued recording; ALREADY_RECORDING when the room has a live one (on any server). */
  async create(status: JobStatus): Promise<void> {
    const roomKey = this.roomKey(status.room);
    for (let attempt = 0; attempt < 3; attempt++) {
      if ((await this.redis.set(roomKey, status.id, 'NX')) === 'OK') break;
      const holder = await this.redis.get(roomKey);
      const live = holder ? await this.get(holder) : undefined;
      if (live && LIVE_STATES.includes(live.state)) {
        throw new RtcRecordError('ALREADY_RECORDING', `room ${status.room} is already being recorded (${live.id}, ${live.state})`);
      }
      // A stale claim (its recording ended without releasing it): take it over if it is still that one.
      if (holder) await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, roomKey, holder);
      if (attempt === 2) throw new RtcRecordError('ALREADY_RECORDING', `room ${status.room} is being claimed by another server`);
    }
    await this.redis
      .multi()
      .set(this.jobKey(status.id), JSON.stringify(status))
      .zadd(`${this.prefix}jobs`, status.enqueuedAt, status.id)
      .sadd(`${this.prefix}live`, status.id)
      .publish(this.eventsChannel, status.id)
      .exec();
  }

  /**
   * Applies `change` atomically (retried on a concurrent write); `change` returns false to leave the status as it is.
   * Resolves with the status as stored afterwards (undefined if there is none).
   */
  async update(id: string, change: (s: JobStatus) => boolean | void): Promise<JobStatus | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const raw = await this.redis.get(this.jobKey(id));
      if (!raw) return undefined;
      const status = JSON.parse(raw) as JobStatus;
      if (change(status) === false) return status;
      status.updatedAt = Date.now();
      const next = JSON.stringify(status);
      if ((await this.redis.eval(CAS, 1, this.jobKey(id), raw, next)) === 1) {
        await this.afterWrite(status);
        return status;
      }
    }
    throw new RtcRecordError('INTERNAL', `recording ${id}: status kept changing under 20 updates`);
  }

  /** Writes a whole status (a worker re-publishing what it holds after Redis lost it). */
  async put(status: JobStatus): Promise<void> {
    await this.redis.set(this.jobKey(status.id), JSON.stringify(status));
    await this.redis.zadd(`${this.prefix}jobs`, status.enqueuedAt, status.id);
    if (LIVE_STATES.includes(status.state)) {
      await this.redis.sadd(`${this.prefix}live`, status.id);
      await this.redis.set(this.roomKey(status.room), status.id);
    }
    await this.afterWrite(status);
  }

  private async afterWrite(status: JobStatus): Promise<void> {
    if (!LIVE_STATES.includes(status.state)) {
      // Finished recordings' statuses age out (the files and manifests are the record); the list skips missing ones.
      await this.redis.pexpire(this.jobKey(status.id), FINISHED_TTL_MS);
      await this.redis.zremrangebyscore(`${this.prefix}jobs`, '-inf', Date.now() - FINISHED_TTL_MS);
      await this.redis.srem(`${this.prefix}live`, status.id);
      await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, this.roomKey(status.room), status.id);
    }
    await this.redis.publish(this.eventsChannel, status.id);
  }

  /** The newest `limit` recordings' statuses. */
  async list(limit = 500): Promise<JobStatus[]> {
    const ids = await this.redis.zrevrange(`${this.prefix}jobs`, 0, limit - 1);
    return this.many(ids);
  }

  async liveIds(): Promise<string[]> {
    return this.redis.smembers(`${this.prefix}live`);
  }

  async many(ids: string[]): Promise<JobStatus[]> {
    if (!ids.length) return [];
    const raws = await this.redis.mget(ids.map(this.jobKey));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as JobStatus);
  }

  heartbeat(id: string, worker: string, ttlMs: number): Promise<unknown> {
    return this.redis.set(this.heartbeatKey(id), worker, 'PX', ttlMs);
  }

  async heartbeatHolder(id: string): Promise<string | null> {
    return this.redis.get(this.heartbeatKey(id));
  }

  clearHeartbeat(id: string): Promise<unknown> {
    return this.redis.del(this.heartbeatKey(id));
  }

  async advertise(advert: WorkerAdvert, ttlMs: number): Promise<void> {
    await this.redis.multi().set(this.workerKey(advert.id), JSON.stringify(advert), 'PX', ttlMs).sadd(`${this.prefix}workers`, advert.id).exec();
  }

  async withdraw(workerId: string): Promise<void> {
    await this.redis.multi().del(this.workerKey(workerId)).srem(`${this.prefix}workers`, workerId).exec();
  }

  /** Workers whose advert has not expired (expired ones are dropped from the set). */
  async workers(): Promise<WorkerAdvert[]> {
    const ids = await this.redis.smembers(`${this.prefix}workers`);
    if (!ids.length) return [];
    const raws = await this.redis.mget(ids.map(this.workerKey));
    const gone = ids.filter((_, i) => raws[i] === null);
    if (gone.length) await this.redis.srem(`${this.prefix}workers`, ...gone);
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as WorkerAdvert);
  }

  /** A short exclusive lease (reaping, recovering a part): true if this caller got it. */
  async lease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}lease:${name}`, owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  requestStop(id: string): Promise<number> {
    return this.redis.publish(this.stopChannel(id), 'stop');
  }
}
