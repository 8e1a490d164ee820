// --secret: signed tokens for joining rooms and controlling recordings (401 without/with a bad token, 403 with a token
// for another room or scope); `rtc-record token` mints them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, verifyToken } from '../../src/http/auth.js';
import { startServer } from '../../src/http/HttpServer.js';
import type { RunningServer } from '../../src/http/HttpServerTypes.js';
import { TestClient } from '../signaling/wsClient.js';
import { fakeRecording, type FakeRecording } from './fakeRecording.js';

const SECRET = 'test-secret';
const BIN = fileURLToPath(new URL('../../bin/rtc-record.js', import.meta.url));

describe('tokens', () => {
  it('verify what they mint', () => {
    const t = mintToken(SECRET, { room: 'demo', scopes: ['join'], ttlSeconds: 60 });
    expect(verifyToken(SECRET, t)).toMatchObject({ room: 'demo', scopes: ['join'] });
  });

  it('refuse tampering, another secret, expiry and garbage', () => {
    const t = mintToken(SECRET, { room: 'demo', scopes: ['join'] });
    const [v, body, sig] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ r: '*', s: ['join', 'record', 'view', 'delete'], e: 9e9 })).toString('base64url');
    expect(() => verifyToken(SECRET, `${v}.${forged}.${sig}`)).toThrow(/signature/);
    expect(() => verifyToken('other', t)).toThrow(/signature/);
    expect(() => verifyToken(SECRET, `${v}.${body}.${sig}x`)).toThrow(/signature/);
    const old = mintToken(SECRET, { room: 'demo', ttlSeconds: 10, now: Date.now() - 60_000 });
    expect(() => verifyToken(SECRET, old)).toThrow(/expired/);
    for (const junk of ['', 'v1', 'v1..', 'v2.a.b', 'x'.repeat(5000)]) expect(() => verifyToken(SECRET, junk)).toThrow();
  });

  it('`rtc-record token` prints one the server accepts', () => {
    const out = execFileSync(process.execPath, [BIN, 'token', '--room', 'demo', '--secret', SECRET, '--scope', 'join,view', '--ttl', '2h'], { encoding: 'utf8' }).trim();
    const claims = verifyToken(SECRET, out);
    expect(claims).toMatchObject({ room: 'demo', scopes: ['join', 'view'] });
    expect(claims.exp * 1000 - Date.now()).toBeGreaterThan(7100_000);
  });
});

