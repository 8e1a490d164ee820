// The recordings service uploads what it finalizes; the API lists upload state and serves deleted files from the
// bucket (presigned redirect). Real S3-compatible server in process; recorders are fakes writing real files.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../../../src/http/HttpServer.js';
import type { RunningServer } from '../../../src/http/HttpServerTypes.js';
import { newRecordingId } from '../../../src/recording/recordingId.js';
import { RecordingService } from '../../../src/recording/RecordingService.js';
import { OWNER_FILE } from '../../../src/recording/recovery.js';
import { createRecordingDir } from '../../../src/recording/storage.js';
import type { RecordingSummary } from '../../../src/recording/RecordingServiceTypes.js';
import { readUploadState } from '../../../src/recording/upload/uploadState.js';
import { uploadRecording } from '../../../src/recording/upload/uploadRecording.js';
import { WebhookNotifier, type WebhookEvent } from '../../../src/recording/webhooks.js';
import type { UploadStateFile, UploadTarget } from '../../../src/recording/upload/UploadTypes.js';
import { useTestS3 } from '../../harness/s3Server.js';
import { waitFor } from '../../harness/util.js';
import { fakeRecording } from '../../http/fakeRecording.js';
import { fakeStarter, quietLogger, tempRoot } from '../fakes.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const s3 = useTestS3();

const target = (): UploadTarget => ({ bucket: s3.bucket, prefix: 'svc', endpoint: s3.endpoint, forcePathStyle: true, keyTemplate: '{room}/{id}/{file}' });

