// The recordings service end to end: real Chromium participants in our room page, the real `rtc-record serve` (its
// recorder peers join through its own server), the HTTP API, the recordings page, webhooks, metrics, SIGTERM and a
// simulated crash (SIGKILL) followed by a restart.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { listRecordingsOnDisk } from '../../src/recording/recordingList.js';
import type { RecordingSummary } from '../../src/recording/RecordingServiceTypes.js';
import { signBody } from '../../src/recording/webhooks.js';
import { decodeErrors, streamDuration } from '../harness/analyze.js';
import type { Participant } from '../harness/browser.js';
import { buildDist, CliProcess } from '../harness/cli.js';
import { roomParticipant } from '../harness/roomPage.js';
import { waitFor, trackPath } from '../harness/util.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SMALL_COMPOSITE = ['--size', '320x240', '--fps', '15'];

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

beforeAll(() => {
  // `serve` runs from dist/: make sure it is the current source.
  buildDist();
}, 120_000);

interface Serve {
  cli: CliProcess;
  url: string;
  out: string;
}

async function serve(args: string[], out = mkdtempSync(join(tmpdir(), 'rtc-svc-'))): Promise<Serve> {
  const cli = new CliProcess(['serve', '--port', '0', '--out', out, '--log-level', process.env.RTC_RECORD_LOG_LEVEL ?? 'info', ...args]);
  cleanups.push(() => cli.kill('SIGKILL'));
  const line = await cli.waitForLine(/^rtc-record server listening on /, 30_000);
  return { cli, url: line.replace(/^rtc-record server listening on /, ''), out };
}

const COLORS = { Alice: 'red', Bob: 'blue', Carol: 'lime' } as const;
const TONES = { Alice: 440, Bob: 880, Carol: 660 } as const;

async function participant(s: Serve, room: string, name: keyof typeof COLORS, query = ''): Promise<Participant> {
  const p = await roomParticipant(s.url, room, name, { color: COLORS[name], freq: TONES[name], query });
  cleanups.push(() => p.close());
  await waitFor(async () => (await p.page.getByTestId('status').textContent()) === 'connected', { timeoutMs: 30_000, description: `${name} connected` }).catch(async (err) => {
    const peers = JSON.stringify(await p.page.evaluate(() => (window as unknown as { rtcRoom: { peers(): unknown } }).rtcRoom.peers()));
    throw new Error(`${(err as Error).message}\n${name}'s peers: ${peers}\nserve stderr (tail):\n${s.cli.stderr.slice(-30).join('\n')}`);
  });
  return p;
}

async function api<T = any>(s: Serve, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${s.url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...(init.headers ?? {}) } });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

const list = async (s: Serve) => (await api<{ recordings: RecordingSummary[] }>(s, '/api/recordings')).body.recordings;

/** `name{labels} value` lines of a Prometheus scrape, summed over labels. */
async function metrics(s: Serve): Promise<Record<string, number>> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

const elapsedSeconds = async (p: Participant) => {
  const text = (await p.page.getByTestId('recording-elapsed').textContent()) ?? '';
  const m = /^(\d\d):(\d\d)$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
};

/** The files a finished recording must have: the MP4 once the composite exists, else the per-track files. */
async function expectPlayableFiles(dir: string, manifest: Manifest, names: string[]): Promise<void> {
  expect(manifest.tracks.map((t) => `${t.participantName}/${t.kind}`).sort()).toEqual(names.flatMap((n) => [`${n}/audio`, `${n}/video`]).sort());
  // Each track's ffmpeg runs, all tracks at once.
  await Promise.all(
    manifest.tracks.map(async (t) => {
      expect(await decodeErrors(trackPath(dir, t)), t.file).toEqual([]);
      expect(await streamDuration(trackPath(dir, t), t.kind), t.file).toBeGreaterThan(2);
    }),
  );
  if (manifest.composite?.state === 'done') {
    expect(manifest.composite.file).toMatch(/^recording\.(mp4|m4a)$/);
    expect(existsSync(join(dir, manifest.composite.file))).toBe(true);
  }
}

