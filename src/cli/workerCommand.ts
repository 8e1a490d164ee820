import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { ANY_ROOM, mintToken } from '../http/auth.js';
import { createLogger } from '../logger.js';
import { logNativeLibraries } from './nativeLibrariesLog.js';
import { requireUsableFfmpeg } from '../media/ffmpeg/index.js';
import { JOB_KINDS, type JobKind } from '../recording/jobs/RecordingJobTypes.js';
import { RecordingWorker } from '../recording/jobs/RecordingWorker.js';
import { connectRedis, withTimeout } from '../recording/jobs/redisConnection.js';
import { roomOwnerUrl } from '../cluster/RoomRegistry.js';
import type { RecordingWorkerOptions } from '../recording/jobs/RecordingWorkerTypes.js';
import type { IceServer } from '../signaling/messages.js';
import { iceServersFromEnv } from './iceServerOption.js';
import { describeOutcome, progressLogger, targetFromOptions } from './uploadOptions.js';
import { uploadRecording } from '../recording/upload/uploadRecording.js';
import type { UploadCliOptions, UploadTarget } from '../recording/upload/UploadTypes.js';
import type { PartUploadResult } from '../recording/jobs/RecordingWorkerTypes.js';
import type { Logger } from '../logger.js';
import { exitOnStopSignals } from './stopSignals.js';

export interface WorkerOptions extends UploadCliOptions {
  redis: string;
  out: string;
  cores?: number;
  cost: Partial<Record<JobKind, number>>;
  id?: string;
  secret?: string;
  iceAddress?: string;
  iceServer: IceServer[];
  logLevel: string;
}

/** `--cost composite=0.8` (repeatable): a job kind's expected cores. */
export function collectCost(value: string, previous: Partial<Record<JobKind, number>>): Partial<Record<JobKind, number>> {
  const m = /^([a-z-]+)=([0-9.]+)$/.exec(value);
  const kind = m?.[1] as JobKind | undefined;
  const cores = Number(m?.[2]);
  if (!kind || !JOB_KINDS.includes(kind) || !(cores > 0 && cores <= 64)) {
    throw new InvalidArgumentError(`use kind=cores with kind one of ${JOB_KINDS.join(', ')} (e.g. composite=0.8)`);
  }
  return { ...previous, [kind]: cores };
}

export function parseCores(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1024)) throw new InvalidArgumentError('cores must be a positive number');
  return n;
}

/**
 * `rtc-record worker --redis URL`: takes recording jobs queued by `serve --redis` while they fit its cores, and takes
 * over the recordings of workers that died. SIGTERM/SIGINT hand the running recordings to other workers with room (or
 * finalize them when there are none) and exit 0.
 */
export async function workerCommand(opts: WorkerOptions, extra: Partial<RecordingWorkerOptions> = {}): Promise<void> {
  const logger = createLogger({ level: opts.logLevel });
  const target = targetFromOptions(opts); // BAD_S3_TARGET before anything starts
  const secret = opts.secret ?? (process.env.RTC_RECORD_SECRET || undefined);
  try {
    requireUsableFfmpeg();
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'no usable ffmpeg: mixed recordings will fail');
  }
  logNativeLibraries(logger);
  const rooms = connectRedis(opts.redis, logger, 'worker-room-lookup');
  const worker = await RecordingWorker.start({
    redisUrl: opts.redis,
    outputRoot: resolve(opts.out),
    cores: opts.cores,
    costs: opts.cost,
    id: opts.id,
    logger,
    iceAddress: opts.iceAddress ?? '127.0.0.1',
    iceServers: [...opts.iceServer, ...iceServersFromEnv()],
    // The room may have moved since the job was queued (its server died): join where it lives now. Servers started
    // with --secret want a token from recorders too; the worker mints a fresh one per join.
    joinUrl: async (queuedUrl, room) => {
      const owner = await withTimeout(roomOwnerUrl(rooms, room), 2000, () => new Error('timeout')).catch(() => undefined);
      const url = owner ?? queuedUrl;
      return secret ? `${url}${url.includes('?') ? '&' : '?'}token=${mintToken(secret, { room: ANY_ROOM, scopes: ['join', 'record'], ttlSeconds: 300 })}` : url;
    },
    upload: target ? (dir, _status, part) => uploadPart(dir, part, target, opts.keepLocal === true, logger) : undefined,
    ...extra,
  });
  const a = worker.advert();
  const costs = JOB_KINDS.map((k) => `${k} ${a.costs[k]}`).join(', ');
  console.log(`rtc-record worker ${worker.id} ready: ${a.cores} cores, job costs ${costs}; recordings under ${worker.outputRoot}${target ? `, uploaded to s3://${target.bucket}/${target.prefix}` : ''}`);

  exitOnStopSignals(() => `shutting down: handing ${worker.jobs().length} recording(s) to other workers (or finalizing them)…`, () => worker.shutdown());
}

/**
 * A recording directory to the bucket (with the `part-N/` directories inside it). A part N ≥ 2 uploaded alone (part 1
 * on another disk) gets `part-N/` before its file names, as it would have inside the recording's directory:
 * uploadRecording does that from the part's manifest (`part: N`).
 */
async function uploadPart(dir: string, part: number, target: UploadTarget, keepLocal: boolean, logger: Logger): Promise<PartUploadResult> {
  try {
    const outcome = await uploadRecording(dir, target, { keepLocal, logger, onProgress: progressLogger(logger) });
    logger.info({ dir, part }, describeOutcome(dir, outcome));
    const bytes = outcome.objects.reduce((n, o) => n + o.size, 0);
    return {
      ok: outcome.state === 'uploaded',
      location: `s3://${outcome.bucket}/${target.prefix ? `${target.prefix}/` : ''}`,
      objects: outcome.objects.length,
      bytes,
      ...(outcome.error ? { error: `${outcome.error.code}: ${outcome.error.message}` } : {}),
    };
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, objects: 0, bytes: 0, error: `${e.code ?? 'UPLOAD_FAILED'}: ${e.message}` };
  }
}
