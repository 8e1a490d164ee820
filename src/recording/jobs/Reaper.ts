import type { Logger } from '../../logger.js';
import type { JobQueue } from './JobQueue.js';
import { HELD_STATES, type JobStatus } from './RecordingJobTypes.js';

/** A recording is taken over at most this often; then it fails (a room that kills every worker must not loop). */
export const MAX_TAKEOVERS = 5;

export interface ReaperOptions {
  intervalMs?: number;
  /** The heartbeat key's TTL: a holder whose key is gone has not beaten for this long. Default 3000. */
  heartbeatTtlMs?: number;
}

/**
 * Finds recordings whose worker stopped heartbeating (killed, machine gone) and acts, so no job stays "recording"
 * forever (livekit#1717): one that was recording is re-queued for takeover by another worker (a new part of the same
 * recording); one that was stopping, or was asked to stop, is failed with the exact reason. Any server or worker runs
 * one; a lease makes one of them act per dead dispatch.
 */
export class Reaper {
  private readonly timer: NodeJS.Timeout;
  private connectedSince = 0;
  /** When each live job's heartbeat was last seen here (the gap starts there if the worker's own note is older). */
  private readonly lastSeen = new Map<string, number>();
  private running = false;
  private readonly ttl: number;

  constructor(
    private readonly queue: JobQueue,
    private readonly owner: string,
    private readonly logger: Logger,
    options: ReaperOptions = {},
  ) {
    this.ttl = options.heartbeatTtlMs ?? 3000;
    if (queue.ready) this.connectedSince = Date.now();
    // After Redis comes back, heartbeat keys may have expired while nobody could renew them: give the holders a full
    // TTL (and then some) to beat again before judging anyone dead.
    queue.redis.on('ready', () => (this.connectedSince = Date.now()));
    queue.redis.on('close', () => (this.connectedSince = 0));
    this.timer = setInterval(() => void this.tick(), options.intervalMs ?? 1000).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async tick(): Promise<void> {
    if (this.running || !this.queue.ready || !this.connectedSince || Date.now() - this.connectedSince < this.ttl + 2000) return;
    this.running = true;
    try {
      const store = this.queue.store;
      const live = await store.many(await store.liveIds());
      for (const s of live) {
        if (!HELD_STATES.includes(s.state)) continue;
        const holder = await store.heartbeatHolder(s.id);
        if (holder) {
          this.lastSeen.set(s.id, Date.now());
          continue;
        }
        // Claimed a moment ago and not beaten yet: the claim itself sets the key first, so this is rare; wait a TTL.
        if (Date.now() - s.updatedAt < this.ttl) continue;
        if (!(await store.lease(`reap:${s.id}:${s.dispatch}`, this.owner, 60_000))) continue;
        await this.reap(s);
      }
      const ids = new Set(live.map((s) => s.id));
      for (const id of this.lastSeen.keys()) if (!ids.has(id)) this.lastSeen.delete(id);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'reaper pass failed; retrying');
    } finally {
      this.running = false;
    }
  }

  private async reap(seen: JobStatus): Promise<void> {
    const dead = seen.worker ?? seen.claimedBy ?? 'unknown';
    const lastSeenAt = Math.max(this.lastSeen.get(seen.id) ?? 0, seen.parts.find((p) => p.part === seen.part)?.lastSeenAt ?? 0) || seen.updatedAt;
    let takeover = false;
    const status = await this.queue.store.update(seen.id, (s) => {
      if (s.dispatch !== seen.dispatch || !HELD_STATES.includes(s.state)) return false;
      const part = s.parts.find((p) => p.part === s.part && p.state === 'recording');
      if (part) {
        // Its files are recovered by whoever can reach its disk (the takeover worker, or the worker itself on restart).
        part.state = 'lost';
        part.endedAt = new Date(lastSeenAt).toISOString();
        part.lastSeenAt = lastSeenAt;
        part.error = `worker ${dead} stopped heartbeating; its files are not recovered yet`;
      }
      if ((s.state === 'recording' || s.state === 'starting') && !s.stopRequested && s.takeovers < MAX_TAKEOVERS) {
        takeover = true;
        s.takeovers++;
        s.dispatch++;
        if (part) s.part++;
        s.state = 'queued';
        s.claimedBy = undefined;
        s.worker = undefined;
        s.note = `worker ${dead} stopped heartbeating at ${new Date(lastSeenAt).toISOString()}: waiting for another worker to take over`;
      } else {
        const was = s.state;
        s.state = 'failed';
        s.stoppedAt = Date.now();
        s.error = `WORKER_LOST: worker ${dead} stopped heartbeating at ${new Date(lastSeenAt).toISOString()} while ${was}${
          s.takeovers >= MAX_TAKEOVERS ? ` (taken over ${s.takeovers} times already)` : ''
        }; what it wrote stays on its disk`;
      }
    });
    if (!status) return;
    if (takeover) {
      this.logger.warn({ id: status.id, room: status.room, deadWorker: dead, part: status.part }, 'worker stopped heartbeating: recording re-queued for takeover');
      await this.queue.dispatch(status);
    } else if (status.state === 'failed') {
      this.logger.warn({ id: status.id, room: status.room, deadWorker: dead, error: status.error }, 'worker stopped heartbeating: recording failed');
    }
  }
}
