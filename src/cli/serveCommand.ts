import { resolve } from 'node:path';
import { RtcRecordError } from '../errors.js';
import { startServer } from '../http/HttpServer.js';
import { createLogger } from '../logger.js';
import { logNativeLibraries } from './nativeLibrariesLog.js';
import { requireUsableFfmpeg } from '../media/ffmpeg/index.js';
import { JobQueue } from '../recording/jobs/JobQueue.js';
import { parseWebhookUrl } from '../recording/webhooks.js';
import type { MixPacketMs } from '../sfu/RoomMix.js';
import type { IceServer, RoomAudio, RoomMode } from '../signaling/messages.js';
import { compositeSettings, type CompositeCliOptions } from './compositeOptions.js';
import { iceServersFromEnv } from './iceServerOption.js';
import { IoBatching } from './IoBatching.js';
import { targetFromOptions } from './uploadOptions.js';
import type { UploadCliOptions } from '../recording/upload/UploadTypes.js';
import { exitOnStopSignals } from './stopSignals.js';

export interface ServeOptions extends CompositeCliOptions, UploadCliOptions {
  port: number;
  host: string;
  iceServer: IceServer[];
  out: string;
  autoRecord?: boolean;
  secret?: string;
  webhook?: string;
  webhookSecret?: string;
  iceAddress?: string;
  roomMode: RoomMode;
  roomAudio: RoomAudio;
  mcuFrom: number;
  mixPacketMs: MixPacketMs;
  publisherStartKbps: number;
  /** False (`--no-bandwidth-adaptation`): subscribers' estimates never cap what they are sent. */
  bandwidthAdaptation: boolean;
  maxRecordings: number;
  ioBatchMs: number;
  /** Several servers on one Redis (rooms across servers; recording jobs). */
  redis?: string;
  publicUrl?: string;
  roomLease: number;
  logLevel: string;
}

/**
 * Where other servers send this one's participants. Listening on every address, the server cannot guess which of its
 * addresses participants reach it on, so it must be told.
 */
function clusterPublicUrl(opts: ServeOptions): string | undefined {
  if (opts.publicUrl) return opts.publicUrl;
  if (opts.host === '0.0.0.0' || opts.host === '::' || opts.host === '') {
    throw new RtcRecordError('BAD_REQUEST', `--redis with --host ${opts.host || "''"} needs --public-url (e.g. http://10.0.0.5:${opts.port}): other servers redirect participants there`);
  }
  return undefined;
}

/**
 * `rtc-record serve`: signaling, room pages, the recordings API and page. SIGTERM/SIGINT stop taking new recordings,
 * finalize the running ones and exit 0; a second signal exits at once.
 */
export async function serveCommand(opts: ServeOptions): Promise<void> {
  const logger = createLogger({ level: opts.logLevel });
  const secret = opts.secret ?? (process.env.RTC_RECORD_SECRET || undefined);
  const webhook = opts.webhook ? parseWebhookUrl(opts.webhook) : undefined;
  try {
    const { binary, caps } = requireUsableFfmpeg();
    logger.info({ ffmpeg: binary.path, source: binary.source, version: caps.version }, 'using ffmpeg');
  } catch (err) {
    // Rooms work without ffmpeg; recordings will fail with FFMPEG_NOT_FOUND / FFMPEG_UNSUITABLE and say so.
    logger.warn({ err: (err as Error).message }, 'no usable ffmpeg: recordings will fail');
  }
  logNativeLibraries(logger);
  const outputRoot = resolve(opts.out);
  // A bad --s3 is refused before the server starts; recordings are uploaded once finalized (workers upload their own).
  const uploadTarget = targetFromOptions(opts);
  // With --redis, recordings are jobs taken by `rtc-record worker` processes (any server queues, lists and stops them).
  const jobs = opts.redis ? await JobQueue.connect({ redisUrl: opts.redis, logger, owner: `serve-${process.pid}` }) : undefined;
  const server = await startServer({
    port: opts.port,
    host: opts.host,
    iceServers: [...opts.iceServer, ...iceServersFromEnv()],
    secret,
    logger,
    cluster: opts.redis ? { redisUrl: opts.redis, publicUrl: clusterPublicUrl(opts), leaseMs: opts.roomLease * 1000 } : undefined,
    iceAddress: opts.iceAddress,
    defaultRoomMode: opts.roomMode,
    defaultRoomAudio: opts.roomAudio,
    mcuFrom: opts.mcuFrom,
    mixPacketMs: opts.mixPacketMs,
    publisherStartKbps: opts.publisherStartKbps,
    bandwidthAdaptation: opts.bandwidthAdaptation,
    recordings: {
      outputRoot,
      autoRecord: opts.autoRecord === true,
      iceAddress: opts.iceAddress,
      maxConcurrent: opts.maxRecordings,
      composite: compositeSettings(opts),
      tracks: opts.tracks !== false,
      webhook: webhook ? { url: webhook, secret: opts.webhookSecret ?? secret } : undefined,
      upload: uploadTarget ? { target: uploadTarget, keepLocal: opts.keepLocal === true } : undefined,
      jobs,
    },
  });
  console.log(`rtc-record server listening on ${server.url}`);
  console.log(`open ${server.url}/room/demo to join a room`);
  if (server.cluster) {
    console.log(`rooms shared through Redis: this server is ${server.cluster.publicUrl}; a room owned by another server sends its participants there`);
  }
  console.log(`recordings: ${server.url}/recordings (files under ${outputRoot})${opts.autoRecord ? '; every occupied room is recorded' : ''}`);
  // Only batches while there is I/O to batch: an idle server sleeps in epoll as before.
  new IoBatching(opts.ioBatchMs).start();
  if (secret) console.log('tokens required: mint one with `rtc-record token --room <room> --secret …` and add ?token=… to page URLs');

  exitOnStopSignals(() => {
    const n = jobs ? 0 : (server.recordings?.activeRecordings().length ?? 0); // workers finish their own
    return `shutting down: finalizing ${n} recording(s)…`;
  }, () => server.shutdown());
}
