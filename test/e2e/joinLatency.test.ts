// Join latency without contention: one Chromium joins an idle SFU room, then a room where others already publish, and
// each phase of its join is timed (page events and the server's debug log on one clock) and printed as a table. The
// bound is the product goal (issue 16): join → first packet at the recording ≤ 1 s, here where nothing else competes.
// Run: JOIN_LATENCY=1 [JOIN_LATENCY_RUNS=3 JOIN_LATENCY_OTHERS=3 JOIN_LATENCY_DUMP=1 JOIN_LATENCY_PROFILE=1 JOIN_LATENCY_BROWSERS=1]
//   flock /tmp/heavy.lock node scripts/in-netns.mjs npx vitest run test/e2e/joinLatency.test.ts
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { launchParticipant } from '../harness/browser.js';
import { CliProcess, serveTestLifecycle } from '../harness/cli.js';
import { videoFixture as encodedVideoFixture } from '../../bench/fixtures.js';
import { loadIvf, loadOggOpus } from '../../bench/loadgen/media.js';
import { MediaScheduler, SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { audioFixture, opusToneFixture, videoFixture } from '../harness/fixtures.js';
import { instrumentJoin, logLines, pageMarks, profilePage, type LogLine, type PageMark } from '../harness/joinTiming.js';
import { favourProcess } from '../harness/priority.js';
import { waitFor } from '../harness/util.js';

const cleanups = serveTestLifecycle();
const RUNS = Number(process.env.JOIN_LATENCY_RUNS ?? 3);
/** Publishers already in the busy room. */
const OTHERS = Number(process.env.JOIN_LATENCY_OTHERS ?? 2);
const FIRST_PACKET_GOAL_MS = 1000;

type Row = Record<string, number | undefined>;

function manifests(out: string): Manifest[] {
  const found: Manifest[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name === 'manifest.json') found.push(JSON.parse(readFileSync(join(dir, e.name), 'utf8')) as Manifest);
    }
  };
  walk(out);
  return found;
}

/** Each phase of `name`'s join, in ms after its click. */
function phases(name: string, clickAt: number, marks: PageMark[], log: LogLine[], out: string): Row {
  const page = (ev: string, pred: (m: PageMark) => boolean = () => true) => marks.find((m) => m.ev === ev && pred(m))?.t;
  const server = (msg: string, pred: (l: LogLine) => boolean = () => true) => log.find((l) => l.msg === msg && l.peer === name && pred(l))?.time;
  // The upload: the first connection that got checking without receiving anything (not a mesh PC that never connects).
  const receives = new Set(marks.filter((m) => m.ev.startsWith('track ')).map((m) => m.pc));
  const sendPc = marks.find((m) => m.ev === 'ice checking' && !receives.has(m.pc))?.pc;
  const sendSession = marks.find((m) => m.ev === 'out createOffer')?.session;
  const recvSession = marks.find((m) => m.ev === 'in createOffer')?.session;
  const recvPc = marks.find((m) => m.ev === 'track video' && m.pc !== sendPc)?.pc;
  const entry = manifests(out).flatMap((m) => m.participants.filter((p) => p.name === name).map((p) => ({ p, m })))[0];
  const firsts = entry ? entry.m.tracks.filter((t) => t.participantId === entry.p.id && t.firstPacketAtMs).map((t) => t.firstPacketAtMs!) : [];
  const row: Row = {
    'ws open': page('ws open'),
    'join sent': page('out join'),
    'join at server': server('sfu: peer joined'),
    joined: page('in joined'),
    'pub offer sent': page('out createOffer'),
    'pub offer at server': server('publisher offer received'),
    'pub answer in page': page('in createAnswer', (m) => m.session === sendSession),
    'pub ICE connected (server)': server('publisher ice state', (l) => l.state === 'connected'),
    'pub ICE connected (page)': page('ice connected', (m) => m.pc === sendPc),
    'pub connected (server, DTLS)': server('publisher connection state', (l) => l.state === 'connected'),
    'pub connected (page)': page('conn connected', (m) => m.pc === sendPc),
    'pub first RTP at server': server('publisher first rtp'),
    'first packet at recording': firsts.length ? Math.min(...firsts) : undefined,
    'recording joinedAtMs': entry?.p.joinedAtMs,
    'sub offer in page': page('in createOffer'),
    'sub answer sent': page('out createAnswer', (m) => m.session === recvSession),
    'sub connected (server)': server('subscriber connection state', (l) => l.state === 'connected'),
    'sub connected (page)': page('conn connected', (m) => m.pc === recvPc),
    'sub first frame': page('first frame', (m) => m.pc === recvPc),
  };
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === undefined ? undefined : v - clickAt]));
}

function printTable(title: string, rows: Row[]): void {
  const keys = Object.keys(rows[0]!);
  const cell = (v: number | undefined) => (v === undefined ? '-' : String(Math.round(v))).padStart(6);
  const lines = keys.map((k) => `${k.padEnd(30)}${rows.map((r) => cell(r[k])).join('')}`);
  console.log(`${title} (ms after the join click, one column a run)\n${lines.join('\n')}`);
}

