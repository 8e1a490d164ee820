// The room registry against a real redis-server (test/harness/redis.ts): claims, heartbeats, release, takeover after a
// dead owner's lease, concurrent claims (exactly one wins), a Redis restart, and Redis being away.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RoomRegistry, roomOwnerUrl, signalingUrlOf } from '../../src/cluster/RoomRegistry.js';
import type { RoomRegistryOptions } from '../../src/cluster/RoomRegistryTypes.js';
import { isRtcRecordError } from '../../src/errors.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { freePort, waitFor } from '../harness/util.js';

let redis: RedisServer;
let admin: Redis;
const registries: RoomRegistry[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  admin.on('error', () => {});
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});
beforeEach(async () => {
  await admin.flushall();
});
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close()));
});

const A = 'http://10.0.0.1:8080';
const B = 'http://10.0.0.2:8080';

async function registry(publicUrl: string, opts: Partial<RoomRegistryOptions> = {}): Promise<RoomRegistry> {
  const r = await RoomRegistry.connect({ redisUrl: redis.url, publicUrl, leaseMs: 1000, ...opts });
  registries.push(r);
  return r;
}

describe('RoomRegistry', () => {
  it('the first server to place a room owns it; the others are redirected to its signaling URL', async () => {
    const a = await registry(A);
    const b = await registry(B);
    expect(await a.place('standup')).toEqual({ local: true });
    expect(await b.place('standup')).toEqual({ redirect: 'ws://10.0.0.1:8080/ws' });
    // The owner asking again stays local; another room is independent.
    expect(await a.place('standup')).toEqual({ local: true });
    expect(await b.place('other')).toEqual({ local: true });
    expect(await a.ownerOf('standup')).toBe(A);
    expect(await roomOwnerUrl(admin, 'standup')).toBe('ws://10.0.0.1:8080/ws');
    expect(await b.roomOwnerUrl('other')).toBe('ws://10.0.0.2:8080/ws');
    expect(await roomOwnerUrl(admin, 'nobody-here')).toBeUndefined();
    expect(await admin.pttl('rtc-record:room:standup')).toBeGreaterThan(0);
  });

  it('a held room outlives its lease (heartbeat); a placed but never held one expires', async () => {
    const a = await registry(A, { leaseMs: 1000 });
    const b = await registry(B, { leaseMs: 1000 });
    await a.place('held');
    a.hold('held');
    await a.place('abandoned');
    await sleep(2500);
    expect(await b.place('held')).toEqual({ redirect: signalingUrlOf(A) });
    expect(await b.place('abandoned')).toEqual({ local: true });
    const ttl = await admin.pttl('rtc-record:room:held');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
  });

  it('release frees the room at once, and never deletes another server\'s claim', async () => {
    const a = await registry(A, { leaseMs: 60_000 });
    const b = await registry(B, { leaseMs: 60_000 });
    await a.place('r1');
    a.hold('r1');
    b.release('r1'); // not B's: must not free it
    expect(await b.place('r1')).toEqual({ redirect: signalingUrlOf(A) });
    a.release('r1');
    expect(await b.place('r1')).toEqual({ local: true });
    expect(await admin.exists('rtc-record:room-info:r1')).toBe(0);
    expect(a.heldRooms()).toEqual([]);
  });

  it('when the owner dies, its rooms are taken over once the lease runs out, not before', async () => {
    const a = await registry(A, { leaseMs: 1000 });
    const b = await registry(B, { leaseMs: 1000 });
    await a.place('orphan');
    a.hold('orphan');
    await sleep(1200); // A's heartbeats kept it
    a.redis.disconnect(); // A dies: no more heartbeats, no release
    const diedAt = Date.now();
    expect(await b.place('orphan')).toEqual({ redirect: signalingUrlOf(A) });
    let placement = await b.place('orphan');
    while ('redirect' in placement) {
      expect(Date.now() - diedAt).toBeLessThan(3000);
      await sleep(50);
      placement = await b.place('orphan');
    }
    const took = Date.now() - diedAt;
    // The last refresh was at most a third of the lease before the death: at least 2/3 of it was left.
    expect(took).toBeGreaterThan(600);
    expect(took).toBeLessThan(1000 + 500); // polled every 50 ms; slack for a loaded machine
    expect(await b.ownerOf('orphan')).toBe(B);
  });

  it('of concurrent claims on one room exactly one wins, and everybody is sent to the winner', async () => {
    const servers = await Promise.all(Array.from({ length: 8 }, (_, i) => registry(`http://10.0.1.${i + 1}:8080`)));
    for (let round = 0; round < 20; round++) {
      const room = `race-${round}`;
      const placements = await Promise.all(servers.map((s) => s.place(room)));
      const winners = servers.filter((_, i) => 'local' in placements[i]!);
      expect(winners).toHaveLength(1);
      const winnerWs = signalingUrlOf(winners[0]!.publicUrl);
      for (const p of placements) if ('redirect' in p) expect(p.redirect).toBe(winnerWs);
      expect(await admin.get(`rtc-record:room:${room}`)).toBe(winners[0]!.publicUrl);
    }
  });

  it('lists the rooms of every server, each once, with its owner and listing', async () => {
    const participants = new Map<string, string[]>([
      ['alpha', ['ann', 'bob']],
      ['beta', ['cat']],
    ]);
    const describe = (room: string) => (participants.has(room) ? { room, participants: participants.get(room) } : undefined);
    const a = await registry(A, { describe, leaseMs: 900 });
    const b = await registry(B, { describe, leaseMs: 900 });
    await a.place('alpha');
    a.hold('alpha');
    await b.place('beta');
    b.hold('beta');
    expect(await b.place('alpha')).toEqual({ redirect: signalingUrlOf(A) });
    await sleep(100);
    const expected = [
      { room: 'alpha', participants: ['ann', 'bob'], server: A },
      { room: 'beta', participants: ['cat'], server: B },
    ];
    expect(await a.rooms()).toEqual(expected);
    expect(await b.rooms()).toEqual(expected);
    // A change is published at the next heartbeat (a third of the lease).
    participants.set('alpha', ['ann']);
    await sleep(500);
    expect((await b.rooms())[0]).toEqual({ room: 'alpha', participants: ['ann'], server: A });
    // update() publishes at once (a leave), without waiting for the heartbeat.
    participants.set('beta', ['cat', 'dan']);
    b.update('beta');
    await sleep(50);
    expect((await a.rooms())[1]).toEqual({ room: 'beta', participants: ['cat', 'dan'], server: B });
    a.release('alpha');
    await sleep(50);
    expect((await b.rooms()).map((r) => r.room)).toEqual(['beta']);
  });

  it('a server whose claim was taken meanwhile is told (lost) with the new owner', async () => {
    const a = await registry(A, { leaseMs: 600 });
    const lost = new Promise<[string, string]>((resolve) => a.once('lost', (room, url) => resolve([room, url])));
    await a.place('moved');
    a.hold('moved');
    // What another server does after A's lease ran out while A could not reach Redis.
    await admin.set('rtc-record:room:moved', B, 'PX', 60_000);
    expect(await lost).toEqual(['moved', signalingUrlOf(B)]);
    expect(a.heldRooms()).toEqual([]);
    expect(await admin.get('rtc-record:room:moved')).toBe(B);
  });

  it('claims survive a Redis restart (append-only file); heartbeats resume', async () => {
    const a = await registry(A, { leaseMs: 3000 });
    const b = await registry(B, { leaseMs: 3000 });
    await a.place('durable');
    a.hold('durable');
    await redis.restart();
    expect(await b.place('durable')).toEqual({ redirect: signalingUrlOf(A) });
    await sleep(3500); // longer than the lease: only A's renewed heartbeats keep it
    expect(await b.place('durable')).toEqual({ redirect: signalingUrlOf(A) });
  });

  it('a Redis that lost everything (no persistence) gets the held rooms claimed again as soon as it is back', async () => {
    const volatile = await startRedis({ appendonly: false });
    try {
      const a = await RoomRegistry.connect({ redisUrl: volatile.url, publicUrl: A, leaseMs: 60_000 });
      registries.push(a);
      await a.place('kept');
      a.hold('kept');
      await volatile.restart();
      const check = new Redis(volatile.url);
      try {
        // Claimed again on reconnect, not at the next heartbeat (20 s away with this lease).
        await waitFor(async () => (await check.get('rtc-record:room:kept')) === A, { timeoutMs: 3000, description: 'claim back' });
        expect(await check.get('rtc-record:room-info:kept')).toContain('"server":"http://10.0.0.1:8080"');
      } finally {
        check.disconnect();
      }
    } finally {
      await volatile.stop();
    }
  });

  it('Redis away: placing fails within the timeout with REDIS_UNAVAILABLE; it works again once Redis is back', async () => {
    const a = await registry(A, { placeTimeoutMs: 500 });
    await redis.kill();
    try {
      const t0 = Date.now();
      const err = await a.place('x').catch((e: unknown) => e);
      expect(isRtcRecordError(err, 'REDIS_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toMatch(/cannot place room x: Redis/);
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally {
      await redis.start();
    }
    await sleep(1200); // reconnect backoff is at most 1 s
    expect(await a.place('y')).toEqual({ local: true });
  });

  it('connecting to no Redis fails at once with REDIS_UNAVAILABLE and the URL', async () => {
    const port = await freePort();
    const err = await RoomRegistry.connect({ redisUrl: `redis://127.0.0.1:${port}`, publicUrl: A, placeTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(isRtcRecordError(err, 'REDIS_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain(`redis://127.0.0.1:${port}`);
  });

  it('public URLs must be base URLs', async () => {
    await expect(registry('http://10.0.0.1:8080/some/path')).rejects.toThrow(/base URL/);
    await expect(registry('ftp://x')).rejects.toThrow(/http:\/\/ or https:\/\//);
    expect(signalingUrlOf('https://rtc.example.org')).toBe('wss://rtc.example.org/ws');
  });
});
