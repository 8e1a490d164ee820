import { resolve } from 'node:path';
import { startServer } from '../http/HttpServer.js';
import { createLogger } from '../logger.js';
import { requireUsableFfmpeg } from '../media/ffmpeg/index.js';
import { parseWebhookUrl } from '../recording/webhooks.js';
import type { IceServer } from '../signaling/messages.js';
import { compositeSettings, type CompositeCliOptions } from './compositeOptions.js';
import { iceServersFromEnv } from './iceServerOption.js';
import { IoBatching } from './IoBatching.js';

export interface ServeOptions extends CompositeCliOptions {
  port: number;
  host: string;
  iceServer: IceServer[];
  out: string;
  autoRecord?: boolean;
  secret?: string;
  webhook?: string;
  webhookSecret?: string;
  iceAddress?: string;
  maxRecordings: number;
  ioBatchMs: number;
  logLevel: string;
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
  const outputRoot = resolve(opts.out);
  const server = await startServer({
    port: opts.port,
    host: opts.host,
    iceServers: [...opts.iceServer, ...iceServersFromEnv()],
    secret,
    logger,
    recordings: {
      outputRoot,
      autoRecord: opts.autoRecord === true,
      iceAddress: opts.iceAddress,
      maxConcurrent: opts.maxRecordings,
      composite: compositeSettings(opts),
      tracks: opts.tracks !== false,
      webhook: webhook ? { url: webhook, secret: opts.webhookSecret ?? secret } : undefined,
    },
  });
  console.log(`rtc-record server listening on ${server.url}`);
  console.log(`open ${server.url}/room/demo to join a room`);
  console.log(`recordings: ${server.url}/recordings (files under ${outputRoot})${opts.autoRecord ? '; every occupied room is recorded' : ''}`);
  // Only batches while there is I/O to batch: an idle server sleeps in epoll as before.
  new IoBatching(opts.ioBatchMs).start();
  if (secret) console.log('tokens required: mint one with `rtc-record token --room <room> --secret …` and add ?token=… to page URLs');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      console.log(`${signal} again: exiting without finalizing`);
      process.exit(1);
    }
    stopping = true;
    const n = server.recordings?.activeRecordings().length ?? 0;
    console.log(`shutting down: finalizing ${n} recording(s)…`);
    server.shutdown().then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
      (err) => {
        console.error(`rtc-record: shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
