import type { CompositeSettings } from '../CompositeRecorderTypes.js';
import type { ManifestGap, ManifestPart } from '../ManifestTypes.js';

/** What a job costs a worker depends on what it makes (bench/: composite ≫ tracks ≫ audio-only). */
export type JobKind = 'composite' | 'audio-only' | 'tracks-only';
export const JOB_KINDS: readonly JobKind[] = ['composite', 'tracks-only', 'audio-only'];

/** A job's life: queued → starting → recording → finalizing → (uploading →) done | failed. */
export type JobState = 'queued' | 'starting' | 'recording' | 'finalizing' | 'uploading' | 'done' | 'failed';
export const LIVE_STATES: readonly JobState[] = ['queued', 'starting', 'recording', 'finalizing', 'uploading'];
/** States in which a worker holds the job and must keep its heartbeat alive. */
export const HELD_STATES: readonly JobState[] = ['starting', 'recording', 'finalizing', 'uploading'];

/** What to record, fixed when the job is queued (defaults of the `serve` that queued it applied). */
export interface JobRequest {
  id: string;
  room: string;
  kind: JobKind;
  composite: CompositeSettings | false;
  tracks: boolean;
  /** ws:// URL of the signaling server that hosts the room (no token: a worker mints its own with --secret). */
  serverUrl: string;
  trigger: 'api' | 'auto';
  /** The server that queued it: it alone sends the recording's webhooks and counts it in its metrics. */
  origin?: string;
}

/** The payload of one BullMQ dispatch: start part `part` of recording `request.id`. */
export interface DispatchData {
  request: JobRequest;
  part: number;
  /** Which dispatch of this recording it is; a worker runs it only if it is still the current one. */
  dispatch: number;
}

/** A part of the recording as Redis tracks it (the manifest gets the same list). */
export type JobPart = ManifestPart & {
  /** Host and output root of the worker that wrote it: who can reach its files. */
  host?: string;
  outputRoot?: string;
  /** Epoch ms of the last heartbeat (lost parts: the exact span that is missing). */
  lastSeenAt?: number;
  /** Epoch ms of this part's first media packet (a worker handing over waits for it before its own part ends). */
  mediaAt?: number;
};

/** The status of one recording, shared by every server and worker (Redis key `<prefix>job:<id>`, JSON). */
export interface JobStatus {
  id: string;
  room: string;
  kind: JobKind;
  state: JobState;
  trigger: 'api' | 'auto';
  request: JobRequest;
  enqueuedAt: number;
  updatedAt: number;
  startedAt?: number;
  stoppedAt?: number;
  /** The worker holding it now (starting … uploading). */
  worker?: string;
  /** Current dispatch number (see DispatchData.dispatch) and the worker that claimed it. */
  dispatch: number;
  claimedBy?: string;
  /** Part being recorded (1, then 2 after a takeover, …). */
  part: number;
  parts: JobPart[];
  gaps: ManifestGap[];
  takeovers: number;
  stopRequested?: boolean;
  /** Why it failed (code: message), or a note (e.g. waiting for a worker with room). */
  error?: string;
  note?: string;
  /** The bucket location once uploaded. */
  upload?: { url: string; files: number; bytes: number };
}

/** What a worker advertises (key `<prefix>worker:<id>` with a TTL): admission is decided from these figures. */
export interface WorkerAdvert {
  id: string;
  host: string;
  pid: number;
  cores: number;
  /** Sum of the expected cost of the jobs it runs (cores). */
  committedCores: number;
  /** CPU this process tree used over the last seconds (cores), measured. */
  measuredCores: number;
  freeCores: number;
  costs: Record<JobKind, number>;
  jobs: string[];
  outputRoot: string;
  seenAt: number;
}

export interface JobEvents {
  /** A recording's status changed (any server or worker wrote it). */
  status: [status: JobStatus];
}
