// Crash takeover end to end, all real: redis-server (started here), two `rtc-record serve --redis` processes, two
// `rtc-record worker` processes (CLI, built dist/), one Chromium participant with a red camera and a 440 Hz microphone.
// A recording is started through one server's API; the worker holding it is SIGKILLed mid-recording; the other worker
// must join within 10 s and record part 2 of the same recording; a stop sent to the *other* server ends it. Both parts
// must decode and carry the participant's picture and voice, and the manifest must list the parts and the gap.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ANY_ROOM, mintToken } from '../../src/http/auth.js';
import { JobStore } from '../../src/recording/jobs/JobStore.js';
import type { JobStatus } from '../../src/recording/jobs/RecordingJobTypes.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import type { RecordingSummary } from '../../src/recording/RecordingServiceTypes.js';
import { decodeAudioPcm, decodeErrors, nearestNamedColor, sampleColor, streamDuration, tonePresence } from '../harness/analyze.js';
import { buildDist, CliProcess } from '../harness/cli.js';
import { startRedis } from '../harness/redis.js';
import { S3_ENV, TestS3Server } from '../harness/s3Server.js';
import type { Participant } from '../harness/browser.js';
import { launchRoomParticipant } from '../harness/roomPage.js';
import { trackPath, waitFor } from '../harness/util.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOG = process.env.RTC_RECORD_LOG_LEVEL ?? 'info';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

beforeAll(() => {
  buildDist();
}, 120_000);

async function serve(redisUrl: string, out: string, extra: string[] = []): Promise<{ cli: CliProcess; url: string }> {
  const cli = new CliProcess(['serve', '--port', '0', '--out', out, '--redis', redisUrl, '--size', '320x240', '--fps', '15', '--log-level', LOG, ...extra]);
  cleanups.push(() => cli.kill('SIGKILL'));
  const line = await cli.waitForLine(/^rtc-record server listening on /, 30_000);
  return { cli, url: line.replace(/^rtc-record server listening on /, '') };
}

async function worker(redisUrl: string, out: string, id: string, s3?: TestS3Server, extra: string[] = []): Promise<CliProcess> {
  const upload = s3 ? ['--s3', `s3://${s3.bucket}/rec`, '--s3-endpoint', s3.endpoint, '--s3-path-style', '--keep-local'] : [];
  const cli = new CliProcess(['worker', '--redis', redisUrl, '--out', out, '--id', id, '--log-level', LOG, ...upload, ...extra], s3 ? S3_ENV : {});
  cleanups.push(() => cli.kill('SIGKILL'));
  await cli.waitForLine(/^rtc-record worker \S+ ready: /, 30_000);
  return cli;
}

/**
 * Alice (red camera, 440 Hz) in `room` on the server `url` resolves to, connected. Her browser starts at once, while
 * the server does (each CLI takes seconds to start on a loaded machine).
 */
async function connectedAlice(url: Promise<string>, room: string, query = ''): Promise<Participant> {
  const [base, { participant, open }] = await Promise.all([url, launchRoomParticipant('Alice', { color: 'red', freq: 440, query }).then((l) => (cleanups.push(() => l.participant.close()), l))]);
  await open(base, room);
  await waitFor(async () => (await participant.page.getByTestId('status').textContent()) === 'connected', { timeoutMs: 30_000, description: 'Alice connected' });
  return participant;
}