describe('rtc-record serve: recordings from the room page', () => {
  it('a participant presses Record and Stop; everyone sees ● REC with elapsed time; /recordings offers the files', async () => {
    const s = await serve([...SMALL_COMPOSITE]);
    const [alice, bob] = await Promise.all([participant(s, 'meet', 'Alice'), participant(s, 'meet', 'Bob')]);
    await expect.poll(() => alice.page.getByTestId('record').isVisible()).toBe(true);
    expect(await alice.page.getByTestId('recording').isVisible()).toBe(false);

    await alice.page.getByTestId('record').click();
    for (const p of [alice, bob]) await waitFor(() => p.page.getByTestId('recording').isVisible(), { timeoutMs: 15_000, description: `${p.name} sees REC` });
    await expect.poll(() => bob.page.getByTestId('stop-recording').isVisible()).toBe(true);
    expect(await bob.page.getByTestId('record').isVisible()).toBe(false);
    const first = await elapsedSeconds(bob);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(10);
    await sleep(8000);
    for (const p of [alice, bob]) {
      expect(await p.page.getByTestId('recording').textContent()).toMatch(/^● REC \d\d:\d\d$/);
      expect(await elapsedSeconds(p)).toBeGreaterThanOrEqual(first + 6);
    }

    await bob.page.getByTestId('stop-recording').click();
    for (const p of [alice, bob]) await waitFor(async () => !(await p.page.getByTestId('recording').isVisible()), { timeoutMs: 60_000, description: `${p.name}: REC gone` });
    expect(await bob.page.getByTestId('recording-error').isVisible()).toBe(false);

    // The recorder has left; the files are being finalized (the mixed MP4 is remuxed).
    const rec = await waitFor(async () => (await list(s)).find((r) => r.state === 'done'), { timeoutMs: 60_000, description: 'finalized' });
    expect(rec).toMatchObject({ room: 'meet', participants: expect.arrayContaining(['Alice', 'Bob']) });
    expect(rec!.durationMs).toBeGreaterThan(7000);
    const dir = join(s.out, 'meet', rec!.id);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    await expectPlayableFiles(dir, manifest, ['Alice', 'Bob']);

    // The recordings page, in a participant's browser: state, size, participants, download links, inline player.
    const page = alice.page;
    await page.goto(`${s.url}/recordings`);
    const row = page.locator(`[data-testid=recording-row][data-id="${rec!.id}"]`);
    await expect.poll(() => row.getAttribute('data-state')).toBe('done');
    const rowText = (await row.textContent()) ?? '';
    expect(rowText).toContain('Alice');
    expect(rowText).toContain('Bob');
    const links = await row.locator('[data-testid=download]').evaluateAll((as) => as.map((a) => ({ file: (a as HTMLElement).dataset.file, href: (a as HTMLAnchorElement).href })));
    const offered = links.map((l) => l.file);
    const mp4 = manifest.composite?.state === 'done' ? manifest.composite.file : undefined;
    if (mp4) expect(offered[0]).toBe(mp4); // the mixed file first
    for (const t of manifest.tracks) expect(offered).toContain(t.file);
    // A download link serves the bytes, with Range for seeking.
    const target = links.find((l) => l.file === (mp4 ?? manifest.tracks.find((t) => t.kind === 'video')!.file))!;
    const res = await fetch(target.href, { headers: { range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="meet-/);
    expect((await res.arrayBuffer()).byteLength).toBe(100);
    // The inline player loads the recording and knows its duration.
    await row.getByTestId('play').click();
    const duration = await waitFor(() => page.getByTestId('player').evaluate((v: HTMLVideoElement) => (v.readyState >= 1 && Number.isFinite(v.duration) ? v.duration : 0)), {
      timeoutMs: 20_000,
      description: 'player metadata',
    });
    expect(duration).toBeGreaterThan(5);
  });
});

describe('rtc-record serve: API, webhooks, metrics', () => {
  it('start → participant → metrics move → stop → manifest → Range download → delete; webhooks delivered (with a retry) and signed', async () => {
    const hook = await webhookReceiver([500]);
    const s = await serve(['--no-composite', '--webhook', hook.url, '--webhook-secret', 'hook-secret']);

    const started = await api(s, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'api', composite: false }) });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    expect(started.body).toMatchObject({ room: 'api', state: 'recording' });
    expect((await api(s, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'api' }) })).status).toBe(409);

    const alice = await participant(s, 'api', 'Alice');
    await waitFor(() => alice.page.getByTestId('recording').isVisible(), { description: 'REC shown' });
    await sleep(3000);
    const m1 = await metrics(s);
    await sleep(3000);
    const m2 = await metrics(s);
    expect(m2.rtc_record_rooms).toBe(1);
    expect(m2.rtc_record_participants).toBe(1);
    expect(m2.rtc_record_active_recordings).toBe(1);
    expect(m2.rtc_record_bytes_written_total).toBeGreaterThan(m1.rtc_record_bytes_written_total!);
    expect(m2.rtc_record_packets_received_total).toBeGreaterThan(m1.rtc_record_packets_received_total! + 100);
    expect(m2.rtc_record_packets_lost_total).toBeGreaterThanOrEqual(0);
    expect(m2.rtc_record_ffmpeg_restarts_total).toBe(0);
    const live = (await list(s))[0]!;
    expect(live).toMatchObject({ id, state: 'recording', participants: ['Alice'] });
    expect(live.sizeBytes).toBeGreaterThan(0);

    const stopped = await api(s, `/api/recordings/${id}/stop`, { method: 'POST' });
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ id, state: 'done' });
    const m3 = await metrics(s);
    expect(m3.rtc_record_active_recordings).toBe(0);
    expect(m3.rtc_record_bytes_written_total).toBeGreaterThanOrEqual(m2.rtc_record_bytes_written_total!);

    const manifest = (await api<Manifest>(s, `/api/recordings/${id}`)).body;
    expect(manifest).toMatchObject({ id, room: 'api', state: 'done' });
    await expectPlayableFiles(join(s.out, 'api', id), manifest, ['Alice']);
    const video = manifest.tracks.find((t) => t.kind === 'video')!;
    const whole = readFileSync(join(s.out, 'api', id, video.file!));
    const slice = await fetch(`${s.url}/recordings/${id}/files/${video.file}`, { headers: { range: 'bytes=1000-1999' } });
    expect(slice.status).toBe(206);
    expect(Buffer.from(await slice.arrayBuffer()).equals(whole.subarray(1000, 2000))).toBe(true);

    await alice.page.getByTestId('leave').click();
    await waitFor(() => hook.events.some((e) => e.type === 'participant.left'), { timeoutMs: 20_000, description: 'participant.left delivered' });
    expect((await api(s, `/api/recordings/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await list(s)).toEqual([]);
    expect(existsSync(join(s.out, 'api', id))).toBe(false);

    // Webhooks: in order, the first one retried after the receiver's 500, every request signed.
    const types = hook.events.map((e) => e.type);
    expect(types[0]).toBe('recording.started');
    expect(types[1]).toBe('recording.started'); // the retry
    expect(hook.events[0]!.id).toBe(hook.events[1]!.id);
    expect(hook.events[0]!.data).toMatchObject({ id, room: 'api', trigger: 'api' });
    const unique = [...new Map(hook.events.map((e) => [e.id, e])).values()];
    expect(unique.map((e) => e.type)).toEqual(['recording.started', 'participant.joined', 'recording.finished', 'participant.left']);
    expect(unique[1]!.data).toMatchObject({ room: 'api', participant: { name: 'Alice' }, recordingId: id });
    expect(unique[2]!.data).toMatchObject({ id, state: 'done', participants: ['Alice'] });
    for (const r of hook.requests) expect(r.signature).toBe(signBody('hook-secret', r.body));
  });

  it('an unwritable output directory fails that recording with a clear reason; the server keeps going', async () => {
    const s = await serve(['--no-composite']);
    writeFileSync(join(s.out, 'blocked'), 'a file where the room directory should be');
    const res = await api(s, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'blocked' }) });
    expect(res.status).toBe(507);
    expect(res.body).toMatchObject({ error: 'OUTPUT_NOT_WRITABLE', message: expect.stringMatching(/cannot create the recording directory/) });
    const ok = await api(s, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'fine' }) });
    expect(ok.status).toBe(201);
    expect((await api(s, `/api/recordings/${ok.body.id}/stop`, { method: 'POST' })).body).toMatchObject({ state: 'done' });
  });
});

describe('rtc-record serve --auto-record', () => {
  it('records two rooms at once, each with its own recorder; stops a room when it empties; SIGTERM finalizes the rest', async () => {
    const s = await serve(['--auto-record', '--no-composite']);
    const [alice, bob] = await Promise.all([participant(s, 'r1', 'Alice'), participant(s, 'r2', 'Bob')]);
    await waitFor(async () => (await list(s)).filter((r) => r.state === 'recording').length === 2, { timeoutMs: 20_000, description: 'two recordings' });
    for (const p of [alice, bob]) await waitFor(() => p.page.getByTestId('recording').isVisible(), { description: `${p.name} sees REC` });
    const rooms = (await api<{ rooms: Array<{ room: string; participants: Array<{ role: string }>; recordingId?: string }> }>(s, '/api/rooms')).body.rooms;
    expect(rooms.map((r) => [r.room, r.participants.filter((p) => p.role === 'recorder').length, Boolean(r.recordingId)]).sort()).toEqual([
      ['r1', 1, true],
      ['r2', 1, true],
    ]);
    await sleep(5000);

    await alice.page.getByTestId('leave').click();
    await waitFor(async () => (await list(s)).find((r) => r.room === 'r1')?.state === 'done', { timeoutMs: 30_000, description: 'r1 stopped' });
    expect((await list(s)).find((r) => r.room === 'r2')?.state).toBe('recording');

    s.cli.kill('SIGTERM');
    const exit = await s.cli.exited;
    expect(exit.code).toBe(0);
    expect(s.cli.stdout.join('\n')).toMatch(/finalizing 1 recording/);
    for (const [room, name] of [['r1', 'Alice'], ['r2', 'Bob']] as const) {
      const [rec] = listRecordingsOnDisk(s.out).filter((r) => r.room === room);
      expect(rec, room).toMatchObject({ state: 'done', participants: [name] });
      const dir = join(s.out, room, rec!.id);
      await expectPlayableFiles(dir, JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest, [name]);
    }
  });
});

describe('crash recovery', () => {
  it('SIGKILL of serve mid-recording, then a restart: the recording is repaired and marked recovered', async () => {
    const s = await serve([...SMALL_COMPOSITE]);
    const { body } = await api(s, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'crash' }) });
    const alice = await participant(s, 'crash', 'Alice');
    await waitFor(() => alice.page.getByTestId('recording').isVisible());
    await sleep(8000);
    s.cli.kill('SIGKILL');
    await s.cli.exited;
    await alice.close();
    const dir = join(s.out, 'crash', body.id);
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).state).toBe('recording');

    const again = await serve([...SMALL_COMPOSITE], s.out);
    const rec = await waitFor(async () => (await list(again)).find((r) => r.id === body.id && r.state === 'recovered'), { timeoutMs: 60_000, description: 'recovered' });
    expect(rec.participants).toEqual(['Alice']);
    const manifest = (await api<Manifest & { recoveredAt?: string }>(again, `/api/recordings/${body.id}`)).body;
    expect(manifest).toMatchObject({ state: 'recovered', stoppedAt: expect.any(String), recoveredAt: expect.any(String) });
    await expectPlayableFiles(dir, manifest, ['Alice']);
    for (const t of manifest.tracks) expect(await streamDuration(trackPath(dir, t), t.kind)).toBeGreaterThan(5);
    // What the composite had written survived as a regular MP4 (when there was a composite at all).
    if (manifest.composite) {
      expect(existsSync(join(dir, 'recording.part.mp4'))).toBe(false);
      if (manifest.composite.state === 'done') expect(await streamDuration(join(dir, manifest.composite.file), 'video')).toBeGreaterThan(4);
    }
  });
});

describe('a full disk', () => {
  it('fails the recording with the reason, keeps what was written, and the server keeps running', async () => {
    // A 40 KiB tmpfs as the output root, mounted in a private mount namespace of the server process only.
    const mountPoint = mkdtempSync(join(tmpdir(), 'rtc-full-'));
    const cli = new CliProcess(['serve', '--port', '0', '--out', mountPoint, '--no-composite'], {}, {
      command: 'unshare',
      prefix: ['-m', 'sh', '-c', 'mount -t tmpfs -o size=40k tmpfs "$0" && exec "$@"', mountPoint],
    });
    cleanups.push(() => cli.kill('SIGKILL'));
    const url = (await cli.waitForLine(/^rtc-record server listening on /, 30_000)).replace(/^rtc-record server listening on /, '');
    const s: Serve = { cli, url, out: mountPoint };
    const { body } = await api(s, '/api/recordings', { method: 'POST', body: JSON.stringify({ room: 'full' }) });
    const alice = await participant(s, 'full', 'Alice');
    const failed = await waitFor(async () => (await list(s)).find((r) => r.id === body.id && r.state === 'failed'), { timeoutMs: 90_000, description: 'failed' });
    expect(failed.error).toMatch(/DISK_FULL: .*no space left on device/i);
    const tracks = failed.files.filter((f) => f.kind === 'track');
    expect(tracks.length).toBeGreaterThan(0);
    expect(tracks.reduce((n, f) => n + f.bytes, 0)).toBeGreaterThan(10_000);
    // What was written is still served.
    const res = await fetch(`${s.url}/recordings/${body.id}/files/${tracks[0]!.path}`, { headers: { range: 'bytes=0-3' } });
    expect(res.status).toBe(206);
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([0x1a, 0x45, 0xdf, 0xa3]); // EBML magic
    // The server is fine: health, API, and the room (the recorder has left; Alice is still connected to nobody).
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect((await api(s, `/api/recordings/${body.id}`)).body).toMatchObject({ state: 'failed', error: expect.stringMatching(/DISK_FULL/) });
    await waitFor(async () => !(await alice.page.getByTestId('recording').isVisible()), { description: 'REC gone' });
    expect(await alice.page.getByTestId('status').textContent()).not.toBe('error');
  });
});

interface HookEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

async function webhookReceiver(statuses: number[]) {
  const events: HookEvent[] = [];
  const requests: Array<{ body: string; signature?: string }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ body, signature: req.headers['x-rtc-record-signature'] as string | undefined });
      events.push(JSON.parse(body) as HookEvent);
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, events, requests };
}
