// Recording jobs on a real redis-server (started here): admission by cost, stops from another server, the reaper
// (takeover of a recording whose worker stopped heartbeating; failure when it was stopping), and a Redis restart under
// a running recording. The recorders are stand-ins (a real directory and manifest, no peer): what is under test is the
// queue, the workers and Redis; the e2e test (takeover.test.ts) runs the real thing.
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../../../src/recording/ManifestTypes.js';
import { ManifestWriter } from '../../../src/recording/ManifestWriter.js';
import { JobQueue } from '../../../src/recording/jobs/JobQueue.js';
import { DEFAULT_JOB_COSTS, jobsAtLimit } from '../../../src/recording/jobs/jobCosts.js';
import type { JobStatus } from '../../../src/recording/jobs/RecordingJobTypes.js';
import { RecordingWorker } from '../../../src/recording/jobs/RecordingWorker.js';
import type { RecorderHandle, StartRecorder } from '../../../src/recording/RecordingServiceTypes.js';
import type { RoomRecorderEvents, RoomRecorderOptions } from '../../../src/recording/RoomRecorderTypes.js';
import { createRecordingDir, partDirName } from '../../../src/recording/storage.js';
import { startRedis, type RedisServer } from '../../harness/redis.js';
import { waitFor } from '../../harness/util.js';
import { FakeRooms, quietLogger, tempRoot } from '../fakes.js';
import { RecordingService } from '../../../src/recording/RecordingService.js';
import { OWNER_FILE } from '../../../src/recording/recovery.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A recorder stand-in that honours the job's id and part, like RoomRecorder. */
class PartRecorder extends EventEmitter<RoomRecorderEvents> implements RecorderHandle {
  readonly dir: string;
  readonly writer: ManifestWriter;
  stopped = false;
  constructor(readonly options: RoomRecorderOptions) {
    super();
    const part = options.part ?? 1;
    this.dir = createRecordingDir(options.outputRoot!, options.room, options.recordingId!, part > 1 ? partDirName(part) : undefined);
    const now = Date.now();
    // One track whose packets "arrive" from the start until the stop (what gaps and handovers are computed from).
    const track = { id: 'a', participantId: 'p1', participantName: 'Alice', kind: 'audio' as const, codec: 'opus', clockRate: 48_000, ssrc: 1, packetsReceived: 1, packetsLost: 0, keyframesRequested: 0, bytesWritten: 0, firstPacketAtMs: now, lastPacketAtMs: now };
    const m: Manifest = { version: 1, id: options.recordingId!, room: options.room, state: 'recording', startedAt: new Date(now).toISOString(), participants: [], tracks: [track], ...(part > 1 ? { part } : {}) };
    this.writer = new ManifestWriter(this.dir, m);
  }
  get manifest() {
    return this.writer.manifest;
  }
  get id() {
    return this.manifest.id;
  }
  async stop() {
    this.stopped = true;
    this.manifest.tracks[0]!.lastPacketAtMs = Date.now();
    this.manifest.state = 'done';
    this.manifest.stoppedAt = new Date().toISOString();
    this.writer.writeNow();
    return this.manifest;
  }
}

function starter(): { start: StartRecorder; started: PartRecorder[] } {
  const started: PartRecorder[] = [];
  return { started, start: async (o) => (started.push(new PartRecorder(o)), started.at(-1)!) };
}

async function redis(persist = true): Promise<RedisServer> {
  const r = await startRedis({ appendonly: persist });
  cleanups.push(() => r.stop());
  return r;
}

async function server(r: RedisServer, name = 'serve-a'): Promise<JobQueue> {
  const q = await JobQueue.connect({ redisUrl: r.url, logger: quietLogger, owner: name });
  cleanups.push(() => q.close());
  return q;
}

async function worker(r: RedisServer, root: string, opts: { cores?: number; id?: string } = {}) {
  const s = starter();
  const w = await RecordingWorker.start({ redisUrl: r.url, outputRoot: root, logger: quietLogger, startRecorder: s.start, cores: opts.cores ?? 2, id: opts.id, measureCpu: false });
  cleanups.push(() => w.shutdown());
  return { w, ...s };
}

