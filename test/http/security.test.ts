// Nothing outside the recordings root can be read or deleted, whatever the path looks like; ids and room names are
// validated; request sizes are limited.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import type { RunningServer } from '../../src/http/HttpServerTypes.js';
import { newRecordingId } from '../../src/recording/recordingId.js';
import { fakeRecording, type FakeRecording } from './fakeRecording.js';

/** A request with the path exactly as given (fetch would normalize `..` away before sending). */
function raw(base: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('path traversal and confinement', () => {
  let server: RunningServer;
  let rec: FakeRecording;
  let outside: string;
  let outsideId: string;
  let linkedId: string;

  beforeAll(async () => {
    rec = fakeRecording();
    // A recording-shaped directory outside the root, reachable only through symlinks planted inside it.
    outside = mkdtempSync(join(tmpdir(), 'rtc-outside-'));
    outsideId = newRecordingId();
    mkdirSync(join(outside, outsideId, 'tracks'), { recursive: true });
    writeFileSync(join(outside, outsideId, 'manifest.json'), JSON.stringify({ id: outsideId, room: 'evil', state: 'done', participants: [], tracks: [], startedAt: new Date().toISOString() }));
    writeFileSync(join(outside, outsideId, 'tracks', 'secret.webm'), 'SECRET');
    symlinkSync(outside, join(rec.root, 'evil')); // a room dir leading out
    linkedId = newRecordingId();
    symlinkSync(join(outside, outsideId), join(rec.root, rec.room, linkedId)); // a recording dir leading out
    symlinkSync('/etc/passwd', join(rec.dir, 'tracks', 'passwd.webm')); // a track file leading out
    symlinkSync(join(rec.dir, 'tracks', 'Alice-a1-0.webm'), join(rec.dir, 'tracks', 'alias.webm')); // inside, still a symlink
    server = await startServer({ port: 0, recordings: { outputRoot: rec.root, recover: false, composite: false } });
  });
  afterAll(() => server.close());

  const files = () => `/recordings/${rec.id}/files`;

  it('serves a real track file (control)', async () => {
    const res = await raw(server.url, 'GET', `${files()}/tracks/Alice-a1-0.webm`);
    expect(res.status).toBe(200);
  });

  it.each([
    () => `${files()}/../../../../etc/passwd`,
    () => `${files()}/..%2F..%2F..%2F..%2Fetc%2Fpasswd`,
    () => `${files()}/%2e%2e/%2e%2e/%2e%2e/etc/passwd`,
    () => `${files()}/%2Fetc%2Fpasswd`,
    () => `${files()}//etc/passwd`,
    () => `${files()}/tracks/..%2F..%2F..%2F..%2Fetc%2Fpasswd`,
    () => `${files()}/tracks/..%5C..%5C..%5Cetc%5Cpasswd.webm`,
    () => `${files()}/tracks/x%00.webm`,
    () => `${files()}/tracks/%E0%A4%A.webm`,
    () => `${files()}/tracks/passwd.webm`,
    () => `${files()}/tracks/alias.webm`,
    () => `${files()}/.owner.json`,
    () => `/recordings/..%2F..%2F..%2Fetc/files/passwd`,
    () => `/recordings/%2Fetc%2Fpasswd/files/manifest.json`,
    () => `/recordings/../../etc/passwd/files/manifest.json`,
    () => `/recordings/${outsideId}/files/tracks/secret.webm`,
    () => `/recordings/${linkedId}/files/tracks/secret.webm`,
    () => `/recordings/${linkedId}/files/manifest.json`,
    () => `/api/recordings/..%2F..%2Fetc%2Fpasswd`,
    () => `/api/recordings/${linkedId}`,
    () => `/static/..%2F..%2Fpackage.json`,
    () => `/static/../../package.json`,
  ])('GET %s → 4xx without leaking anything', async (path) => {
    const res = await raw(server.url, 'GET', path());
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body).not.toMatch(/root:x:0|SECRET|"name":\s*"rtc-record"/);
  });

  it('symlinked track files are refused (403), not served', async () => {
    expect((await raw(server.url, 'GET', `${files()}/tracks/passwd.webm`)).status).toBe(403);
    expect((await raw(server.url, 'GET', `${files()}/tracks/alias.webm`)).status).toBe(403);
  });

  it.each([
    () => `/api/recordings/..%2F..%2Fetc`,
    () => `/api/recordings/%2Ftmp`,
    () => `/api/recordings/${outsideId}`,
    () => `/api/recordings/${linkedId}`,
    () => `/api/recordings/${rec.id}/../../..`,
  ])('DELETE %s → 4xx and nothing outside the root is touched', async (path) => {
    const res = await raw(server.url, 'DELETE', path());
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(existsSync(join(outside, outsideId, 'tracks', 'secret.webm'))).toBe(true);
    expect(existsSync(join(rec.dir, 'manifest.json'))).toBe(true);
  });

  it('the list shows only real recordings inside the root', async () => {
    const { recordings } = (await (await fetch(`${server.url}/api/recordings`)).json()) as { recordings: Array<{ id: string; files: Array<{ path: string }> }> };
    expect(recordings.map((r) => r.id)).toEqual([rec.id]);
    // Symlinked files are not offered either.
    expect(recordings[0]!.files.map((f) => f.path).sort()).toEqual(['manifest.json', 'tracks/Alice-a1-0.webm']);
  });

  it('deleting a real recording removes exactly its directory (symlinks inside it are unlinked, not followed)', async () => {
    const other = fakeRecording({ root: rec.root, room: 'other' });
    symlinkSync(join(outside, outsideId), join(other.dir, 'tracks', 'link-out'));
    const res = await fetch(`${server.url}/api/recordings/${other.id}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(existsSync(other.dir)).toBe(false);
    expect(readdirSync(join(outside, outsideId, 'tracks'))).toEqual(['secret.webm']);
  });
});

describe('validation and size limits', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, recordings: { outputRoot: mkdtempSync(join(tmpdir(), 'rtc-lim-')), recover: false, composite: false } });
  });
  afterAll(() => server.close());

  const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${server.url}/api/recordings`, { method: 'POST', body, headers });

  it('room names are validated', async () => {
    for (const room of ['', '../x', 'a/b', 'x'.repeat(65), 'üml', 'a b']) {
      const res = await post(JSON.stringify({ room }));
      expect(res.status, room).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('BAD_ROOM_NAME');
    }
    expect((await fetch(`${server.url}/api/recordings?room=..%2Fx`)).status).toBe(400);
  });

  it('bodies: bad JSON, unknown fields, wrong types → 400; over 16 KiB → 413', async () => {
    expect((await post('{nope')).status).toBe(400);
    expect((await post('[1,2]')).status).toBe(400);
    expect((await post(JSON.stringify({ room: 'ok', evil: true }))).status).toBe(400);
    expect((await post(JSON.stringify({ room: 'ok', maxSpeakers: 99 }))).status).toBe(400);
    expect((await post(JSON.stringify({ room: 'ok', layout: 'mosaic' }))).status).toBe(400);
    const big = await post(JSON.stringify({ room: 'ok', pad: 'x'.repeat(20_000) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toBe('PAYLOAD_TOO_LARGE');
  });

  it('recording ids are validated', async () => {
    for (const id of ['nope', '20261126T011500123Z-K3X9QA', '20261126T011500123Z-k3x9qa-x', '..']) {
      const res = await fetch(`${server.url}/api/recordings/${encodeURIComponent(id)}`);
      expect(res.status, id).toBe(id === '..' ? 404 : 400);
    }
    expect((await fetch(`${server.url}/api/recordings/20261126T011500123Z-k3x9qa`)).status).toBe(404);
  });

  it('overlong URLs → 414; unknown methods → 405', async () => {
    expect((await fetch(`${server.url}/api/recordings?x=${'a'.repeat(5000)}`)).status).toBe(414);
    expect((await fetch(`${server.url}/api/recordings`, { method: 'PUT' })).status).toBe(405);
    expect((await fetch(`${server.url}/`, { method: 'POST' })).status).toBe(405);
  });
});
