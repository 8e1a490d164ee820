import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A port that is free on 127.0.0.1 for both TCP and UDP at the time of the call (coturn and most
 * media servers listen on both). Still racy by nature: bind it soon after.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const sock = createSocket('udp4');
      sock.once('error', () => {
        sock.close();
        resolve(false);
      });
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (port > 0 && udpFree) return port;
  }
  throw new Error('freePort: no port free on both TCP and UDP after 20 attempts');
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Included in the timeout error to say what was awaited. */
  description?: string;
}

/**
 * Polls `predicate` until it returns a truthy value, and resolves with that value.
 * Errors thrown by the predicate count as "not yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 100, description }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const what = description ?? 'condition';
  const cause = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
  throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms${cause}`, { cause: lastError });
}

/** Absolute path of a manifest track's file; throws (fails the test) when the track has none (`--no-tracks`). */
export function trackPath(dir: string, track: { id: string; file?: string }): string {
  if (!track.file) throw new Error(`track ${track.id} has no file`);
  return join(dir, track.file);
}
