import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import type { RunningServer } from '../../src/http/HttpServerTypes.js';
import { TestClient } from './wsClient.js';

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n' };
const CANDIDATE = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

let server: RunningServer;
const clients: TestClient[] = [];
async function client(): Promise<TestClient> {
  const c = await TestClient.connect(server.wsUrl + '/ws');
  clients.push(c);
  return c;
}

beforeAll(async () => {
  // Mesh rooms: the room protocol between peers as such (SFU rooms: see "SFU rooms" below).
  server = await startServer({ port: 0, iceServers: [{ urls: 'stun:127.0.0.1:3478' }], defaultRoomMode: 'p2p' });
});
afterAll(async () => {
  clients.forEach((c) => c.close());
  await server.close();
});

describe('SFU rooms', () => {
  it('a join may open an SFU room: joined says so and lists the sfu peer; the room closes when the last participant leaves', async () => {
    const a = await client();
    const joinedA = await a.join('s1', 'Alice', { mode: 'sfu' });
    expect(joinedA.mode).toBe('sfu');
    expect(joinedA.peers).toEqual([{ id: expect.any(String), name: 'sfu', role: 'sfu', joinedAt: expect.any(Number) }]);
    // A later wish does not change the room's mode.
    const b = await client();
    expect((await b.join('s1', 'Bob', { mode: 'p2p' })).mode).toBe('sfu');
    const room = server.signaling.listRooms().find((r) => r.room === 's1')!;
    expect(room.mode).toBe('sfu');
    expect(room.participants.map((p) => p.name).sort()).toEqual(['Alice', 'Bob']);
    expect(server.sfu.room('s1')).toBeDefined();
    a.send({ type: 'leave' });
    b.send({ type: 'leave' });
    await b.type('left');
    await new Promise((r) => setTimeout(r, 50));
    expect(server.signaling.listRooms().some((r) => r.room === 's1')).toBe(false);
    expect(server.sfu.room('s1')).toBeUndefined();
  });

  it('the SFU refuses offers from peers that do not publish and ignores malformed SDP without leaving the room', async () => {
    const a = await client();
    const joined = await a.join('s2', 'Alice', { mode: 'sfu' });
    const sfu = joined.peers.find((p: { role: string }) => p.role === 'sfu')!;
    a.send({ type: 'createOffer', to: sfu.id, session: 'x', sdp: { type: 'offer', sdp: 'v=0\r\ngarbage' } });
    await new Promise((r) => setTimeout(r, 200));
    const b = await client();
    expect((await b.join('s2', 'Bob')).peers.map((p: { name: string }) => p.name).sort()).toEqual(['Alice', 'sfu']);
  });

  it('tileSize goes to the sfu peer only; malformed ones are refused with the field at fault', async () => {
    const outside = await client();
    outside.send({ type: 'tileSize', to: 'abc', mid: '1', width: 80, height: 60 });
    expect(await outside.type('error')).toMatchObject({ code: 'NOT_IN_ROOM', ref: 'tileSize' });

    const a = await client();
    const joined = await a.join('s3', 'Alice', { mode: 'sfu' });
    const sfu = joined.peers.find((p: { role: string }) => p.role === 'sfu')!;
    const b = await client();
    const bob = (await b.join('s3', 'Bob')).id as string;
    const bad: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ to: sfu.id, mid: '1', width: -1, height: 60 }, 'INVALID_FIELD', /^tileSize: width: /],
      [{ to: sfu.id, mid: '1', width: 80.5, height: 60 }, 'INVALID_FIELD', /^tileSize: width: /],
      [{ to: sfu.id, mid: '1', width: 80, height: 20_000 }, 'INVALID_FIELD', /^tileSize: height: /],
      [{ to: sfu.id, mid: '1', width: '80', height: 60 }, 'INVALID_FIELD', /^tileSize: width: /],
      [{ to: sfu.id, width: 80, height: 60 }, 'INVALID_FIELD', /^tileSize: mid: /],
      [{ to: sfu.id, mid: '<1>', width: 80, height: 60 }, 'INVALID_FIELD', /^tileSize: mid: mid must be a media section id/],
      [{ mid: '1', width: 80, height: 60 }, 'INVALID_FIELD', /^tileSize: to: /],
      [{ to: bob, mid: '1', width: 80, height: 60 }, 'INVALID_FIELD', /"to" must be the room's sfu peer/],
      [{ to: 'nobody', mid: '1', width: 80, height: 60 }, 'UNKNOWN_PEER', /no peer nobody in room s3/],
    ];
    for (const [fields, code, message] of bad) {
      a.send({ type: 'tileSize', ...fields });
      const err = await a.type('error');
      expect(err, JSON.stringify(fields)).toMatchObject({ code, ref: 'tileSize' });
      expect(err.message, JSON.stringify(fields)).toMatch(message);
    }
    // A well-formed one for a section nothing is forwarded on yet: accepted, no error, Bob is not bothered.
    a.send({ type: 'tileSize', to: sfu.id, mid: '7', width: 640, height: 480 });
    a.send({ type: 'tileSize', to: sfu.id, mid: '7', width: 0, height: 0 });
    await new Promise((r) => setTimeout(r, 200));
    expect(a.messages.filter((m) => m.type === 'error'), 'errors after the refused ones').toEqual([]);
    expect(b.messages.some((m) => m.type === 'tileSize')).toBe(false);
  });
});

