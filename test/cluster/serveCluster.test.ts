// Two real `rtc-record serve --redis` processes on one real redis-server, driven over the WebSocket protocol (no
// browser; test/e2e/cluster.test.ts has the Chromium version): a join on the server that does not own the room is
// redirected to the owner, /api/rooms on either lists every room once, a clean shutdown hands rooms over at once, and
// the CLI refuses a cluster set-up it cannot work with.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobStore } from '../../src/recording/jobs/JobStore.js';
import { CliProcess } from '../harness/cli.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { freePort, waitFor } from '../harness/util.js';
import { TestClient } from '../signaling/wsClient.js';

let redis: RedisServer;
let out: string;
const processes: CliProcess[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  out = await mkdtemp(join(tmpdir(), 'rtc-record-serve-cluster-'));
});
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  for (const p of processes.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
});
afterAll(async () => {
  await redis?.stop();
  await rm(out, { recursive: true, force: true });
});

interface Server {
  cli: CliProcess;
  url: string;
  ws: string;
}

async function serve(...extra: string[]): Promise<Server> {
  const cli = new CliProcess(['serve', '--port', '0', '--out', out, '--redis', redis.url, '--room-lease', '2', '--log-level', 'warn', ...extra]);
  processes.push(cli);
  const line = await cli.waitForLine(/^rtc-record server listening on /, 30_000);
  const url = line.replace(/^rtc-record server listening on /, '');
  return { cli, url, ws: `${url.replace(/^http/, 'ws')}/ws` };
}

async function client(server: Server): Promise<TestClient> {
  const c = await TestClient.connect(server.ws);
  clients.push(c);
  return c;
}

type Listing = { room: string; server: string; mode?: string; participants: Array<{ name: string; role: string }> };

async function rooms(server: Server): Promise<Listing[]> {
  const res = await fetch(`${server.url}/api/rooms`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { rooms: Listing[] }).rooms;
}

const names = (l: Listing) => l.participants.filter((p) => p.role === 'participant').map((p) => p.name).sort();