// A measurement, run on demand (JOIN_LATENCY=1): its werift publishers did not all reach the recording within 30 s in
// 2 of 7 runs (not investigated yet), and a loaded CI machine's phases are contention, not what this looks for.
describe.runIf(process.env.JOIN_LATENCY === '1')('join latency (one browser, nothing else joining)', () => {
  it(`idle room and a room with ${OTHERS} publishers: join → first packet at the recording ≤ ${FIRST_PACKET_GOAL_MS} ms`, async () => {
    const out = mkdtempSync(join(tmpdir(), 'rtc-join-'));
    const cli = new CliProcess(['serve', '--port', '0', '--out', out, '--auto-record', '--size', '480x360', '--fps', '10', '--log-level', 'debug'], {}, undefined, { detached: true });
    cleanups.push(async () => {
      cli.kill('SIGINT');
      await Promise.race([cli.exited, new Promise((r) => setTimeout(r, 15_000))]);
      cli.kill('SIGKILL');
    });
    const url = (await cli.waitForLine(/^rtc-record server listening on /, 30_000)).replace(/^rtc-record server listening on /, '');
    favourProcess(cli.pid);
    // A typical webcam's size (two simulcast layers) with a voice.
    const video = await videoFixture({ kind: 'color', color: 'blue', width: 640, height: 480, fps: 15 });
    const audio = await audioFixture({ freq: 440, seconds: 4 });
    const joiner = await launchParticipant({ name: 'joiner', video, audio });
    cleanups.push(() => joiner.close());
    await instrumentJoin(joiner.page);

    const measure = async (room: string, name: string, others: number): Promise<Row> => {
      await joiner.page.goto(`${url}/room/${room}?name=${name}`);
      // JOIN_LATENCY_PROFILE=1: the page's CPU profile of its first 2 s after the click, its busiest functions printed.
      const profiling = process.env.JOIN_LATENCY_PROFILE ? await profilePage(joiner.page) : undefined;
      const clickAt = Date.now();
      await joiner.page.getByTestId('join').click();
      if (profiling) console.log(await profiling(2000));
      const done = async () => {
        const marks = await pageMarks(joiner.page);
        const row = phases(name, clickAt, marks, logLines(cli.stderr), out);
        return row['first packet at recording'] !== undefined && row['pub first RTP at server'] !== undefined && (others === 0 || row['sub first frame'] !== undefined) ? row : undefined;
      };
      const row = await waitFor(done, { timeoutMs: 20_000, intervalMs: 250, description: `${name}'s join completed` });
      // The page's events up to now (the server's first packet can come before the page has seen its last states).
      await new Promise((r) => setTimeout(r, 500));
      Object.assign(row, phases(name, clickAt, await pageMarks(joiner.page), logLines(cli.stderr), out));
      if (process.env.JOIN_LATENCY_DUMP) {
        console.log(JSON.stringify((await pageMarks(joiner.page)).map((m) => ({ ...m, t: m.t - clickAt }))));
        const mine = logLines(cli.stderr).filter((l) => l.time >= clickAt && (l.peer === name || l.subscriber === name || l.participant === name));
        console.log(mine.map((l) => `${l.time - clickAt} ${l.msg} ${JSON.stringify({ ...l, time: undefined, msg: undefined, level: undefined, pid: undefined, hostname: undefined })}`).join('\n'));
      }
      await joiner.page.goto('about:blank');
      return row;
    };

    const idle: Row[] = [];
    for (let i = 0; i < RUNS; i++) idle.push(await measure(`idle-${i}`, `solo${i}`, 0));
    printTable('one browser joins an idle SFU room', idle);

    // The others: werift publishers (pre-encoded VP8 at 320x240, a PLI answered with the clip's next keyframe, and a
    // voice), so the joiner's phases are not those of three browsers on two cores; JOIN_LATENCY_BROWSERS=1: Chromiums.
    if (process.env.JOIN_LATENCY_BROWSERS === '1') {
      const video2 = await videoFixture({ kind: 'color', color: 'red', width: 320, height: 240, fps: 15 });
      for (let i = 0; i < OTHERS; i++) {
        const p = await launchParticipant({ name: `other${i}`, video: video2, audio, url: `${url}/room/busy?name=other${i}&autojoin=1` });
        cleanups.push(() => p.close());
      }
    } else {
      const scheduler = new MediaScheduler();
      cleanups.push(() => scheduler.stop());
      const clip = loadIvf((await encodedVideoFixture({ width: 320, height: 240, fps: 15, kbps: 300, keyframeSeconds: 1, seconds: 10, variant: 1 })).path);
      const voice = loadOggOpus(await opusToneFixture({ freq: 500, burstOffMs: 0, phases: [{ seconds: 4, amplitude: 0.2 }] }));
      for (let i = 0; i < OTHERS; i++) {
        const p = new SyntheticParticipant({ serverUrl: url.replace(/^http/, 'ws'), room: 'busy', name: `other${i}`, video: clip, audio: voice, startOffset: i, scheduler });
        cleanups.push(() => p.close());
        await p.join();
      }
    }
    // The others publish before the measured joins.
    await waitFor(() => logLines(cli.stderr).filter((l) => l.msg === 'first packet of track' && String(l.participant).startsWith('other')).length >= 2 * OTHERS, { timeoutMs: 30_000, description: 'the others publish' }).catch((err) => {
      throw new Error(`${(err as Error).message}\nserve: ${cli.stderr.slice(-15).join('\n')}`);
    });
    await new Promise((r) => setTimeout(r, 2000));
    const busy: Row[] = [];
    for (let i = 0; i < RUNS; i++) busy.push(await measure('busy', `late${i}`, OTHERS));
    printTable(`one browser joins a room where ${OTHERS} publish`, busy);

    for (const row of [...idle, ...busy]) expect(row['first packet at recording']! - row['recording joinedAtMs']!).toBeLessThan(FIRST_PACKET_GOAL_MS);
  });
});