const enqueue = (q: JobQueue, room: string, kind: 'composite' | 'audio-only' | 'tracks-only' = 'composite') =>
  q.enqueue({
    room,
    trigger: 'api',
    serverUrl: 'ws://127.0.0.1:1/ws',
    composite: kind === 'tracks-only' ? false : { video: kind === 'composite' },
    tracks: true,
  } as Parameters<JobQueue['enqueue']>[0]);

const state = (q: JobQueue, id: string) => q.store.get(id).then((s) => s?.state);
const until = (q: JobQueue, id: string, want: JobStatus['state'], timeoutMs = 10_000) =>
  waitFor(async () => (await state(q, id)) === want, { timeoutMs, description: `${id} ${want}` });

describe('recording jobs on Redis', () => {
  it('a worker admits jobs while their measured cost fits its cores, never more; freed cores take the next', async () => {
    const r = await redis();
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    const { w } = await worker(r, root, { cores: 1 });

    const c1 = await enqueue(q, 'c1');
    await until(q, c1.id, 'recording');
    const c2 = await enqueue(q, 'c2');
    const audio = await Promise.all(['a1', 'a2', 'a3', 'a4'].map((room) => enqueue(q, room, 'audio-only')));
    // 1 core: one composite (0.6) + three audio-only (0.12 each) = 0.96; a fourth audio or a second composite does not fit.
    await waitFor(async () => (await Promise.all(audio.map((a) => state(q, a.id)))).filter((s) => s === 'recording').length === 3, { description: '3 audio jobs' });
    await new Promise((res) => setTimeout(res, 1500));
    expect(await state(q, c2.id)).toBe('queued');
    expect((await Promise.all(audio.map((a) => state(q, a.id)))).filter((s) => s === 'queued')).toHaveLength(1);
    expect(w.admission.committedCores).toBeCloseTo(0.96, 5);
    expect(w.admission.committedCores).toBeLessThanOrEqual(1);
    const [advert] = await q.store.workers();
    expect(advert).toMatchObject({ id: w.id, cores: 1, jobs: expect.arrayContaining([c1.id]) });
    expect(advert!.freeCores).toBeLessThan(0.12);

    // The composite ends: its 0.6 core goes to the queued composite (bigger kinds first), not to the small job that
    // would leave no room for it; the fourth audio job still does not fit (0.96 + 0.12 > 1).
    expect((await q.stop(c1.id)).state).toBe('done');
    await until(q, c2.id, 'recording');
    await new Promise((res) => setTimeout(res, 1000));
    expect((await Promise.all(audio.map((a) => state(q, a.id)))).filter((s) => s === 'queued')).toHaveLength(1);
    expect(w.admission.committedCores).toBeCloseTo(0.96, 5);
    // Another worker with room takes it.
    const { w: w2 } = await worker(r, root, { cores: 1 });
    await waitFor(async () => (await Promise.all(audio.map((a) => state(q, a.id)))).every((s) => s === 'recording'), { description: 'all audio recording' });
    expect(w2.admission.committedCores).toBeCloseTo(0.12, 5);
    expect(jobsAtLimit(2, 'composite')).toBe(3);
    expect(jobsAtLimit(2, 'audio-only')).toBe(Math.floor(2 / DEFAULT_JOB_COSTS['audio-only']));
  });

  it('a stop sent by another server reaches the worker holding the job; both servers list it done; one live recording per room', async () => {
    const r = await redis();
    const [a, b] = [await server(r, 'serve-a'), await server(r, 'serve-b')];
    const root = tempRoot('rtc-jobs-');
    const { w, started } = await worker(r, root);
    const job = await enqueue(a, 'meet');
    await until(a, job.id, 'recording');
    await expect(enqueue(b, 'meet')).rejects.toMatchObject({ code: 'ALREADY_RECORDING' });
    await waitFor(() => b.cached(job.id)?.state === 'recording', { description: 'server b sees it recording' });

    const done = await b.stop(job.id);
    expect(done).toMatchObject({ state: 'done', worker: w.id, parts: [{ part: 1, state: 'done', worker: w.id }] });
    expect(started[0]!.stopped).toBe(true);
    const manifest = JSON.parse(readFileSync(join(root, 'meet', job.id, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest).toMatchObject({ id: job.id, state: 'done' });
    await waitFor(() => a.cached(job.id)?.state === 'done', { description: 'server a sees it done' });
    // The room is free again.
    const again = await enqueue(a, 'meet');
    await until(a, again.id, 'recording');
  });

  it('reaper: a recording whose worker stopped heartbeating is taken over as part 2 within seconds; a stopping one fails with the reason', async () => {
    const r = await redis();
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    // A recording "held" by a worker that is gone: its status says recording, its heartbeat key never existed.
    const ghost = await enqueue(q, 'orphan');
    const lastSeen = Date.now() - 500;
    await q.store.update(ghost.id, (s) => {
      s.state = 'recording';
      s.worker = s.claimedBy = 'ghost-worker';
      s.startedAt = lastSeen - 5000;
      s.parts.push({ part: 1, dir: '.', worker: 'ghost-worker', startedAt: new Date(lastSeen - 5000).toISOString(), lastSeenAt: lastSeen, state: 'recording', host: 'elsewhere', outputRoot: '/nonexistent' });
    });
    // Its BullMQ dispatch was consumed by the ghost; take it out of the queue so only the takeover can start it.
    await (q as unknown as { queues: Map<string, { remove(id: string): Promise<unknown> }> }).queues.get('composite')!.remove(`${ghost.id}-d1`);
    const stopping = await enqueue(q, 'stopping');
    await q.store.update(stopping.id, (s) => {
      s.state = 'finalizing';
      s.worker = s.claimedBy = 'ghost-worker';
      s.dispatch = 99; // not this dispatch: no worker takes it
    });

    const t0 = Date.now();
    const { w, started } = await worker(r, root, { id: 'heir' });
    const taken = await waitFor(async () => {
      const s = await q.store.get(ghost.id);
      return s?.state === 'recording' && s.worker === w.id ? s : undefined;
    }, { timeoutMs: 15_000, description: 'taken over' });
    const takeoverMs = Date.now() - t0;
    expect(takeoverMs).toBeLessThan(10_000);
    expect(taken).toMatchObject({ part: 2, takeovers: 1 });
    expect(taken.parts.map((p) => [p.part, p.state, p.worker])).toEqual([
      [1, 'lost', 'ghost-worker'],
      [2, 'recording', 'heir'],
    ]);
    // Part 1's files are on a disk this worker cannot reach: reported lost with the exact span.
    await waitFor(async () => (await q.store.get(ghost.id))?.parts[0]?.error?.includes('not reachable'), { description: 'lost part reported' });
    const lost = (await q.store.get(ghost.id))!.parts[0]!;
    expect(lost.error).toContain(lost.startedAt);
    expect(taken.gaps).toHaveLength(1);
    expect(taken.gaps[0]!.fromMs).toBe(lastSeen);
    expect(taken.gaps[0]!.ms).toBeGreaterThan(0);
    expect(started[0]!.dir).toBe(join(root, 'orphan', ghost.id, 'part-2'));

    const failed = await waitFor(async () => ((await state(q, stopping.id)) === 'failed' ? q.store.get(stopping.id) : undefined), { description: 'stopping job failed' });
    expect(failed.error).toMatch(/^WORKER_LOST: worker ghost-worker stopped heartbeating at .* while finalizing/);
    expect(await q.store.liveIds()).not.toContain(stopping.id);

    // Stopped: part 2 done, the manifests list both parts and the gap.
    const done = await q.stop(ghost.id);
    expect(done.parts.map((p) => p.state)).toEqual(['lost', 'done']);
    const m2 = JSON.parse(readFileSync(join(root, 'orphan', ghost.id, 'part-2', 'manifest.json'), 'utf8')) as Manifest;
    expect(m2.parts?.map((p) => p.part)).toEqual([1, 2]);
    expect(m2.gaps?.[0]).toMatchObject({ afterPart: 1, fromMs: lastSeen });
    expect(existsSync(join(root, 'orphan', ghost.id, 'manifest.json'))).toBe(true);
  });

  it('a worker that finds its recording taken over (it was cut off too long) ends its part, and says so in that part only', async () => {
    const r = await redis();
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    const { w, started } = await worker(r, root);
    const job = await enqueue(q, 'split');
    await until(q, job.id, 'recording');
    // What a reaper does when it judged the worker dead: the recording is someone else's now.
    await q.store.update(job.id, (s) => {
      s.parts[0]!.state = 'lost';
      s.worker = s.claimedBy = 'heir';
      s.part = 2;
      s.dispatch++;
    });
    await waitFor(() => started[0]!.stopped, { description: 'part 1 ended by its worker' });
    const s = await waitFor(async () => {
      const x = await q.store.get(job.id);
      return x?.parts[0]?.state === 'done' ? x : undefined;
    }, { description: 'part 1 closed in the status' });
    expect(s).toMatchObject({ state: 'recording', worker: 'heir' });
    expect(s.parts[0]!.error).toMatch(/ended after a takeover/);
    expect(w.jobs()).toHaveLength(0);
    expect(JSON.parse(readFileSync(join(root, 'split', job.id, 'manifest.json'), 'utf8')).state).toBe('done');
  });

  it('a worker shut down (SIGTERM) hands its recording to another worker: part 1 records on until part 2 has started, no gap', async () => {
    const r = await redis();
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    const first = await worker(r, root, { id: 'leaving' });
    const job = await enqueue(q, 'rolling');
    await until(q, job.id, 'recording');
    const second = await worker(r, root, { id: 'staying' });
    await first.w.shutdown();
    const s = (await q.store.get(job.id))!;
    expect(s).toMatchObject({ state: 'recording', worker: 'staying', part: 2 });
    expect(s.parts.map((p) => [p.part, p.worker, p.state])).toEqual([
      [1, 'leaving', 'done'],
      [2, 'staying', 'recording'],
    ]);
    expect(s.parts[0]!.error).toBeUndefined();
    expect(s.parts[1]!.mediaAt).toBeGreaterThan(0);
    expect(s.gaps, 'the parts overlap: nothing missing').toEqual([]);
    // Part 1 stopped only after part 2 had started: they overlap (the stand-ins have no packets: no gap is known).
    expect(Date.parse(first.started[0]!.manifest.stoppedAt!)).toBeGreaterThanOrEqual(Date.parse(second.started[0]!.manifest.startedAt));
    expect((await q.store.workers()).map((w) => w.id)).toEqual(['staying']);
    const done = await q.stop(job.id);
    expect(done.parts.map((p) => p.state)).toEqual(['done', 'done']);
    const top = JSON.parse(readFileSync(join(root, 'rolling', job.id, 'manifest.json'), 'utf8')) as Manifest;
    expect(top.parts?.map((p) => [p.part, p.dir])).toEqual([
      [1, '.'],
      [2, 'part-2'],
    ]);
  });

  it('a worker shut down with no other worker finalizes its recording (done)', async () => {
    const r = await redis();
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    const only = await worker(r, root);
    const job = await enqueue(q, 'last-one');
    await until(q, job.id, 'recording');
    await only.w.shutdown();
    expect(await q.store.get(job.id)).toMatchObject({ state: 'done', parts: [{ part: 1, state: 'done' }] });
  });

  it('serve --redis: the service starts, lists, auto-records and auto-stops through the queue (a worker records)', async () => {
    const r = await redis();
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    const { w, started } = await worker(r, root);
    const rooms = new FakeRooms();
    const service = new RecordingService({ outputRoot: root, serverUrl: 'ws://unused', logger: quietLogger, rooms, autoRecord: true, autoStopGraceMs: 300, composite: false, jobs: { queue: q, serverUrl: () => 'ws://127.0.0.1:9/ws' } });
    cleanups.push(() => service.shutdown());
    const events: string[] = [];
    service.on('recordingStarted', (e) => events.push(`started ${e.room}`));
    service.on('recordingFinished', (m) => events.push(`finished ${m.room} ${m.state}`));
    service.on('recordingFailed', (e) => events.push(`failed ${e.room}`));
    // Another server on the same Redis sends no events for recordings it did not queue.
    const other = new RecordingService({ outputRoot: root, serverUrl: 'ws://unused', logger: quietLogger, composite: false, jobs: { queue: await server(r, 'serve-b'), serverUrl: () => 'ws://127.0.0.1:9/ws' } });
    cleanups.push(() => other.shutdown());
    const otherEvents: string[] = [];
    other.on('recordingStarted', (e) => otherEvents.push(e.room));
    other.on('recordingFinished', (m) => otherEvents.push(m.room));

    expect((await service.workers()).map((x) => [x.id, x.cores])).toEqual([[w.id, 2]]);
    const rec = await service.start('api-room');
    expect(rec).toMatchObject({ room: 'api-room', state: 'recording' });
    expect(started[0]!.options.serverUrl).toBe('ws://127.0.0.1:9/ws');
    await waitFor(() => service.list().find((x) => x.id === rec.id)?.state === 'recording', { description: 'listed recording' });
    await expect(service.start('api-room')).rejects.toMatchObject({ code: 'ALREADY_RECORDING' });
    expect(() => service.delete(rec.id)).toThrow(/still running/);
    expect((await service.stop(rec.id)).state).toBe('done');
    await waitFor(() => service.list().find((x) => x.id === rec.id)?.state === 'done', { description: 'listed done' });

    const alice = rooms.join('auto-room', 'Alice');
    const auto = await waitFor(() => service.activeIn('auto-room'), { description: 'auto recording' });
    await waitFor(() => service.activeIn('auto-room')?.state === 'recording', { description: 'auto recording on the worker' });
    rooms.leave('auto-room', alice);
    await waitFor(async () => (await q.store.get(auto.id))?.state === 'done', { description: 'auto stopped' });
    expect(w.jobs()).toHaveLength(0);
    await waitFor(() => events.length === 4, { description: 'events' });
    expect(events).toEqual(['started api-room', 'finished api-room done', 'started auto-room', 'finished auto-room done']);
    expect(otherEvents).toEqual([]);
  });

  it('a worker restarting on the disk of a dead worker recovers its part and marks it recovered in the status', async () => {
    const r = await redis();
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    const job = await enqueue(q, 'lost-and-found');
    const dead = spawnSync('true').pid!; // a pid that no longer runs
    const dir = createRecordingDir(root, 'lost-and-found', job.id);
    const startedAt = new Date(Date.now() - 10_000).toISOString();
    new ManifestWriter(dir, { version: 1, id: job.id, room: 'lost-and-found', state: 'recording', startedAt, participants: [], tracks: [] });
    writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ pid: dead }));
    await q.store.update(job.id, (s) => {
      s.state = 'failed';
      s.error = 'WORKER_LOST: test';
      s.parts.push({ part: 1, dir: '.', worker: 'old', startedAt, state: 'lost' });
    });
    await worker(r, root);
    const s = await waitFor(async () => {
      const x = await q.store.get(job.id);
      return x?.parts[0]?.state === 'recovered' ? x : undefined;
    }, { timeoutMs: 20_000, description: 'part recovered' });
    expect(s.parts[0]!.endedAt).toBeDefined();
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).state).toBe('recovered');
  });

  it('Redis restarts under a running recording (down longer than a heartbeat TTL): nothing is taken over, the status catches up, stop works', async () => {
    const r = await redis(true);
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    const { w, started } = await worker(r, root);
    const job = await enqueue(q, 'steady');
    await until(q, job.id, 'recording');
    const before = (await q.store.get(job.id))!;

    await r.kill({ hard: true });
    await new Promise((res) => setTimeout(res, 4500)); // the heartbeat key (3 s TTL) expires meanwhile
    expect(started[0]!.stopped).toBe(false); // the recording does not depend on Redis
    await r.start();
    await new Promise((res) => setTimeout(res, 7000)); // past the reapers' grace after reconnecting
    const after = (await q.store.get(job.id))!;
    expect(after).toMatchObject({ state: 'recording', worker: w.id, part: 1, dispatch: before.dispatch, takeovers: 0 });
    expect(started).toHaveLength(1);
    expect((await q.stop(job.id)).state).toBe('done');
  });

  it('Redis loses its data under a running recording: the worker puts the status back; stop still reaches it', async () => {
    const r = await redis(false);
    const q = await server(r);
    const root = tempRoot('rtc-jobs-');
    const { w, started } = await worker(r, root);
    const job = await enqueue(q, 'amnesia');
    await until(q, job.id, 'recording');
    await r.restart(); // no append-only file: everything is gone
    const back = await waitFor(() => q.store.get(job.id), { timeoutMs: 10_000, description: 'status put back' });
    expect(back).toMatchObject({ state: 'recording', worker: w.id });
    expect((await q.stop(job.id)).state).toBe('done');
    expect(started[0]!.stopped).toBe(true);
  });
});
