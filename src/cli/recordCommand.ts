import { resolve } from 'node:path';
import { RtcRecordError } from '../errors.js';
import { startServer } from '../http/HttpServer.js';
import type { RunningServer } from '../http/HttpServerTypes.js';
import { createLogger } from '../logger.js';
import { logNativeLibraries } from './nativeLibrariesLog.js';
import { requireUsableFfmpeg } from '../media/ffmpeg/capabilities.js';
import { RoomRecorder } from '../recording/RoomRecorder.js';
import { ROOM_NAME, type IceServer } from '../signaling/messages.js';
import { compositeSettings, type CompositeCliOptions } from './compositeOptions.js';
import { iceServersFromEnv } from './iceServerOption.js';
import { DEFAULT_IO_BATCH_MS, IoBatching, SERVE_IO_BATCH_MS } from './IoBatching.js';
import { startStatusLine } from './statusLine.js';
import { describeOutcome, progressLogger, targetFromOptions } from './uploadOptions.js';
import { uploadRecording } from '../recording/upload/uploadRecording.js';
import type { UploadCliOptions } from '../recording/upload/UploadTypes.js';

export interface RecordOptions extends CompositeCliOptions, UploadCliOptions {
  room: string;
  server?: string;
  out: string;
  duration?: number;
  json?: boolean;
  port: number;
  host: string;
  iceAddress?: string;
  iceServer: IceServer[];
  /** Default: DEFAULT_IO_BATCH_MS with --server, SERVE_IO_BATCH_MS with the embedded server. */
  ioBatchMs?: number;
  logLevel: string;
}

/**
 * `rtc-record --room x`: record a room until SIGINT/SIGTERM or --duration. Without --server it starts the embedded
 * server first. The last stdout line is the recording directory (or a JSON summary with --json).
 */
export async function recordCommand(opts: RecordOptions): Promise<void> {
  const logger = createLogger({ level: opts.logLevel });
  if (!ROOM_NAME.test(opts.room)) {
    throw new RtcRecordError('BAD_ROOM_NAME', `bad room name ${JSON.stringify(opts.room)}: use 1-64 of A-Z a-z 0-9 _ -`);
  }
  // A bad --s3 is refused before anything is recorded.
  const uploadTarget = targetFromOptions(opts);
  // Fail before joining anything when ffmpeg is missing or lacks something the recording needs.
  const { binary, caps } = requireUsableFfmpeg();
  logger.info({ ffmpeg: binary.path, source: binary.source, version: caps.version }, 'using ffmpeg');
  logNativeLibraries(logger);
  const iceServers = [...opts.iceServer, ...iceServersFromEnv()];
  let server: RunningServer | undefined;
  let serverUrl = opts.server;
  if (!serverUrl) {
    server = await startServer({ port: opts.port, host: opts.host, iceServers, iceAddress: opts.iceAddress });
    serverUrl = server.wsUrl;
    console.log(`rtc-record server listening on ${server.url}`);
    console.log(`join the room: ${server.url}/room/${encodeURIComponent(opts.room)}`);
  } else if (!/^wss?:\/\//.test(serverUrl)) {
    throw new RtcRecordError('SERVER_UNREACHABLE', `--server must be a ws:// or wss:// URL, got ${serverUrl}`);
  }

  let recorder: RoomRecorder;
  try {
    recorder = await RoomRecorder.start(
      {
        serverUrl,
        room: opts.room,
        outputRoot: resolve(opts.out),
        iceAddress: opts.iceAddress,
        iceServers,
        tap: server ? (room) => server!.sfu.tap(room) : undefined,
        composite: compositeSettings(opts),
        tracks: opts.tracks !== false,
      },
      logger,
    );
  } catch (err) {
    await server?.close();
    throw err;
  }
  console.log(`recording room ${opts.room} into ${recorder.dir}`);
  const batching = new IoBatching(opts.ioBatchMs ?? (server ? SERVE_IO_BATCH_MS : DEFAULT_IO_BATCH_MS)).start();
  const status = startStatusLine(recorder);
  recorder.on('trackStarted', (t) => console.log(`+ ${t.participantName}: ${t.kind} (${t.codec})${t.file ? ` → ${t.file}` : ''}`));
  recorder.on('participantLeft', (p) => console.log(`- ${p.name} left`));
  // Non-fatal (one track's file, the mixed recording): reported, the rest goes on.
  recorder.on('error', (err) => console.error(`rtc-record: ${(err as { code?: string }).code ? `[${(err as { code?: string }).code}] ` : ''}${err.message}`));

  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (opts.duration !== undefined) setTimeout(stop, opts.duration * 1000).unref();
  });
  status.stop();
  console.log('stopping…');
  const manifest = await recorder.stop();
  batching.stop();
  await server?.close();
  // Uploaded once finalized; a failed upload keeps every local file and says how to retry.
  const upload = uploadTarget
    ? await uploadRecording(recorder.dir, uploadTarget, { keepLocal: opts.keepLocal === true, logger, onProgress: progressLogger(logger) })
    : undefined;
  if (upload) (upload.state === 'uploaded' ? console.log : console.error)(`${upload.state === 'uploaded' ? '' : 'rtc-record: '}${describeOutcome(recorder.dir, upload)}`);
  if (opts.json) {
    console.log(JSON.stringify({ dir: recorder.dir, ...manifest, ...(upload ? { upload } : {}) }));
  } else {
    console.log(`${manifest.tracks.length} track(s), state ${manifest.state}`);
    if (manifest.composite) console.log(`mixed: ${manifest.composite.file} (${manifest.composite.state})`);
    console.log(recorder.dir);
  }
  if (manifest.state === 'failed' || upload?.state === 'failed') process.exitCode = 1;
  // The recording is complete and reported. End the process rather than wait for every handle to close: werift can
  // leave a closed connection's ICE socket open (seen with the embedded SFU), which kept the process alive forever.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit();
}