async function api<T = any>(base: string, path: string, init: RequestInit = {}, token?: string): Promise<{ status: number; body: T }> {
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(`${base}${path}`, { ...init, headers: { 'content-type': 'application/json', ...auth, ...((init.headers as Record<string, string>) ?? {}) } });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** The participant's picture (red) and voice (440 Hz) are in a part's track files, which decode cleanly. */
async function expectParticipantContent(dir: string, label: string): Promise<{ videoSec: number; audioSec: number }> {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const video = manifest.tracks.find((t) => t.kind === 'video' && t.participantName === 'Alice');
  const audio = manifest.tracks.find((t) => t.kind === 'audio' && t.participantName === 'Alice');
  expect(video, `${label}: Alice's video track`).toBeDefined();
  expect(audio, `${label}: Alice's audio track`).toBeDefined();
  const vfile = trackPath(dir, video!);
  const afile = trackPath(dir, audio!);
  expect(await decodeErrors(vfile), `${label} ${video!.file}`).toEqual([]);
  expect(await decodeErrors(afile), `${label} ${audio!.file}`).toEqual([]);
  const videoSec = await streamDuration(vfile, 'video');
  const audioSec = await streamDuration(afile, 'audio');
  expect(videoSec, `${label} video seconds`).toBeGreaterThan(2);
  expect(audioSec, `${label} audio seconds`).toBeGreaterThan(2);
  const c = await sampleColor(vfile, { timeSec: Math.min(1, videoSec / 2), x: 100, y: 80, w: 20, h: 20 });
  expect(nearestNamedColor(c).name, `${label} picture ${JSON.stringify(c)}`).toBe('red');
  const voices = tonePresence(await decodeAudioPcm(afile), 48_000, [440, 880], { minActiveFraction: 0.05 });
  expect(voices.present, `${label} voice`).toEqual([440]);
  return { videoSec, audioSec };
}

describe('recording workers: crash takeover', () => {
  it('SIGKILL the worker holding a recording → the other worker records part 2 within 10 s; both parts hold the participant; the manifest lists parts and gap', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rtc-takeover-'));
    const [redis, s3] = await Promise.all([startRedis(), new TestS3Server().start()]);
    cleanups.push(() => redis.stop(), () => s3.stop());
    // Every process starts at once (each CLI takes seconds to start on a loaded machine), Alice's browser with them.
    const servers = Promise.all([serve(redis.url, out), serve(redis.url, out)]);
    const [[a, b], [w1, w2], alice] = await Promise.all([
      servers,
      Promise.all([worker(redis.url, out, 'w1', s3), worker(redis.url, out, 'w2', s3)]),
      connectedAlice(servers.then(([a]) => a.url), 'crash'),
    ]);
    const workers = new Map([
      ['w1', w1],
      ['w2', w2],
    ]);
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    cleanups.push(() => client.disconnect());
    const store = new JobStore(client);

    const started = await api(a.url, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'crash' }) });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body.state).toBe('recording');
    const id = started.body.id as string;
    const first = (await store.get(id))!;
    const holder = first.worker!;
    const heir = holder === 'w1' ? 'w2' : 'w1';
    // Both servers list it as recording (status from Redis, on every server).
    await waitFor(async () => (await api<{ recordings: RecordingSummary[] }>(b.url, '/api/recordings')).body.recordings.find((r) => r.id === id)?.state === 'recording', {
      description: 'server b lists it recording',
    });
    // Part 1 gets media: wait for Alice's tracks in its manifest, then let it record a while.
    await waitFor(() => {
      const m = JSON.parse(readFileSync(join(out, 'crash', id, 'manifest.json'), 'utf8')) as Manifest;
      return m.tracks.filter((t) => t.participantName === 'Alice' && t.packetsReceived > 50).length === 2;
    }, { timeoutMs: 30_000, description: 'part 1 receives Alice' });
    await sleep(6000);

    // Any server shows the workers with what they hold and have free.
    const ws = (await api<{ workers: Array<{ id: string; jobs: string[]; freeCores: number; cores: number }> }>(b.url, '/api/workers')).body.workers;
    expect(ws.map((w) => w.id).sort()).toEqual(['w1', 'w2']);
    expect(ws.find((w) => w.id === holder)!.jobs).toEqual([id]);
    expect(ws.find((w) => w.id === holder)!.freeCores).toBeLessThan(ws.find((w) => w.id === heir)!.freeCores);

    const killedAt = Date.now();
    workers.get(holder)!.kill('SIGKILL');
    await waitFor(async () => {
      const s = await store.get(id);
      return s?.part === 2 && s.state === 'recording' && s.worker === heir ? s : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100, description: 'part 2 recording on the other worker' });
    const takeoverMs = Date.now() - killedAt;
    console.log(`takeover: part 2 recording on ${heir} ${takeoverMs} ms after SIGKILL of ${holder}`);
    expect(takeoverMs).toBeLessThan(10_000);
    // Part 2 gets Alice's media too.
    await waitFor(() => {
      const m = JSON.parse(readFileSync(join(out, 'crash', id, 'part-2', 'manifest.json'), 'utf8')) as Manifest;
      return m.tracks.filter((t) => t.participantName === 'Alice' && t.packetsReceived > 50).length === 2;
    }, { timeoutMs: 30_000, description: 'part 2 receives Alice' });
    const firstMediaMs = Date.now() - killedAt;
    console.log(`takeover: part 2 has Alice's media ${firstMediaMs} ms after the kill`);
    // Where the time went, from the heir's log (ms after the kill).
    const timeline = workers
      .get(heir)!
      .stderr.map((l) => {
        try {
          return JSON.parse(l) as { time: number; msg: string };
        } catch {
          return undefined;
        }
      })
      .filter((l): l is { time: number; msg: string } => !!l && l.time >= killedAt)
      .map((l) => `${l.time - killedAt} ms ${l.msg}`);
    console.log(`takeover: heir's log after the kill:\n  ${timeline.slice(0, 15).join('\n  ')}`);
    await sleep(6000);

    // Stop through the *other* server.
    const stopped = await api(b.url, `/api/recordings/${id}/stop`, { method: 'POST' });
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    const final = (await store.get(id)) as JobStatus;
    expect(final.state).toBe('done');
    expect(final.parts.map((p) => [p.part, p.worker, p.state])).toEqual([
      [1, holder, 'recovered'],
      [2, heir, 'done'],
    ]);

    const manifest = JSON.parse(readFileSync(join(out, 'crash', id, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.parts?.map((p) => [p.part, p.dir, p.state])).toEqual([
      [1, '.', 'recovered'],
      [2, 'part-2', 'done'],
    ]);
    expect(manifest.gaps).toHaveLength(1);
    const gap = manifest.gaps![0]!;
    console.log(`takeover: gap in the recording ${gap.ms} ms`);
    expect(gap.afterPart).toBe(1);
    expect(gap.fromMs).toBeLessThanOrEqual(killedAt + 500);
    expect(gap.toMs).toBeGreaterThan(killedAt);
    expect(gap.ms).toBe(gap.toMs - gap.fromMs);
    expect(gap.ms).toBeLessThan(15_000);
    // The part files decode and carry Alice's picture and voice.
    const p1 = await expectParticipantContent(join(out, 'crash', id), 'part 1');
    const p2 = await expectParticipantContent(join(out, 'crash', id, 'part-2'), 'part 2');
    expect(p1.audioSec).toBeGreaterThan(5);
    expect(p2.audioSec).toBeGreaterThan(5);
    // The mixed recording of each part: part 1's remuxed from what the dead worker left, part 2's finalized.
    for (const [label, dir] of [['part 1', join(out, 'crash', id)], ['part 2', join(out, 'crash', id, 'part-2')]] as const) {
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
      expect(m.composite?.state, `${label} composite`).toBe('done');
      const file = join(dir, m.composite!.file);
      expect(await decodeErrors(file), `${label} ${m.composite!.file}`).toEqual([]);
      expect(await streamDuration(file, 'video'), `${label} composite seconds`).toBeGreaterThan(4);
    }

    // Both parts are in the bucket (uploaded by the surviving worker once the recording ended), the manifest last.
    const keys = await s3.keys(`rec/crash/${id}/`);
    const rel = keys.map((k) => k.slice(`rec/crash/${id}/`.length));
    for (const t of manifest.tracks) expect(rel, `part 1 ${t.file}`).toContain(t.file);
    const m2 = JSON.parse(readFileSync(join(out, 'crash', id, 'part-2', 'manifest.json'), 'utf8')) as Manifest;
    for (const t of m2.tracks) expect(rel, `part 2 ${t.file}`).toContain(`part-2/${t.file}`);
    expect(rel).toContain('manifest.json');
    expect(rel).toContain('part-2/manifest.json');
    const inBucket = JSON.parse((await s3.get(`rec/crash/${id}/manifest.json`)).body.toString('utf8')) as Manifest;
    expect(inBucket.parts?.map((p) => p.part)).toEqual([1, 2]);
    expect(inBucket.gaps).toEqual(manifest.gaps);
    expect(final.upload?.files).toBeGreaterThanOrEqual(manifest.tracks.length + m2.tracks.length + 2);

    // The other server's recordings page shows it done and offers both parts' files; a part-2 link serves its bytes.
    await alice.page.goto(`${b.url}/recordings`);
    const row = alice.page.locator(`[data-testid=recording-row][data-id="${id}"]`);
    await waitFor(async () => (await row.getAttribute('data-state')) === 'done', { timeoutMs: 15_000, description: 'row done on server b' });
    const links = await row.locator('[data-testid=download]').evaluateAll((as) => as.map((a) => ({ file: (a as HTMLElement).dataset.file!, href: (a as HTMLAnchorElement).href })));
    for (const t of m2.tracks) expect(links.map((l) => l.file)).toContain(`part-2/${t.file}`);
    const part2Video = links.find((l) => l.file === `part-2/${m2.tracks.find((t) => t.kind === 'video')!.file}`)!;
    const res = await fetch(part2Video.href, { headers: { range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
    expect((await res.arrayBuffer()).byteLength).toBe(100);

    // Every server lists it done.
    for (const s of [a, b]) {
      const listed = (await api<{ recordings: RecordingSummary[] }>(s.url, '/api/recordings')).body.recordings.find((r) => r.id === id);
      expect(listed?.state).toBe('done');
    }
  }, 240_000);

  // One recording for the next two tests (servers and workers with --secret): Redis restarts under it, then the
  // worker holding it is stopped (SIGTERM) and hands it over. Each test checks its own part of the story; the second
  // continues the first's recording (it ran as a test of its own before, with a set-up of its own).
  interface Rolling {
    out: string;
    a: { cli: CliProcess; url: string };
    workers: Map<string, CliProcess>;
    store: JobStore;
    token: string;
    id: string;
    holder: string;
  }
  let rolling: Rolling | undefined;
  const shared: Array<() => Promise<unknown> | unknown> = [];
  afterAll(async () => {
    for (const c of shared.splice(0).reverse()) await c();
  });

  it('Redis restarts mid-recording (down 5 s, longer than a heartbeat TTL): the recording goes on whole on its worker, nothing is taken over (servers and workers with --secret)', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const out = mkdtempSync(join(tmpdir(), 'rtc-redis-restart-'));
    // Tokens required: the workers mint their own recorder token from the shared secret.
    const secret = 'scale-out-secret';
    const token = mintToken(secret, { room: ANY_ROOM, ttlSeconds: 600 });
    const server = serve(redis.url, out, ['--secret', secret]);
    const [a, w1, w2] = await Promise.all([
      server,
      worker(redis.url, out, 'w1', undefined, ['--secret', secret]),
      worker(redis.url, out, 'w2', undefined, ['--secret', secret]),
      connectedAlice(server.then((s) => s.url), 'steady', `&token=${token}`),
    ]);
    const client = new Redis(redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 200 });
    client.on('error', () => undefined);
    cleanups.push(() => client.disconnect());
    const store = new JobStore(client);

    expect((await api(a.url, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'steady' }) })).status).toBe(401);
    const started = await api(a.url, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'steady', composite: false }) }, token);
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const id = started.body.id as string;
    const holder = (await store.get(id))!.worker!;
    const dir = join(out, 'steady', id);
    const packets = () => (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest).tracks.reduce((n, t) => n + t.packetsReceived, 0);
    await waitFor(() => packets() > 200, { timeoutMs: 30_000, description: 'media flowing' });
    await sleep(3000);

    const before = packets();
    await redis.kill({ hard: true });
    await sleep(5000);
    const during = packets();
    expect(during, 'media kept arriving while Redis was down').toBeGreaterThan(before + 150);
    await redis.start();
    await sleep(8000); // past every reaper's grace after reconnecting
    const after = (await store.get(id))!;
    expect(after).toMatchObject({ state: 'recording', worker: holder, part: 1, takeovers: 0 });
    expect(after.parts).toHaveLength(1);
    expect(existsSync(join(dir, 'part-2'))).toBe(false);
    // The servers' view caught up: listed as recording, from Redis.
    const listed = (await api<{ recordings: RecordingSummary[] }>(a.url, '/api/recordings', {}, token)).body.recordings.find((r) => r.id === id);
    expect(listed?.state).toBe('recording');
    // Everything goes on into the next test.
    shared.push(...cleanups.splice(0));
    rolling = { out, a, workers: new Map([['w1', w1], ['w2', w2]]), store, token, id, holder };
  }, 240_000);

  it('then SIGTERM the worker holding it → it hands the recording over: part 1 records until part 2 has started (no gap), the worker exits 0; stop works; part 1 holds the Redis outage whole', async () => {
    expect(rolling, 'the previous test\'s recording').toBeDefined();
    const { out, a, workers, store, token, id, holder } = rolling!;
    const heir = holder === 'w1' ? 'w2' : 'w1';
    const packets = (dir: string) => (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest).tracks.filter((t) => t.packetsReceived > 50).length;
    expect(packets(join(out, 'steady', id)), 'part 1 receives Alice').toBe(2);

    const leaving = workers.get(holder)!;
    leaving.kill('SIGTERM');
    expect(await leaving.exited).toEqual({ code: 0, signal: null });
    const s = (await store.get(id))!;
    expect(s).toMatchObject({ state: 'recording', worker: heir, part: 2 });
    expect(s.parts.map((p) => [p.part, p.worker, p.state])).toEqual([
      [1, holder, 'done'],
      [2, heir, 'recording'],
    ]);
    expect(s.gaps, 'parts overlap: nothing missing').toEqual([]);
    await waitFor(() => packets(join(out, 'steady', id, 'part-2')) === 2, { timeoutMs: 30_000, description: 'part 2 receives Alice' });
    await sleep(4000);

    const stopped = await api(a.url, `/api/recordings/${id}/stop`, { method: 'POST' }, token);
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    const final = (await store.get(id))!;
    expect(final.state).toBe('done');
    const manifest = JSON.parse(readFileSync(join(out, 'steady', id, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.parts?.map((p) => [p.part, p.state])).toEqual([
      [1, 'done'],
      [2, 'done'],
    ]);
    expect(manifest.gaps).toEqual([]);
    const m2 = JSON.parse(readFileSync(join(out, 'steady', id, 'part-2', 'manifest.json'), 'utf8')) as Manifest;
    const lastOf1 = Math.max(...manifest.tracks.map((t) => t.lastPacketAtMs ?? 0));
    const firstOf2 = Math.min(...m2.tracks.map((t) => t.firstPacketAtMs ?? Infinity));
    console.log(`handover: parts overlap by ${lastOf1 - firstOf2} ms`);
    expect(lastOf1).toBeGreaterThanOrEqual(firstOf2);
    // Part 1 lost nothing across the Redis outage: its audio track is as long as it ran, outage included.
    const audio = manifest.tracks.find((t) => t.kind === 'audio')!;
    const ranSec = (audio.lastPacketAtMs! - audio.firstPacketAtMs!) / 1000;
    const { audioSec } = await expectParticipantContent(join(out, 'steady', id), 'part 1');
    expect(ranSec).toBeGreaterThan(15);
    expect(audioSec).toBeGreaterThan(ranSec - 1.5);
    await expectParticipantContent(join(out, 'steady', id, 'part-2'), 'part 2');
  }, 240_000);
});