describe('a server with --secret', () => {
  let server: RunningServer;
  let rec: FakeRecording;
  const token = (room: string, scopes?: Array<'join' | 'record' | 'view' | 'delete'>) => mintToken(SECRET, { room, scopes });
  const api = (path: string, t?: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, { ...init, headers: { ...(t ? { authorization: `Bearer ${t}` } : {}), ...(init.headers ?? {}) } });

  beforeAll(async () => {
    rec = fakeRecording({ root: mkdtempSync(join(tmpdir(), 'rtc-auth-')) });
    server = await startServer({ port: 0, secret: SECRET, recordings: { outputRoot: rec.root, recover: false, composite: false } });
  });
  afterAll(() => server.close());

  it('401 without a token or with a bad one, on every recordings endpoint and /metrics', async () => {
    for (const t of [undefined, 'v1.bad.token', mintToken('wrong-secret', { room: '*' })]) {
      for (const [method, path] of [
        ['GET', '/api/recordings'],
        ['GET', `/api/recordings/${rec.id}`],
        ['DELETE', `/api/recordings/${rec.id}`],
        ['POST', `/api/recordings/${rec.id}/stop`],
        ['GET', `/recordings/${rec.id}/files/manifest.json`],
        ['GET', '/metrics'],
        ['GET', '/api/rooms'],
      ] as const) {
        const res = await api(path, t, { method });
        expect(res.status, `${method} ${path} with ${t}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
      const start = await api('/api/recordings', t, { method: 'POST', body: JSON.stringify({ room: 'demo' }) });
      expect(start.status).toBe(401);
    }
  });

  it('403 with a valid token for another room or without the scope', async () => {
    const other = token('other');
    expect((await api(`/api/recordings/${rec.id}`, other)).status).toBe(403);
    expect((await api(`/recordings/${rec.id}/files/manifest.json`, other)).status).toBe(403);
    expect((await api(`/api/recordings/${rec.id}`, other, { method: 'DELETE' })).status).toBe(403);
    expect((await api('/api/recordings', other, { method: 'POST', body: JSON.stringify({ room: 'demo' }) })).status).toBe(403);
    const viewOnly = token('demo', ['view']);
    expect((await api('/api/recordings', viewOnly, { method: 'POST', body: JSON.stringify({ room: 'demo' }) })).status).toBe(403);
    expect((await api(`/api/recordings/${rec.id}`, viewOnly, { method: 'DELETE' })).status).toBe(403);
    // A room token is not enough for metrics (they cover every room).
    expect((await api('/metrics', token('demo'))).status).toBe(403);
  });

  it('a room token lists that room only; the right token reads, downloads (?token=) and sees metrics', async () => {
    const list = async (t: string) => ((await (await api('/api/recordings', t)).json()) as { recordings: Array<{ id: string }> }).recordings.map((r) => r.id);
    expect(await list(token('other'))).toEqual([]);
    expect(await list(token('demo', ['view']))).toEqual([rec.id]);
    expect(await list(token('*', ['view']))).toEqual([rec.id]);
    expect((await api(`/api/recordings/${rec.id}`, token('demo', ['view']))).status).toBe(200);
    const dl = await fetch(`${server.url}/recordings/${rec.id}/files/tracks/Alice-a1-0.webm?token=${token('demo', ['view'])}`);
    expect(dl.status).toBe(200);
    await dl.arrayBuffer();
    expect((await api('/metrics', token('*', ['view']))).status).toBe(200);
  });

  it('/api/session tells a page what its token allows', async () => {
    const s = (await (await api('/api/session')).json()) as Record<string, unknown>;
    expect(s).toMatchObject({ auth: true, recordings: true, scopes: [] });
    expect(s.tokenError).toMatch(/token is required/);
    const s2 = (await (await fetch(`${server.url}/api/session?token=${token('demo', ['join', 'record'])}`)).json()) as Record<string, unknown>;
    expect(s2).toMatchObject({ auth: true, room: 'demo', scopes: ['join', 'record'] });
  });

  it('joining a room needs a token for that room (join; record for the recorder role)', async () => {
    const attempt = async (t: string | undefined, room: string, role?: string) => {
      const c = await TestClient.connect(`${server.wsUrl}/ws${t ? `?token=${t}` : ''}`);
      c.send({ type: 'join', room, name: 'Alice', ...(role ? { role } : {}) });
      const msg = await c.next((m) => m.type === 'joined' || m.type === 'error');
      c.ws.close();
      return msg.type === 'joined' ? 'joined' : msg.code;
    };
    expect(await attempt(undefined, 'demo')).toBe('UNAUTHORIZED');
    expect(await attempt('v1.x.y', 'demo')).toBe('UNAUTHORIZED');
    expect(await attempt(token('other'), 'demo')).toBe('FORBIDDEN');
    expect(await attempt(token('demo', ['view']), 'demo')).toBe('FORBIDDEN');
    expect(await attempt(token('demo', ['join']), 'demo')).toBe('joined');
    expect(await attempt(token('demo', ['join']), 'demo', 'recorder')).toBe('FORBIDDEN');
    expect(await attempt(token('*'), 'anything')).toBe('joined');
    // The lecture's seed pages (room default) too.
    const seed = await TestClient.connect(`${server.wsUrl}/`);
    seed.send({ type: 'sender' });
    expect((await seed.next((m) => m.type === 'error')).code).toBe('UNAUTHORIZED');
    seed.ws.close();
  });

  it('a recording started through the API joins with the server\'s own token', async () => {
    const t = token('demo');
    const res = await api('/api/recordings', t, { method: 'POST', body: JSON.stringify({ room: 'live' }) });
    expect(res.status).toBe(403);
    const ok = await api('/api/recordings', token('live'), { method: 'POST', body: JSON.stringify({ room: 'live' }), headers: { 'content-type': 'application/json' } });
    expect(ok.status).toBe(201);
    const { id } = (await ok.json()) as { id: string };
    const stopped = await api(`/api/recordings/${id}/stop`, token('live'), { method: 'POST' });
    expect(stopped.status).toBe(200);
    expect(((await stopped.json()) as { state: string }).state).toBe('done');
  });
});
