// The setup the bandwidth and temporal-layer e2e tests share: our server (its debug log kept), a publisher browser
// that can send three simulcast layers of a 640x480 moving pattern, and a subscriber browser whose downlink from the
// server goes through a rate-capped relay.
import { pino } from 'pino';
import { startServer } from '../../src/http/HttpServer.js';
import { launchParticipant, type Participant } from './browser.js';
import { audioFixture, videoFixture } from './fixtures.js';
import { PageRelay } from './pageRelay.js';

/** Chromium limits simulcast layers by resolution; this lets a 640x480 camera send three. */
export const SIMULCAST_FIELDTRIAL = '--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/';

export interface SlowLinkRoom<Log> {
  /** The server's log lines (debug), parsed. */
  logs: Log[];
  server: Awaited<ReturnType<typeof startServer>>;
  pub: Participant;
  sub: Participant;
  /** The subscriber's downlink relay (setRate to change the cap). */
  path: PageRelay;
}

/** The fixtures the room uses (for a beforeAll, so encoding them is not timed). */
export function slowLinkFixtures(): Promise<[string, string]> {
  return Promise.all([videoFixture({ kind: 'testsrc', width: 640, height: 480, fps: 30, seconds: 2 }), audioFixture({ freq: 440, seconds: 2 })]);
}

/** Starts it all; everything started is handed to `cleanups` (run in reverse by the test's afterEach). */
export async function slowLinkRoom<Log>(rateKbps: number, cleanups: Array<() => Promise<unknown>>): Promise<SlowLinkRoom<Log>> {
  const logs: Log[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Log) });
  const server = await startServer({ port: 0, host: '127.0.0.1', logger });
  cleanups.push(() => server.close());
  const [camera, mic] = await slowLinkFixtures();
  const [pub, sub] = await Promise.all([
    launchParticipant({ name: 'pub', video: camera, audio: mic, args: [SIMULCAST_FIELDTRIAL] }),
    launchParticipant({ name: 'sub' }),
  ]);
  cleanups.push(() => pub.close(), () => sub.close());
  // ~0.5 s of queue at 500 kbit/s, as a home router's buffer might hold; what does not fit is dropped.
  const path = await PageRelay.attach(sub.page, { rateKbps, queueBytes: 32_000 });
  cleanups.push(() => path.close());
  return { logs, server, pub, sub, path };
}