describe('room protocol', () => {
  it('joins, lists peers, announces joins/leaves and hands out ICE servers', async () => {
    const a = await client();
    const joinedA = await a.join('r1', 'Alice');
    expect(joinedA).toMatchObject({ room: 'r1', peers: [], iceServers: [{ urls: 'stun:127.0.0.1:3478' }], serverTime: expect.any(Number) });
    const b = await client();
    const joinedB = await b.join('r1', 'Bob');
    // joinedAt (server clock) lets pages show how long a recorder has been recording.
    expect(joinedB.peers).toEqual([{ id: joinedA.id, name: 'Alice', role: 'participant', joinedAt: expect.any(Number) }]);
    expect((await a.type('peerJoined')).peer).toEqual({ id: joinedB.id, name: 'Bob', role: 'participant', joinedAt: expect.any(Number) });
    expect(joinedB.peers[0].joinedAt).toBeLessThanOrEqual(joinedB.serverTime);
    b.send({ type: 'leave' });
    expect(await b.type('left')).toEqual({ type: 'left', room: 'r1' });
    expect(await a.type('peerLeft')).toEqual({ type: 'peerLeft', id: joinedB.id });
    // Rejoin gets a fresh id.
    const rejoined = await b.join('r1', 'Bob');
    expect(rejoined.id).not.toBe(joinedB.id);
    expect((await a.type('peerJoined')).peer.id).toBe(rejoined.id);
  });

  it('relays offer/answer/candidates with `from` and rejects unknown `to`', async () => {
    const a = await client();
    const b = await client();
    const ja = await a.join('r2', 'A');
    const jb = await b.join('r2', 'B');
    a.send({ type: 'createOffer', to: jb.id, session: 's1', sdp: OFFER });
    expect(await b.type('createOffer')).toEqual({ type: 'createOffer', from: ja.id, session: 's1', sdp: OFFER });
    b.send({ type: 'createAnswer', to: ja.id, session: 's1', sdp: ANSWER });
    expect(await a.type('createAnswer')).toEqual({ type: 'createAnswer', from: jb.id, session: 's1', sdp: ANSWER });
    b.send({ type: 'iceCandidate', to: ja.id, session: 's1', candidate: CANDIDATE });
    expect(await a.type('iceCandidate')).toEqual({ type: 'iceCandidate', from: jb.id, session: 's1', candidate: CANDIDATE });
    a.send({ type: 'createOffer', to: 'nobody', sdp: OFFER });
    expect(await a.type('error')).toMatchObject({ code: 'UNKNOWN_PEER' });
    a.send({ type: 'createOffer', sdp: OFFER });
    expect(await a.type('error')).toMatchObject({ code: 'INVALID_FIELD' });
  });

  it('keeps rooms isolated', async () => {
    const a = await client();
    const b = await client();
    const ja = await a.join('iso-a', 'A');
    await b.join('iso-b', 'B');
    b.send({ type: 'createOffer', to: ja.id, sdp: OFFER });
    expect(await b.type('error')).toMatchObject({ code: 'UNKNOWN_PEER' });
    await new Promise((r) => setTimeout(r, 200));
    expect(a.messages.filter((m) => m.type !== 'error')).toEqual([]);
    const rooms = server.signaling.listRooms().filter((r) => r.room.startsWith('iso-'));
    expect(rooms.map((r) => [r.room, r.participants.map((p) => p.name)])).toEqual([['iso-a', ['A']], ['iso-b', ['B']]]);
  });

  it('answers every kind of malformed message with a coded error and keeps serving', async () => {
    const c = await client();
    const bad: Array<[unknown, string]> = [
      ['not json', 'BAD_JSON'],
      ['{"type":', 'BAD_JSON'],
      ['[]', 'INVALID_FIELD'],
      ['null', 'INVALID_FIELD'],
      ['42', 'INVALID_FIELD'],
      [{ type: 'nope' }, 'UNKNOWN_TYPE'],
      [{ type: 42 }, 'UNKNOWN_TYPE'],
      [{}, 'UNKNOWN_TYPE'],
      [{ type: 'join' }, 'INVALID_FIELD'],
      [{ type: 'join', room: '../etc', name: 'x' }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'a'.repeat(65), name: 'x' }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'ok', name: '<script>' }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'ok', name: 'x', role: 'admin' }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: 'x', sdp: 'string' }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: 'x', sdp: { type: 'answer', sdp: 'v=0' } }, 'INVALID_FIELD'],
      [{ type: 'iceCandidate', to: 'x', candidate: { candidate: 5 } }, 'INVALID_FIELD'],
      [{ type: 'iceCandidate', to: '../../x', candidate: null }, 'INVALID_FIELD'],
      [{ type: 'createAnswer', to: 'x', sdp: ANSWER }, 'NOT_IN_ROOM'],
      [{ type: 'leave' }, 'NOT_IN_ROOM'],
      ['x'.repeat(70_000), 'MESSAGE_TOO_LARGE'],
    ];
    for (let round = 0; round < 15; round++) {
      for (const [msg] of bad) c.send(msg);
    }
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    for (let round = 0; round < 15; round++) {
      for (const [, code] of bad) expect((await c.type('error')).code).toBe(code);
    }
    expect((await c.type('error')).code).toBe('BAD_JSON');
    // The same socket still works, and so do others.
    expect((await c.join('after-barrage', 'Survivor')).room).toBe('after-barrage');
    const d = await client();
    expect((await d.join('after-barrage', 'Other')).peers).toHaveLength(1);
    const res = await fetch(server.url + '/healthz');
    expect(res.status).toBe(200);
  });

  it('refuses a second join without leave', async () => {
    const c = await client();
    await c.join('twice', 'A');
    c.send({ type: 'join', room: 'twice', name: 'A' });
    expect(await c.type('error')).toMatchObject({ code: 'ALREADY_JOINED', ref: 'join' });
  });
});

