import { DEFAULT_JOB_COSTS } from './jobCosts.js';
import type { JobKind } from './RecordingJobTypes.js';

/**
 * A worker's admission rule: it takes a job only if the job's expected cost fits in its free cores, counting both what
 * its running jobs are expected to cost and what they measurably use (whichever is more). So a worker never runs jobs
 * that together exceed its cores (LiveKit egress "CPU exhausted" kills under uneven load, livekit#908).
 */
export class Admission {
  private readonly committed = new Map<string, number>();
  /** Measured CPU of the worker's process tree (cores), set by the worker's meter. */
  measuredCores = 0;

  constructor(
    readonly cores: number,
    readonly costs: Readonly<Record<JobKind, number>> = DEFAULT_JOB_COSTS,
  ) {}

  get committedCores(): number {
    let sum = 0;
    for (const c of this.committed.values()) sum += c;
    return sum;
  }

  get usedCores(): number {
    return Math.max(this.committedCores, this.measuredCores);
  }

  get freeCores(): number {
    return Math.max(0, this.cores - this.usedCores);
  }

  fits(kind: JobKind): boolean {
    return this.usedCores + this.costs[kind] <= this.cores + 1e-9;
  }

  /** Reserves the job's cost; false (nothing reserved) when it does not fit. */
  reserve(id: string, kind: JobKind): boolean {
    if (this.committed.has(id)) return true;
    if (!this.fits(kind)) return false;
    this.committed.set(id, this.costs[kind]);
    return true;
  }

  release(id: string): void {
    this.committed.delete(id);
  }

  get jobs(): string[] {
    return [...this.committed.keys()];
  }
}