describe('serve --redis', () => {
  it('redirects a join to the room\'s owner; /api/rooms on both servers lists every room once', async () => {
    const [a, b] = await Promise.all([serve(), serve()]);
    expect(a.cli.stdout.join('\n')).toContain(`rooms shared through Redis: this server is ${a.url}`);
    const ann = await client(a);
    await ann.join('alpha', 'ann');
    const bob = await client(b);
    const t0 = performance.now();
    bob.send({ type: 'join', room: 'alpha', name: 'bob' });
    expect(await bob.type('redirect')).toEqual({ type: 'redirect', room: 'alpha', url: a.ws });
    const redirectMs = performance.now() - t0;
    // Following it, as the room page does.
    const bobOnA = await client(a);
    const joined = await bobOnA.join('alpha', 'bob');
    expect(joined.peers.map((p: { name: string }) => p.name)).toContain('ann');
    expect((await ann.type('peerJoined')).peer.name).toBe('bob');
    console.log(`redirect answered in ${redirectMs.toFixed(1)} ms`);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/^rtc_record_cluster_joins_redirected_total 1$/m);
    expect(metrics).toMatch(/^rtc_record_cluster_redis_up 1$/m);
    expect(metrics).toMatch(/^rtc_record_cluster_rooms_held 0$/m);
    expect(await (await fetch(`${a.url}/metrics`)).text()).toMatch(/^rtc_record_cluster_rooms_held 1$/m);

    // A room opened on B lives on B.
    const cat = await client(b);
    await cat.join('beta', 'cat');
    for (const s of [a, b]) {
      await waitFor(async () => {
        const list = await rooms(s);
        return list.length === 2 && names(list[0]!).join() === 'ann,bob' && names(list[1]!).join() === 'cat';
      }, { timeoutMs: 3000, description: `${s.url}/api/rooms` });
      const list = await rooms(s);
      expect(list.map((r) => [r.room, r.server])).toEqual([
        ['alpha', a.url],
        ['beta', b.url],
      ]);
    }
    // A leave shows on the other server too (published at once, not at the next heartbeat).
    bobOnA.send({ type: 'leave' });
    await waitFor(async () => names((await rooms(b))[0]!).join() === 'ann', { timeoutMs: 2000, description: 'bob gone from B\'s listing' });

    // A recording requested on B for A's room is a job that sends its worker to A (no worker runs here: it stays queued).
    void fetch(`${b.url}/api/recordings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ room: 'alpha' }) }).catch(() => {});
    const admin = new Redis(redis.url);
    try {
      const store = new JobStore(admin);
      const job = await waitFor(async () => (await store.list()).find((j) => j.room === 'alpha'), { timeoutMs: 5000, description: 'job queued' });
      expect(job.request.serverUrl).toBe(a.ws);

      // The last one out: the claim goes at once (not when its 2 s lease runs out), so any server may open it next.
      expect(await admin.get('rtc-record:room:alpha')).toBe(a.url);
      ann.send({ type: 'leave' });
      await ann.type('left');
      const leftAt = Date.now();
      await waitFor(async () => (await admin.exists('rtc-record:room:alpha', 'rtc-record:room-info:alpha')) === 0, { timeoutMs: 3000, description: 'alpha released' });
      expect(Date.now() - leftAt).toBeLessThan(1000); // the lease is 2 s

      // B's claim on beta taken over by A (what happens when B could not reach Redis for longer than the lease): B
      // notices at its next heartbeat and sends cat there.
      await admin.set('rtc-record:room:beta', a.url, 'PX', 60_000);
      expect(await cat.type('redirect', 2000)).toEqual({ type: 'redirect', room: 'beta', url: a.ws });
      expect(b.cli.stderr.join('\n')).toMatch(/room is now owned by another server/);

      // First joins of a room on both servers at the same moment: one server gets it, the other sends its client there.
      for (let i = 0; i < 5; i++) {
        const room = `race-${i}`;
        const [onA, onB] = await Promise.all([client(a), client(b)]);
        onA.send({ type: 'join', room, name: 'x' });
        onB.send({ type: 'join', room, name: 'y' });
        const answers = await Promise.all([onA, onB].map((c) => c.next((m) => m.type === 'joined' || m.type === 'redirect')));
        expect(answers.map((m) => m.type).sort()).toEqual(['joined', 'redirect']);
        const winner = answers[0].type === 'joined' ? a : b;
        expect(answers.find((m) => m.type === 'redirect').url).toBe(winner.ws);
        expect(await admin.get(`rtc-record:room:${room}`)).toBe(winner.url);
      }
    } finally {
      admin.disconnect();
    }
  });

  it('a stopped server (SIGTERM) hands its rooms over at once; a killed one after its lease', async () => {
    // C (killed below) starts with A and B: a CLI takes seconds to start on a loaded machine.
    const [a, b, c] = await Promise.all([serve(), serve(), serve()]);
    const ann = await client(a);
    await ann.join('gamma', 'ann');
    const dan = await client(a);
    await dan.join('delta', 'dan');

    a.cli.kill('SIGTERM');
    await a.cli.exited;
    const stoppedAt = Date.now();
    const bob = await client(b);
    await bob.join('gamma', 'bob'); // no redirect: A gave the room up on its way out
    expect(Date.now() - stoppedAt).toBeLessThan(1000);

    const eve = await client(c);
    await eve.join('epsilon', 'eve');
    c.cli.kill('SIGKILL');
    const killedAt = Date.now();
    let redirects = 0;
    for (;;) {
      const fay = await client(b);
      fay.send({ type: 'join', room: 'epsilon', name: 'fay' });
      const answer = await fay.next((m) => m.type === 'joined' || m.type === 'redirect');
      if (answer.type === 'joined') break;
      expect(answer.url).toBe(c.ws);
      redirects++;
      fay.close();
      await new Promise((r) => setTimeout(r, 100));
      expect(Date.now() - killedAt).toBeLessThan(5000);
    }
    const took = Date.now() - killedAt;
    expect(redirects).toBeGreaterThan(0);
    expect(took).toBeGreaterThan(1000); // ≥ 2/3 of the 2 s lease was left
    expect(took).toBeLessThan(3500); // lease 2 s, plus slack for a loaded machine
  });

  it('refuses to start without Redis, or listening everywhere without --public-url', async () => {
    const port = await freePort();
    // The three start at once (each CLI takes seconds to start and give up on a loaded machine); each is judged alone.
    const noRedis = new CliProcess(['serve', '--port', '0', '--out', out, '--redis', `redis://127.0.0.1:${port}`]);
    const everywhere = new CliProcess(['serve', '--port', '0', '--host', '0.0.0.0', '--out', out, '--redis', redis.url]);
    const badUrl = new CliProcess(['serve', '--port', '0', '--out', out, '--redis', redis.url, '--public-url', 'http://10.0.0.1:8080/rtc']);
    processes.push(noRedis, everywhere, badUrl);
    expect((await noRedis.exited).code).toBe(1);
    expect(noRedis.stderr.join('\n')).toContain(`[REDIS_UNAVAILABLE] cannot reach Redis at redis://127.0.0.1:${port}`);

    expect((await everywhere.exited).code).toBe(1);
    expect(everywhere.stderr.join('\n')).toMatch(/--redis with --host 0\.0\.0\.0 needs --public-url/);

    expect((await badUrl.exited).code).toBe(1);
    expect(badUrl.stderr.join('\n')).toMatch(/--public-url is a base URL without a path/);
  });

  it('--public-url is what other servers redirect to', async () => {
    const [a, b] = await Promise.all([serve('--public-url', 'https://rtc-a.example.org'), serve()]);
    const ann = await client(a);
    await ann.join('zeta', 'ann');
    const bob = await client(b);
    bob.send({ type: 'join', room: 'zeta', name: 'bob' });
    expect(await bob.type('redirect')).toEqual({ type: 'redirect', room: 'zeta', url: 'wss://rtc-a.example.org/ws' });
  });

  it('Redis away: joins that would open a room are refused with REDIS_UNAVAILABLE, open rooms go on, /api/rooms says what is missing', async () => {
    const a = await serve();
    const ann = await client(a);
    await ann.join('eta', 'ann');
    await redis.kill();
    try {
      const t0 = Date.now();
      const bob = await client(a);
      bob.send({ type: 'join', room: 'theta', name: 'bob' });
      expect(await bob.type('error', 6000)).toMatchObject({ code: 'REDIS_UNAVAILABLE', ref: 'join', message: expect.stringMatching(/cannot place room theta: Redis/) });
      expect(Date.now() - t0).toBeLessThan(4500);
      // A room open here needs no placement: its members keep coming.
      const cat = await client(a);
      await cat.join('eta', 'cat');
      const res = await fetch(`${a.url}/api/rooms`);
      const body = (await res.json()) as { rooms: Listing[]; incomplete?: string };
      expect(res.status).toBe(200);
      expect(body.rooms.map((r) => [r.room, names(r)])).toEqual([['eta', ['ann', 'cat']]]);
      expect(body.incomplete).toMatch(/rooms of other servers are missing: Redis unreachable/);
      expect(await (await fetch(`${a.url}/metrics`)).text()).toMatch(/^rtc_record_cluster_redis_up 0$/m);
    } finally {
      await redis.start();
    }
    const dan = await client(a);
    await waitFor(async () => {
      dan.send({ type: 'join', room: 'theta', name: 'dan' });
      const answer = await dan.next((m) => m.type === 'joined' || (m.type === 'error' && m.ref === 'join'), 6000);
      return answer.type === 'joined';
    }, { timeoutMs: 15_000, description: 'joins placed again once Redis is back' });
  });
});
