import { Redis } from 'ioredis';
import { RtcRecordError } from '../../errors.js';
import type { Logger } from '../../logger.js';

/**
 * An ioredis connection that rides out a Redis restart: it reconnects forever (backing off to 1 s) and queues commands
 * meanwhile (`maxRetriesPerRequest: null`, which BullMQ needs anyway). Callers that must not wait on a dead Redis check
 * `isReady()` first or bound the wait with `withTimeout`.
 */
export function connectRedis(url: string, logger: Logger, name: string): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RtcRecordError('INVALID_FIELD', `--redis: not a URL: ${url} (use redis://host:port)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new RtcRecordError('INVALID_FIELD', `--redis: use redis://host:port, not ${parsed.protocol}`);
  }
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: name,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger.warn({ err: err.message, redis: name }, 'redis connection lost; reconnecting (recordings keep running)');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info({ redis: name }, 'redis connection back');
    down = false;
  });
  return redis;
}

export function isReady(redis: Redis): boolean {
  return redis.status === 'ready';
}

/** Waits for the first connection (fails with REDIS_UNAVAILABLE after `ms`). */
export async function waitReady(redis: Redis, url: string, ms = 10_000): Promise<void> {
  if (isReady(redis)) return;
  await withTimeout(
    new Promise<void>((resolve) => redis.once('ready', () => resolve())),
    ms,
    () => new RtcRecordError('REDIS_UNAVAILABLE', `cannot reach Redis at ${url} (is redis-server running?)`),
  );
}

export async function withTimeout<T>(p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(error()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