/** A local webhook receiver attached to `service`; returns the events received so far. */
async function webhookEvents(service: RecordingService): Promise<{ events: WebhookEvent[]; close: () => Promise<void> }> {
  const events: WebhookEvent[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      events.push(JSON.parse(body) as WebhookEvent);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const n = new WebhookNotifier({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, logger: quietLogger });
  n.attach(service);
  return { events, close: async () => (await n.close(2000), server.closeAllConnections(), await new Promise<void>((r) => server.close(() => r()))) };
}

async function until(dir: string, states: UploadStateFile['state'][], timeoutMs = 20_000): Promise<UploadStateFile> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = readUploadState(dir);
    if (s && states.includes(s.state)) return s;
    if (Date.now() > deadline) throw new Error(`upload state ${s?.state ?? 'none'}, waited for ${states.join('/')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('RecordingService with upload', () => {
  it('uploads a recording once it is finalized; the list shows it uploaded, its files in the bucket', async () => {
    const root = tempRoot();
    const fakes = fakeStarter();
    const service = new RecordingService({ outputRoot: root, serverUrl: 'ws://unused', logger: quietLogger, startRecorder: fakes.start, recoveryIntervalMs: 0, upload: { target: target(), retry: { tries: 2, baseDelayMs: 50 } } });
    const hook = await webhookEvents(service);
    const rec = await service.start('room1');
    const track = randomBytes(70_000);
    writeFileSync(join(rec.dir, 'tracks', 'Bob-b1-0.webm'), track);
    await service.stop(rec.id);
    const state = await until(rec.dir, ['uploaded', 'failed']);
    expect(state.error).toBeUndefined();
    expect(state.objects.map((o) => o.key)).toEqual([`svc/room1/${rec.id}/tracks/Bob-b1-0.webm`, `svc/room1/${rec.id}/manifest.json`]);
    expect(sha((await s3.get(`svc/room1/${rec.id}/tracks/Bob-b1-0.webm`)).body)).toBe(sha(track));
    expect(existsSync(join(rec.dir, 'tracks', 'Bob-b1-0.webm'))).toBe(false);
    const [summary] = service.list('room1');
    expect(summary!.upload).toMatchObject({ state: 'uploaded', attempt: 1, bucket: s3.bucket, localDeleted: true });
    expect(summary!.files).toContainEqual({ path: 'tracks/Bob-b1-0.webm', bytes: track.length, kind: 'track', location: 'bucket' });
    await waitFor(() => hook.events.some((e) => e.type === 'recording.uploaded'), { timeoutMs: 5000 });
    expect(hook.events.find((e) => e.type === 'recording.uploaded')!.data).toMatchObject({ id: rec.id, bucket: s3.bucket, attempt: 1, localDeleted: true, objects: [{ key: `svc/room1/${rec.id}/tracks/Bob-b1-0.webm` }, { key: `svc/room1/${rec.id}/manifest.json` }] });
    await hook.close();
    await service.shutdown();
  });

  it('store down: the upload fails, the list says so, every file stays', async () => {
    const root = tempRoot();
    const fakes = fakeStarter();
    const service = new RecordingService({ outputRoot: root, serverUrl: 'ws://unused', logger: quietLogger, startRecorder: fakes.start, recoveryIntervalMs: 0, upload: { target: { ...target(), endpoint: 'http://127.0.0.1:9' }, retry: { tries: 2, baseDelayMs: 50 } } });
    const hook = await webhookEvents(service);
    const rec = await service.start('room2');
    const track = randomBytes(10_000);
    writeFileSync(join(rec.dir, 'tracks', 'Bob-b1-0.webm'), track);
    await service.stop(rec.id);
    const state = await until(rec.dir, ['uploaded', 'failed']);
    expect(state).toMatchObject({ state: 'failed', error: { code: 'BUCKET_UNREACHABLE' }, localDeleted: false });
    expect(readFileSync(join(rec.dir, 'tracks', 'Bob-b1-0.webm')).equals(track)).toBe(true);
    const [summary] = service.list('room2');
    expect(summary!.upload).toMatchObject({ state: 'failed', error: { code: 'BUCKET_UNREACHABLE' } });
    expect(summary!.files.find((f) => f.path === 'tracks/Bob-b1-0.webm')?.location).toBeUndefined();
    await waitFor(() => hook.events.some((e) => e.type === 'recording.upload_failed'), { timeoutMs: 5000 });
    expect(hook.events.find((e) => e.type === 'recording.upload_failed')!.data).toMatchObject({ id: rec.id, attempt: 1, code: 'BUCKET_UNREACHABLE' });
    await hook.close();
    await service.shutdown();
  });
});

describe('RecordingService upload across a restart', () => {
  it('a recording a crash left unfinished is uploaded once recovered', async () => {
    const root = tempRoot();
    const id = newRecordingId(new Date(Date.now() - 10_000));
    const dir = createRecordingDir(root, 'crashed', id);
    const track = randomBytes(20_000);
    writeFileSync(join(dir, 'tracks', 'Alice-a1-0.webm'), track);
    const startedAt = new Date(Date.now() - 10_000).toISOString();
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: 1, id, room: 'crashed', state: 'recording', startedAt, participants: [], tracks: [] }));
    // Its recorder's process is gone.
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ pid: child.pid }));

    const service = new RecordingService({ outputRoot: root, serverUrl: 'ws://unused', logger: quietLogger, recoveryIntervalMs: 0, upload: { target: target() } });
    await service.recover();
    const state = await until(dir, ['uploaded', 'failed']);
    expect(state).toMatchObject({ state: 'uploaded', attempt: 1 });
    expect(state.objects.map((o) => o.key)).toEqual([`svc/crashed/${id}/tracks/Alice-a1-0.webm`, `svc/crashed/${id}/manifest.json`]);
    const stored = JSON.parse((await s3.get(`svc/crashed/${id}/manifest.json`)).body.toString()) as { state: string };
    expect(stored.state).toBe('recovered');
    expect(sha((await s3.get(`svc/crashed/${id}/tracks/Alice-a1-0.webm`)).body)).toBe(sha(track));
    await service.shutdown();
  });

  it('a shutdown cuts an upload short: it is queued again with every local file, and the next start uploads it', async () => {
    const root = tempRoot();
    const fakes = fakeStarter();
    const opts = { outputRoot: root, serverUrl: 'ws://unused', logger: quietLogger, startRecorder: fakes.start, recoveryIntervalMs: 0 };
    const service = new RecordingService({ ...opts, upload: { target: target(), shutdownGraceMs: 1 } });
    const rec = await service.start('room3');
    const big = randomBytes(40 * 1024 * 1024);
    writeFileSync(join(rec.dir, 'recording.mp4'), big);
    await service.stop(rec.id);
    await until(rec.dir, ['uploading']);
    await service.shutdown();
    const cut = readUploadState(rec.dir)!;
    expect(cut.state).toBe('queued');
    expect(cut.history?.at(-1)).toMatchObject({ attempt: 1, state: 'failed' });
    expect(sha(readFileSync(join(rec.dir, 'recording.mp4')))).toBe(sha(big));

    const again = new RecordingService({ ...opts, upload: { target: target() } });
    const state = await until(rec.dir, ['uploaded', 'failed']);
    expect(state).toMatchObject({ state: 'uploaded', attempt: 2, localDeleted: true });
    expect(sha((await s3.get(`svc/room3/${rec.id}/recording.attempt-2.mp4`)).body)).toBe(sha(big));
    await again.shutdown();
  });
});

describe('HTTP: upload state and downloads from the bucket', () => {
  let server: RunningServer;
  afterAll(async () => server?.close());

  it('/api/recordings shows the upload; a deleted local file redirects to a presigned link that serves the same bytes', async () => {
    const rec = fakeRecording({ root: tempRoot('rtc-http-s3-'), room: 'web' });
    const mp4 = randomBytes(40_000);
    writeFileSync(join(rec.dir, 'recording.mp4'), mp4);
    expect((await uploadRecording(rec.dir, target())).state).toBe('uploaded');
    server = await startServer({ port: 0, recordings: { outputRoot: rec.root, recover: false, composite: false } });

    const list = (await (await fetch(`${server.url}/api/recordings`)).json()) as { recordings: RecordingSummary[] };
    const r = list.recordings.find((x) => x.id === rec.id)!;
    expect(r.upload).toMatchObject({ state: 'uploaded', bucket: s3.bucket, prefix: 'svc', localDeleted: true });
    expect(r.upload!.objects.map((o) => o.key)).toEqual([`svc/web/${rec.id}/recording.mp4`, `svc/web/${rec.id}/tracks/Alice-a1-0.webm`, `svc/web/${rec.id}/manifest.json`]);
    expect(r.files.map((f) => [f.path, f.location ?? 'local'])).toEqual([
      ['recording.mp4', 'bucket'],
      ['tracks/Alice-a1-0.webm', 'bucket'],
      ['manifest.json', 'local'],
    ]);
    expect(r.sizeBytes).toBeGreaterThan(mp4.length + rec.track.length);
    const one = (await (await fetch(`${server.url}/api/recordings/${rec.id}`)).json()) as { upload?: { state: string } };
    expect(one.upload?.state).toBe('uploaded');

    const res = await fetch(`${server.url}/recordings/${rec.id}/files/tracks/Alice-a1-0.webm?download=1`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const link = new URL(res.headers.get('location')!);
    expect(link.origin).toBe(s3.endpoint);
    expect(link.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    const got = await fetch(link);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-disposition')).toBe(`attachment; filename="web-${rec.id}-Alice-a1-0.webm"`);
    expect(Buffer.from(await got.arrayBuffer()).equals(rec.track)).toBe(true);
    // The store checks the link's signature: a forged one is refused.
    link.searchParams.set('X-Amz-Signature', '0'.repeat(64));
    expect((await fetch(link)).status).toBe(403);

    const video = await fetch(`${server.url}/recordings/${rec.id}/files/recording.mp4`);
    expect(Buffer.from(await video.arrayBuffer()).equals(mp4)).toBe(true);
    // The manifest is still served from disk.
    expect((await fetch(`${server.url}/recordings/${rec.id}/files/manifest.json`, { redirect: 'manual' })).status).toBe(200);
  });
});
