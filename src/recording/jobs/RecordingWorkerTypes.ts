import type { Logger } from '../../logger.js';
import type { IceServer } from '../../signaling/messages.js';
import type { StartRecorder } from '../RecordingServiceTypes.js';
import type { JobKind, JobStatus } from './RecordingJobTypes.js';

/** What a finished part's upload reports back (the worker records it in the job status). */
export interface PartUploadResult {
  ok: boolean;
  /** Where it went (s3://bucket/prefix…). */
  location?: string;
  objects: number;
  bytes: number;
  error?: string;
}

export interface RecordingWorkerOptions {
  redisUrl: string;
  prefix?: string;
  /** Output root of this worker's recordings (a shared root lets any worker recover any part). */
  outputRoot: string;
  /** Cores this worker may fill with jobs (default: the machine's). */
  cores?: number;
  /** Expected cost of each kind of job, cores (default: the bench's figures, jobCosts.ts). */
  costs?: Partial<Record<JobKind, number>>;
  /** Worker id (default host-pid-random). */
  id?: string;
  logger: Logger;
  /** The ws URL a recorder joins, from the job's (adds a token when the servers require one). */
  joinUrl?: (serverUrl: string, room: string) => string | Promise<string>;
  iceAddress?: string;
  iceServers?: IceServer[];
  /** Uploads one finished (or recovered) part's directory; absent: files stay on disk. */
  upload?: (dir: string, status: JobStatus, part: number) => Promise<PartUploadResult>;
  startRecorder?: StartRecorder;
  /**
   * Count this process tree's measured CPU in admission (default true). Off for a worker inside another program (tests:
   * the test runner's own CPU is not the worker's).
   */
  measureCpu?: boolean;
  pollMs?: number;
  heartbeatMs?: number;
  heartbeatTtlMs?: number;
}

export interface RecordingWorkerEvents {
  jobStarted: [status: JobStatus];
  jobEnded: [status: JobStatus];
}