describe('seed protocol', () => {
  it('pairs the lecture sender and receiver with exactly the lecture message shapes', async () => {
    const receiver = await client();
    const sender = await client();
    receiver.send({ type: 'receiver' });
    sender.send({ type: 'sender' });
    await new Promise((r) => setTimeout(r, 100));
    sender.send({ type: 'createOffer', sdp: OFFER });
    expect(await receiver.type('createOffer')).toEqual({ type: 'createOffer', sdp: OFFER });
    receiver.send({ type: 'createAnswer', sdp: ANSWER });
    expect(await sender.type('createAnswer')).toEqual({ type: 'createAnswer', sdp: ANSWER });
    sender.send({ type: 'iceCandidate', candidate: CANDIDATE });
    expect(await receiver.type('iceCandidate')).toEqual({ type: 'iceCandidate', candidate: CANDIDATE });
    receiver.send({ type: 'iceCandidate', candidate: CANDIDATE });
    expect(await sender.type('iceCandidate')).toEqual({ type: 'iceCandidate', candidate: CANDIDATE });
    receiver.close();
    sender.close();
    await new Promise((r) => setTimeout(r, 100));
  });

  it('hands a waiting seed offer to a recorder that joins room default later', async () => {
    const sender = await client();
    sender.send({ type: 'sender' });
    sender.send({ type: 'createOffer', sdp: OFFER });
    sender.send({ type: 'iceCandidate', candidate: CANDIDATE });
    await new Promise((r) => setTimeout(r, 100));
    const recorder = await client();
    const joined = await recorder.join('default', 'recorder', 'recorder');
    const seedPeer = joined.peers.find((p: any) => p.role === 'seed-sender');
    expect(seedPeer).toBeDefined();
    expect(await recorder.type('createOffer')).toEqual({ type: 'createOffer', sdp: OFFER, from: seedPeer.id, session: 'seed' });
    expect(await recorder.type('iceCandidate')).toEqual({ type: 'iceCandidate', candidate: CANDIDATE, from: seedPeer.id, session: 'seed' });
    recorder.send({ type: 'createAnswer', to: seedPeer.id, session: 'seed', sdp: ANSWER });
    expect(await sender.type('createAnswer')).toEqual({ type: 'createAnswer', sdp: ANSWER });
    recorder.send({ type: 'iceCandidate', to: seedPeer.id, session: 'seed', candidate: CANDIDATE });
    expect(await sender.type('iceCandidate')).toEqual({ type: 'iceCandidate', candidate: CANDIDATE });
    sender.close();
    recorder.close();
  });
});
