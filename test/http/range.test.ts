// Downloads with HTTP Range: what players (seeking) and download managers (resuming) rely on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import type { RunningServer } from '../../src/http/HttpServerTypes.js';
import { parseRange } from '../../src/http/range.js';
import { fakeRecording, type FakeRecording } from './fakeRecording.js';

describe('parseRange', () => {
  const size = 1000;
  it.each([
    [undefined, { type: 'full' }],
    ['bytes=0-0', { type: 'partial', start: 0, end: 0 }],
    ['bytes=100-199', { type: 'partial', start: 100, end: 199 }],
    ['bytes=900-', { type: 'partial', start: 900, end: 999 }],
    ['bytes=900-5000', { type: 'partial', start: 900, end: 999 }],
    ['bytes=-100', { type: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { type: 'partial', start: 0, end: 999 }],
    ['bytes = 5-9', { type: 'partial', start: 5, end: 9 }],
    ['bytes=0-1,5-6', { type: 'full' }],
    ['items=0-5', { type: 'full' }],
    ['bytes=1000-', { type: 'unsatisfiable' }],
    ['bytes=5-2', { type: 'unsatisfiable' }],
    ['bytes=-0', { type: 'unsatisfiable' }],
    ['bytes=-', { type: 'unsatisfiable' }],
    ['bytes=abc', { type: 'unsatisfiable' }],
    ['bytes=1-2-3', { type: 'unsatisfiable' }],
    ['garbage', { type: 'unsatisfiable' }],
  ])('%s', (header, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it('nothing is satisfiable in an empty file', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ type: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ type: 'unsatisfiable' });
  });
});

describe('GET /recordings/:id/files/… with Range', () => {
  let server: RunningServer;
  let rec: FakeRecording;
  let url: string;

  beforeAll(async () => {
    rec = fakeRecording({ bytes: 100_000 });
    server = await startServer({ port: 0, recordings: { outputRoot: rec.root, recover: false } });
    url = `${server.url}/recordings/${rec.id}/files/tracks/Alice-a1-0.webm`;
  });
  afterAll(() => server.close());

  const get = (headers: Record<string, string> = {}, u = url, method = 'GET') => fetch(u, { headers, method });
  const bytes = async (res: Response) => Buffer.from(await res.arrayBuffer());

  it('without Range: 200, whole file, Accept-Ranges, Content-Disposition, validators', async () => {
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe('100000');
    expect(res.headers.get('content-type')).toBe('video/webm');
    expect(res.headers.get('content-disposition')).toBe(`inline; filename="demo-${rec.id}-Alice-a1-0.webm"`);
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect((await bytes(res)).equals(rec.track)).toBe(true);
  });

  it('?download=1 is an attachment', async () => {
    const res = await get({}, `${url}?download=1`);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="demo-${rec.id}-Alice-a1-0.webm"`);
    await res.arrayBuffer();
  });

  it('first byte', async () => {
    const res = await get({ range: 'bytes=0-0' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 0-0/100000');
    expect(res.headers.get('content-length')).toBe('1');
    expect([...(await bytes(res))]).toEqual([0]);
  });

  it('a middle slice has exactly those bytes', async () => {
    const res = await get({ range: 'bytes=50000-50999' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 50000-50999/100000');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect((await bytes(res)).equals(rec.track.subarray(50000, 51000))).toBe(true);
  });

  it('open-ended range (resuming a download)', async () => {
    const res = await get({ range: 'bytes=99990-' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 99990-99999/100000');
    expect((await bytes(res)).equals(rec.track.subarray(99990))).toBe(true);
  });

  it('suffix: the last N bytes', async () => {
    const res = await get({ range: 'bytes=-500' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 99500-99999/100000');
    expect((await bytes(res)).equals(rec.track.subarray(99500))).toBe(true);
  });

  it.each(['bytes=100000-', 'bytes=500-100', 'bytes=x-y', 'bytes=-0'])('invalid or unsatisfiable %s → 416 with the size', async (range) => {
    const res = await get({ range });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */100000');
    expect((await bytes(res)).length).toBe(0);
  });

  it('If-Range with a stale validator gets the whole file', async () => {
    const res = await get({ range: 'bytes=0-9', 'if-range': '"stale-etag"' });
    expect(res.status).toBe(200);
    expect((await bytes(res)).length).toBe(100_000);
    const etag = (await get({}, url, 'HEAD')).headers.get('etag')!;
    const ok = await get({ range: 'bytes=0-9', 'if-range': etag });
    expect(ok.status).toBe(206);
    expect((await bytes(ok)).length).toBe(10);
  });

  it('HEAD: headers only', async () => {
    const res = await get({ range: 'bytes=10-19' }, url, 'HEAD');
    expect(res.status).toBe(206);
    expect(res.headers.get('content-length')).toBe('10');
    expect((await bytes(res)).length).toBe(0);
  });
});
