// A room of werift publishers for room-page tests: the server in-process, and the media clock they send by.
import { loadOggOpus } from '../../bench/loadgen/media.js';
import { MediaScheduler } from '../../bench/loadgen/participant.js';
import { startServer } from '../../src/http/HttpServer.js';
import { createLogger } from '../../src/logger.js';
import { opusToneFixture } from './fixtures.js';

/**
 * A server whose SFU rooms forward every voice (one track each; no switch to the MCU mix however big the room), and the
 * scheduler synthetic publishers send by; both are stopped by `cleanups`.
 */
export async function forwardingServer(cleanups: Array<() => Promise<unknown> | void>) {
  const server = await startServer({ port: 0, host: '127.0.0.1', mcuFrom: 100, ...(process.env.RTC_RECORD_DEBUG ? { logger: createLogger({ level: 'debug' }) } : {}) });
  cleanups.push(() => server.close());
  const scheduler = new MediaScheduler();
  cleanups.push(() => scheduler.stop());
  return { server, scheduler };
}

/** A voice far below the room page's speaking threshold (−54 dBFS): present, never "speaking". */
export async function quietVoice() {
  return loadOggOpus(await opusToneFixture({ freq: 500, burstOffMs: 0, phases: [{ seconds: 4, amplitude: 0.002 }] }));
}
