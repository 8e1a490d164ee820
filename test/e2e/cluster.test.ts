// End-to-end, rooms across servers: a real redis-server, two real `rtc-record serve --redis` processes (the CLI, with
// --secret: tokens must work on the server a page is sent to) and Chromium participants opening the same room on
// different servers. They must end up in one room on its owner and see and hear each other (tile colours, tones);
// /api/rooms on either server lists the room once; when the owner dies, the room is taken over after its lease.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/http/auth.js';
import { launchParticipant, type Participant } from '../harness/browser.js';
import { CliProcess } from '../harness/cli.js';
import { audioFixture, videoFixture } from '../harness/fixtures.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { waitTileColor, waitTileTone } from '../harness/tileMedia.js';
import { waitFor } from '../harness/util.js';

const SECRET = 'cluster-e2e-secret';
/** Short, so the takeover is quick to test; heartbeats every second. */
const LEASE_S = 3;
const ROOM = 'standup';

interface RoomHooks {
  rtcRoom: {
    id?: string;
    signalingUrl?: string;
    timing?: { start: number; redirects: number[]; joined?: number };
    peers(): Array<{ id: string; name: string; role: string }>;
  };
}

interface Server {
  cli: CliProcess;
  url: string;
  ws: string;
}

interface Person {
  name: string;
  color: string;
  freq: number;
  p: Participant;
  page: Page;
}

let redis: RedisServer;
let out: string;
let a: Server;
let b: Server;
const people: Participant[] = [];

async function serve(): Promise<Server> {
  const cli = new CliProcess(
    ['serve', '--port', '0', '--out', out, '--redis', redis.url, '--room-lease', String(LEASE_S), '--secret', SECRET, '--log-level', 'info'],
  );
  const line = await cli.waitForLine(/^rtc-record server listening on /, 30_000);
  const url = line.replace(/^rtc-record server listening on /, '');
  await cli.waitForLine(/^rooms shared through Redis: this server is /);
  return { cli, url, ws: `${url.replace(/^http/, 'ws')}/ws` };
}

async function person(name: string, color: string, freq: number): Promise<Person> {
  const p = await launchParticipant({
    name,
    video: await videoFixture({ kind: 'color', color, width: 320, height: 240, fps: 15, seconds: 1 }),
    audio: await audioFixture({ freq, seconds: 2 }),
  });
  people.push(p);
  return { name, color, freq, p, page: p.page };
}

const token = mintToken(SECRET, { room: ROOM, scopes: ['join', 'view'] });
const adminToken = mintToken(SECRET, { room: '*', scopes: ['view'] });

async function open(who: Person, server: Server): Promise<void> {
  await who.page.goto(`${server.url}/room/${ROOM}?name=${who.name}&autojoin=1&token=${encodeURIComponent(token)}`);
}

const hooks = (who: Person) => who.page.evaluate(() => {
  const r = (window as unknown as RoomHooks).rtcRoom;
  return { id: r.id, signalingUrl: r.signalingUrl, timing: r.timing, peers: r.peers() };
});

async function joined(who: Person, timeoutMs = 20_000): Promise<Awaited<ReturnType<typeof hooks>>> {
  return waitFor(async () => {
    const h = await hooks(who);
    return h.id ? h : undefined;
  }, { timeoutMs, description: `${who.name} joined` });
}

async function peerId(viewer: Person, name: string): Promise<string> {
  return waitFor(async () => (await hooks(viewer)).peers.find((p) => p.name === name)?.id, { timeoutMs: 15_000, description: `${viewer.name} sees ${name}` });
}

/** Each sees and hears every other one: the right colour on its tile and the right tone from it. */
async function expectSeeAndHear(group: Person[]): Promise<void> {
  for (const viewer of group) {
    for (const other of group.filter((o) => o !== viewer)) {
      const id = await peerId(viewer, other.name);
      await waitTileColor(viewer.page, id, other.color);
      await waitTileTone(viewer.page, id, other.freq);
    }
  }
}

