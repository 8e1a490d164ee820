// Self-test of test/harness/redis.ts: a real redis-server answers, keeps its data across restart() (append-only file)
// and across a crash (kill hard + start), and leaves nothing behind after stop().
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../harness/redis.js';

const started: RedisServer[] = [];
const clients: Redis[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(started.splice(0).map((r) => r.stop()));
});

async function redis(): Promise<RedisServer> {
  const r = await startRedis();
  started.push(r);
  return r;
}

function client(url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  c.on('error', () => {}); // refused connections while the server restarts: retried
  clients.push(c);
  return c;
}

describe('redis harness', () => {
  it('serves on a loopback port with an append-only file and no RDB snapshots', async () => {
    const r = await redis();
    expect(r.url).toBe(`redis://127.0.0.1:${r.port}`);
    const c = client(r.url);
    expect(await c.ping()).toBe('PONG');
    expect(await c.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await c.config('GET', 'save')).toEqual(['save', '']);
    expect(await c.config('GET', 'dir')).toEqual(['dir', r.dir]);
  });

  it('restart() keeps the data and the port; a client reconnects', async () => {
    const r = await redis();
    const c = client(r.url);
    await c.set('k', 'v1');
    await c.set('ttl', 'x', 'PX', 60_000);
    await r.restart();
    expect(await c.get('k')).toBe('v1');
    expect(await c.pttl('ttl')).toBeGreaterThan(50_000);
    expect(r.logs.filter((l) => /Ready to accept connections/.test(l))).toHaveLength(2);
  });

  it('a hard kill loses nothing that was acknowledged (appendfsync always); start() brings it back', async () => {
    const r = await redis();
    const c = client(r.url);
    for (let i = 0; i < 50; i++) await c.rpush('list', String(i));
    await r.kill({ hard: true });
    const once = new Redis(r.url, { retryStrategy: () => null, maxRetriesPerRequest: 0 });
    once.on('error', () => {});
    await expect(once.ping()).rejects.toThrow();
    once.disconnect();
    await r.start();
    expect(await c.llen('list')).toBe(50);
  });

  it('stop() removes the data directory and is idempotent', async () => {
    const r = await redis();
    await r.stop();
    await r.stop();
    expect(existsSync(r.dir)).toBe(false);
  });
});
