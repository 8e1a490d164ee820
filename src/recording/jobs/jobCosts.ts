import { availableParallelism } from 'node:os';
import type { CompositeSettings } from '../CompositeRecorderTypes.js';
import type { JobKind } from './RecordingJobTypes.js';

/**
 * Expected CPU of one recording, in cores of this machine class (2-core VM), from the README benchmark table
 * (2026-12-05, `npm run bench`): composite 720p30 with 4 participants 0.57 core (node 0.14 + ffmpeg 0.43), audio-only
 * mix 0.11 core, per-track files only 0.38 core (40 tracks). Rounded up a little: admission must not overbook.
 * A worker can be given other figures (`rtc-record worker --cost composite=0.8`).
 */
export const DEFAULT_JOB_COSTS: Readonly<Record<JobKind, number>> = {
  composite: 0.6,
  'audio-only': 0.12,
  'tracks-only': 0.4,
};

/** Which kind of job a recording is, from what it makes. */
export function jobKind(composite: CompositeSettings | false, tracks: boolean): JobKind {
  if (!composite) return 'tracks-only';
  if (composite.video === false) return 'audio-only';
  void tracks; // per-track files ride along with a mix: their cost is in the bench's composite figure
  return 'composite';
}

/** How many jobs of one kind a worker with `cores` admits (the bench's "jobs per worker at the admission limit"). */
export function jobsAtLimit(cores: number, kind: JobKind, costs: Readonly<Record<JobKind, number>> = DEFAULT_JOB_COSTS): number {
  return Math.floor((cores + 1e-9) / costs[kind]);
}

export function defaultCores(): number {
  return availableParallelism();
}