async function apiRooms(server: Server): Promise<Array<{ room: string; server: string; participants: Array<{ name: string; role: string }> }>> {
  const res = await fetch(`${server.url}/api/rooms`, { headers: { authorization: `Bearer ${adminToken}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { rooms: Awaited<ReturnType<typeof apiRooms>>; incomplete?: string };
  expect(body.incomplete).toBeUndefined();
  return body.rooms;
}

const participantNames = (room: { participants: Array<{ name: string; role: string }> }) =>
  room.participants.filter((p) => p.role === 'participant').map((p) => p.name).sort();

beforeAll(async () => {
  redis = await startRedis();
  out = await mkdtemp(join(tmpdir(), 'rtc-record-cluster-'));
  [a, b] = await Promise.all([serve(), serve()]);
}, 90_000);

afterAll(async () => {
  await Promise.all(people.map((p) => p.close()));
  for (const s of [a, b]) {
    if (!s) continue;
    s.cli.kill('SIGKILL');
    await s.cli.exited;
  }
  await redis?.stop();
  await rm(out, { recursive: true, force: true });
});

describe('rooms across servers', () => {
  let ann: Person;
  let bob: Person;
  let carol: Person;

  it('a participant opening the room on another server is sent to its owner: both in one room, seeing and hearing each other', async () => {
    [ann, bob] = await Promise.all([person('ann', '#ff0000', 440), person('bob', '#00ff00', 620)]);
    await open(ann, a);
    const annJoined = await joined(ann);
    expect(annJoined.signalingUrl).toBe(a.ws);
    expect(annJoined.timing!.redirects).toEqual([]);

    await open(bob, b); // the page comes from B; its signaling and media must go to A
    const bobJoined = await joined(bob);
    expect(bobJoined.signalingUrl).toBe(a.ws);
    expect(bobJoined.timing!.redirects).toHaveLength(1);

    const direct = annJoined.timing!.joined! - annJoined.timing!.start;
    const viaB = bobJoined.timing!.joined! - bobJoined.timing!.start;
    const toRedirect = bobJoined.timing!.redirects[0]! - bobJoined.timing!.start;
    console.log(`join: direct ${direct.toFixed(0)} ms; redirected ${viaB.toFixed(0)} ms (redirect answered after ${toRedirect.toFixed(0)} ms)`);

    await expectSeeAndHear([ann, bob]);
    expect((await hooks(ann)).peers.filter((p) => p.role === 'participant').map((p) => p.name)).toEqual(['bob']);

    // Both servers list the room once, on A, with both participants (B reads A's listing from Redis).
    for (const s of [a, b]) {
      await waitFor(async () => {
        const rooms = await apiRooms(s);
        return rooms.length === 1 && participantNames(rooms[0]!).join() === 'ann,bob';
      }, { timeoutMs: 5000, description: `/api/rooms on ${s.url} lists ${ROOM} with ann and bob` });
      const [room] = await apiRooms(s);
      expect(room).toMatchObject({ room: ROOM, server: a.url });
    }
    expect(ann.p.consoleErrors.filter((e) => !/favicon/.test(e))).toEqual([]);
    expect(bob.p.consoleErrors.filter((e) => !/favicon/.test(e))).toEqual([]);
  });

  it('when the owner dies, a join on the other server takes the room over once its lease ran out', async () => {
    carol = await person('carol', '#0000ff', 830);
    await ann.p.close(); // its page came from A

    a.cli.kill('SIGKILL'); // no clean shutdown: A's claim stays in Redis until its lease runs out
    const killedAt = Date.now();
    await a.cli.exited;
    await open(carol, b);
    const carolJoined = await joined(carol, 30_000);
    const took = Date.now() - killedAt;
    console.log(`takeover: carol joined on B ${took} ms after A was killed (lease ${LEASE_S} s), after ${carolJoined.timing!.redirects.length} redirect(s) to the dead owner`);
    expect(carolJoined.signalingUrl).toBe(b.ws);
    // Sent to the dead A first (its claim was still valid), then placed on B once it ran out: not before, not much after.
    expect(carolJoined.timing!.redirects.length).toBeGreaterThanOrEqual(1);
    expect(took).toBeGreaterThan((LEASE_S * 1000 * 2) / 3 - 500);
    expect(took).toBeLessThan(LEASE_S * 1000 + 4000);

    // Bob (on A) lost his connection; joining again from his page (served by B) puts him with carol on B.
    await waitFor(async () => (await bob.page.getByTestId('status').textContent()) === 'disconnected', { timeoutMs: 10_000 });
    await bob.page.getByTestId('join').click();
    await waitFor(async () => (await hooks(bob)).signalingUrl === b.ws && (await hooks(bob)).id !== undefined, { timeoutMs: 15_000, description: 'bob rejoined on B' });
    await expectSeeAndHear([bob, carol]);

    await waitFor(async () => {
      const rooms = await apiRooms(b);
      return rooms.length === 1 && rooms[0]!.server === b.url && participantNames(rooms[0]!).join() === 'bob,carol';
    }, { timeoutMs: 5000, description: `/api/rooms on B lists ${ROOM} on B with bob and carol` });

  });

  it('a room taken over while occupied (its owner lost its claim): the members are moved to the new owner and meet again there', async () => {
    const c = await serve();
    // What C does once B's claim has run out while B could not reach Redis (partitions cannot be made on loopback).
    const admin = new Redis(redis.url);
    try {
      await admin.set(`rtc-record:room:${ROOM}`, c.url, 'PX', LEASE_S * 1000);
      const movedAt = Date.now();
      for (const who of [bob, carol]) {
        await waitFor(async () => {
          const h = await hooks(who);
          return h.signalingUrl === c.ws && h.id !== undefined;
        }, { timeoutMs: 15_000, description: `${who.name} moved to C` });
      }
      console.log(`moved: both pages in the room on C ${Date.now() - movedAt} ms after C took it over`);
      await expectSeeAndHear([bob, carol]);
      expect(b.cli.stderr.join('\n')).toMatch(/room is now owned by another server/);
      await waitFor(async () => {
        const rooms = await apiRooms(b);
        return rooms.length === 1 && rooms[0]!.server === c.url && participantNames(rooms[0]!).join() === 'bob,carol';
      }, { timeoutMs: 5000, description: `/api/rooms on B lists ${ROOM} on C with bob and carol` });

      // Everyone leaves: C releases the room at once, not when its lease runs out.
      await Promise.all([bob.p.close(), carol.p.close()]);
      await waitFor(async () => (await apiRooms(c)).length === 0, { timeoutMs: 15_000, description: 'room closed on C once empty' });
      const emptyAt = Date.now();
      await waitFor(async () => (await admin.exists(`rtc-record:room:${ROOM}`)) === 0, { timeoutMs: 10_000, description: 'claim released' });
      expect(Date.now() - emptyAt).toBeLessThan(1000);
    } finally {
      admin.disconnect();
      c.cli.kill('SIGKILL');
      await c.cli.exited;
    }
  });

  it('Redis away: a page opening a new room waits for the registry and joins once Redis is back', async () => {
    const dan = await person('dan', '#ffff00', 1150);
    await redis.kill();
    try {
      await dan.page.goto(`${b.url}/room/later?name=dan&autojoin=1&token=${encodeURIComponent(mintToken(SECRET, { room: 'later', scopes: ['join'] }))}`);
      await waitFor(async () => (await dan.page.getByTestId('status').textContent()) === 'waiting for the room registry', { timeoutMs: 15_000, description: 'dan waits' });
      expect((await hooks(dan)).id).toBeUndefined();
    } finally {
      await redis.start();
    }
    const h = await joined(dan, 15_000);
    expect(h.signalingUrl).toBe(b.ws);
    expect(await dan.page.getByTestId('error').isHidden()).toBe(true);
  });
});
