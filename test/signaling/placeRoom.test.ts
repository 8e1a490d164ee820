// SignalingServer's placeRoom hook (rooms across servers; the Redis side is tested in test/cluster): a join that would
// open a room asks where it lives first, and is answered `joined`, `redirect` or the hook's error.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isRtcRecordError } from '../../src/errors.js';
import { SignalingClient } from '../../src/signaling/SignalingClient.js';
import { SignalingServer } from '../../src/signaling/SignalingServer.js';
import type { RoomPlacement, SignalingServerOptions } from '../../src/signaling/SignalingServerTypes.js';
import { TestClient } from './wsClient.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((fn) => fn()));

async function start(options: SignalingServerOptions): Promise<{ signaling: SignalingServer; url: string; client: () => Promise<TestClient> }> {
  const signaling = new SignalingServer(options);
  const http: Server = createServer();
  http.on('upgrade', (req, socket, head) => signaling.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`;
  const clients: TestClient[] = [];
  cleanups.push(() => {
    clients.forEach((c) => c.close());
    signaling.close();
    http.close();
  });
  return {
    signaling,
    url,
    client: async () => {
      const c = await TestClient.connect(url);
      clients.push(c);
      return c;
    },
  };
}

describe('placeRoom', () => {
  it('a room placed elsewhere answers redirect (not joined); a local one joins; an open room is not asked again', async () => {
    const asked: string[] = [];
    const { client, signaling } = await start({
      placeRoom: async (room): Promise<RoomPlacement> => {
        asked.push(room);
        await new Promise((r) => setTimeout(r, 20)); // Redis is a round trip away
        return room === 'far' ? { redirect: 'ws://10.0.0.2:8080/ws' } : { local: true };
      },
    });
    const a = await client();
    a.send({ type: 'join', room: 'far', name: 'Ann' });
    expect(await a.type('redirect')).toEqual({ type: 'redirect', room: 'far', url: 'ws://10.0.0.2:8080/ws' });
    expect(signaling.listRooms()).toEqual([]);
    // The same socket may then join a room that is here.
    const joined = await a.join('near', 'Ann');
    expect(joined.room).toBe('near');
    const b = await client();
    await b.join('near', 'Bob');
    expect(asked).toEqual(['far', 'near']);
    expect(signaling.listRooms().map((r) => r.participants.length)).toEqual([2]);
  });

  it('a second join while the first is being placed is refused; messages from a client gone meanwhile are dropped', async () => {
    let release!: (p: RoomPlacement) => void;
    const { client, signaling } = await start({ placeRoom: () => new Promise<RoomPlacement>((r) => (release = r)) });
    const a = await client();
    a.send({ type: 'join', room: 'slow', name: 'Ann' });
    await new Promise((r) => setTimeout(r, 50));
    a.send({ type: 'join', room: 'slow', name: 'Ann' });
    expect(await a.type('error')).toMatchObject({ code: 'ALREADY_JOINED', ref: 'join' });
    a.close();
    await new Promise((r) => setTimeout(r, 50));
    release({ local: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(signaling.listRooms()).toEqual([]);
  });

  it('a failing placement refuses the join with the error\'s code and message', async () => {
    const { client } = await start({
      placeRoom: () => Promise.reject(Object.assign(new Error('cannot place room x: Redis did not answer'), { code: 'REDIS_UNAVAILABLE' })),
    });
    const a = await client();
    a.send({ type: 'join', room: 'x', name: 'Ann' });
    expect(await a.type('error')).toEqual({ type: 'error', code: 'REDIS_UNAVAILABLE', message: 'cannot place room x: Redis did not answer', ref: 'join' });
  });

  it('the seed pages are never placed', async () => {
    const { client } = await start({ placeRoom: () => ({ redirect: 'ws://10.0.0.2:8080/ws' }) });
    const sender = await client();
    sender.send({ type: 'sender' });
    await new Promise((r) => setTimeout(r, 50));
    expect(sender.messages.filter((m) => m.type === 'redirect' || m.type === 'error')).toEqual([]);
  });

  it('redirectRoom moves every member to the new owner and closes the room here', async () => {
    const { client, signaling } = await start({ placeRoom: () => ({ local: true }) });
    const a = await client();
    const b = await client();
    await a.join('moving', 'Ann');
    await b.join('moving', 'Bob');
    expect(signaling.redirectRoom('moving', 'ws://10.0.0.3:8080/ws')).toBe(2);
    for (const c of [a, b]) expect(await c.type('redirect')).toEqual({ type: 'redirect', room: 'moving', url: 'ws://10.0.0.3:8080/ws' });
    expect(signaling.listRooms()).toEqual([]);
    expect(signaling.redirectRoom('moving', 'ws://10.0.0.3:8080/ws')).toBe(0);
  });

  it('SignalingClient (the recorder) follows a redirect to the owner, with its token, and joins there', async () => {
    const tokens = { owner: new Set<string | undefined>(), other: new Set<string | undefined>() };
    const owner = await start({ placeRoom: () => ({ local: true }), authorizeJoin: (token) => void tokens.owner.add(token) });
    const other = await start({ placeRoom: () => ({ redirect: owner.url }), authorizeJoin: (token) => void tokens.other.add(token) });
    const client = await SignalingClient.connect(`${other.url}?token=t0k3n`);
    cleanups.push(() => client.close());
    const joined = await client.join('moved', 'recorder', 'recorder');
    expect(joined.room).toBe('moved');
    expect(owner.signaling.listRooms().map((r) => [r.room, r.participants.map((p) => p.role)])).toEqual([['moved', ['recorder']]]);
    expect(other.signaling.listRooms()).toEqual([]);
    expect(tokens).toEqual({ owner: new Set(['t0k3n']), other: new Set(['t0k3n']) });
  });

  it('SignalingClient gives up on a redirect loop, and says so', async () => {
    let otherUrl = '';
    const a = await start({ placeRoom: () => ({ redirect: otherUrl }) });
    const b = await start({ placeRoom: () => ({ redirect: a.url }) });
    otherUrl = b.url;
    const client = await SignalingClient.connect(a.url);
    cleanups.push(() => client.close());
    const err = await client.join('ping-pong', 'recorder', 'recorder').catch((e: unknown) => e);
    expect(isRtcRecordError(err, 'SERVER_UNREACHABLE')).toBe(true);
    expect((err as Error).message).toMatch(/join ping-pong: too many redirects/);
  });
});
