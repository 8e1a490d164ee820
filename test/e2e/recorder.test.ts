// The recorder peer end to end: real Chromium participants in our room page, our server, the real CLI (werift peer)
// and ffmpeg to check what was written: tones, colours, durations, manifest, SIGKILL survival, the lecture's Sender.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import type { RunningServer } from '../../src/http/HttpServerTypes.js';
import type { Manifest, TrackEntry } from '../../src/recording/ManifestTypes.js';
import { decodeAudioPcm, decodeErrors, NAMED_COLORS, nearestNamedColor, sampleColor, streamDuration, tonePresence } from '../harness/analyze.js';
import { launchParticipant, type Participant } from '../harness/browser.js';
import { CliProcess } from '../harness/cli.js';
import { roomParticipant } from '../harness/roomPage.js';
import { startTurnServer } from '../harness/turn.js';
import { audioFixture, videoFixture } from '../harness/fixtures.js';
import { waitFor, trackPath } from '../harness/util.js';

const TONES = { Alice: 440, Bob: 880, Carol: 660 } as const;
const COLORS = { Alice: 'red', Bob: 'blue', Carol: 'lime' } as const;
const ALL_TONES = Object.values(TONES);
const PALETTE = Object.fromEntries(['red', 'blue', 'lime', 'black', 'white'].map((n) => [n, NAMED_COLORS[n]!]));
type Name = keyof typeof TONES;

type Cleanups = Array<() => Promise<unknown> | void>;
const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(options: Parameters<typeof startServer>[0] = {}, owner: Cleanups = cleanups): Promise<RunningServer> {
  const s = await startServer({ port: 0, ...options });
  owner.push(() => s.close());
  return s;
}

function recorder(args: string[], env?: NodeJS.ProcessEnv, owner: Cleanups = cleanups): CliProcess {
  // Per-track behaviour is what these tests check; the mixed MP4 has its own tests (composite*.test.ts).
  const cli = new CliProcess(['--ice-address', '127.0.0.1', '--no-composite', ...args], env);
  owner.push(() => cli.kill('SIGKILL'));
  return cli;
}

async function participant(s: RunningServer, room: string, name: Name, query = ''): Promise<Participant> {
  const p = await roomParticipant(s.url, room, name, { color: COLORS[name], freq: TONES[name], query });
  cleanups.push(() => p.close());
  return p;
}

async function connected(p: Participant): Promise<number> {
  await waitFor(async () => (await p.page.getByTestId('status').textContent()) === 'connected', { timeoutMs: 20_000, description: `${p.name} connected` });
  return Date.now();
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

async function expectTone(file: string, tone: number): Promise<void> {
  const pcm = await decodeAudioPcm(file);
  const { present } = tonePresence(pcm, 48_000, ALL_TONES);
  expect(present, `${file} tones`).toEqual([tone]);
}

async function expectColor(file: string, color: string): Promise<void> {
  const dur = await streamDuration(file, 'video');
  for (const t of [dur * 0.25, dur * 0.75]) {
    const rgb = await sampleColor(file, { timeSec: t, x: 140, y: 100, w: 40, h: 40 });
    expect(nearestNamedColor(rgb, PALETTE).name, `${file} at ${t.toFixed(1)} s`).toBe(color);
  }
}

describe('rtc-record --room', () => {
  it('records every participant per track: leave/rejoin makes a new segment, late joiners are picked up', async () => {
    const s = await server();
    const out = mkdtempSync(join(tmpdir(), 'rtc-rec-'));
    const cli = recorder(['--room', 'rec', '--server', s.wsUrl, '--out', out, '--json']);
    await cli.waitForLine(/^recording room rec into /);
    // The recorder is not a tile, but pages show "● Recording".
    const [alice, bob] = await Promise.all([participant(s, 'rec', 'Alice'), participant(s, 'rec', 'Bob')]);
    const [aliceIn, bobIn] = await Promise.all([connected(alice), connected(bob)]);
    expect(await alice.page.getByTestId('recording').isVisible()).toBe(true);
    expect(await alice.page.locator('[data-testid=tile]').count()).toBe(1);

    await new Promise((r) => setTimeout(r, 9000));
    await bob.page.getByTestId('leave').click();
    const bobOut = Date.now();
    const carol = await participant(s, 'rec', 'Carol');
    const carolIn = await connected(carol);
    await bob.page.getByTestId('join').click();
    const bobIn2 = await connected(bob);
    await new Promise((r) => setTimeout(r, 9000));
    cli.kill('SIGINT');
    const stopAt = Date.now();
    expect((await cli.exited).code).toBe(0);

    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    expect(summary.dir.startsWith(out)).toBe(true);
    const manifest = readManifest(summary.dir);
    expect(manifest).toMatchObject({ room: 'rec', state: 'done', id: summary.id });
    expect(manifest.participants.map((p) => p.name).sort()).toEqual(['Alice', 'Bob', 'Bob', 'Carol']);
    expect(manifest.tracks).toHaveLength(8);
    expect(readdirSync(join(summary.dir, 'tracks')).sort()).toEqual(manifest.tracks.map((t) => t.file!.slice('tracks/'.length)).sort());

    const bobIds = manifest.participants.filter((p) => p.name === 'Bob').map((p) => p.id);
    expect(new Set(bobIds).size).toBe(2);
    const presence: Record<string, { from: number; to: number }> = {
      [manifest.participants.find((p) => p.name === 'Alice')!.id]: { from: aliceIn, to: stopAt },
      [bobIds[0]!]: { from: bobIn, to: bobOut },
      [bobIds[1]!]: { from: bobIn2, to: stopAt },
      [manifest.participants.find((p) => p.name === 'Carol')!.id]: { from: carolIn, to: stopAt },
    };

    // The eight tracks are checked concurrently (ffmpeg runs; the checks of each are independent of the others').
    await Promise.all(
      manifest.tracks.map(async (track) => {
        const file = trackPath(summary.dir, track);
        const name = track.participantName as Name;
        expect(await decodeErrors(file), track.file).toEqual([]);
        checkManifestTrack(track);
        const seconds = await streamDuration(file, track.kind);
        // Present from when the recorder's own connection carried media: a page says "connected" once any of its mesh
        // connections is up, and the one to the recorder can follow seconds later on a loaded machine (the SFU's job).
        const { to } = presence[track.participantId]!;
        // The page's "connected" is seen by polling, up to a few hundred ms after the fact: media that reached the
        // recorder before the test saw it counts from its first packet.
        const from = Math.min(presence[track.participantId]!.from, track.firstPacketAtMs!);
        const lateMs = Math.max(0, track.firstPacketAtMs! - from);
        if (lateMs > 300) console.log(`${track.file}: the recorder's first packet came ${lateMs} ms after the page said connected`);
        const expected = (to - from - lateMs) / 1000;
        expect(Math.abs(seconds - expected) / expected, `${track.file}: ${seconds.toFixed(2)} s vs present ${expected.toFixed(2)} s`).toBeLessThan(0.05);
        if (track.kind === 'audio') await expectTone(file, TONES[name]);
        else await expectColor(file, COLORS[name]);
      }),
    );
  });

  it('starts its own server when run without --server, prints the join URL and stops after --duration', async () => {
    // The lecture's Sender page (a test below) is recorded meanwhile, on a server and with a recorder of its own: two
    // light one-browser recordings at once instead of one after the other.
    seedSenderRecording().catch(() => undefined);
    const out = mkdtempSync(join(tmpdir(), 'rtc-embedded-'));
    const cli = recorder(['--room', 'demo', '--port', '0', '--out', out, '--duration', '10']);
    const url = (await cli.waitForLine(/^join the room: http:\/\/127\.0\.0\.1:\d+\/room\/demo$/)).replace('join the room: ', '');
    const p = await launchParticipant({
      name: 'Alice',
      video: await videoFixture({ kind: 'color', color: COLORS.Alice }),
      audio: await audioFixture({ freq: TONES.Alice, seconds: 4 }),
      url: `${url}?name=Alice&autojoin=1`,
    });
    cleanups.push(() => p.close());
    await connected(p);
    expect((await cli.exited).code).toBe(0);
    const dir = cli.stdout.at(-1)!;
    expect(dir.startsWith(out + '/demo/')).toBe(true);
    const manifest = readManifest(dir);
    expect(manifest.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    for (const t of manifest.tracks) {
      if (t.kind === 'audio') await expectTone(trackPath(dir, t), TONES.Alice);
      else await expectColor(trackPath(dir, t), COLORS.Alice);
    }
  });

  it("keeps what it had of a participant whose browser tab crashed, and goes on recording the others", async () => {
    const s = await server();
    const out = mkdtempSync(join(tmpdir(), 'rtc-crash-'));
    const cli = recorder(['--room', 'crash', '--server', s.wsUrl, '--out', out, '--json']);
    await cli.waitForLine(/^recording room crash into /);
    const [alice, bob] = await Promise.all([participant(s, 'crash', 'Alice'), participant(s, 'crash', 'Bob')]);
    await Promise.all([connected(alice), connected(bob)]);
    await new Promise((r) => setTimeout(r, 6000));
    await bob.page.goto('chrome://crash').catch(() => undefined);
    const crashedAt = Date.now();
    await waitFor(() => cli.stdout.some((l) => l === '- Bob left'), { timeoutMs: 20_000, description: 'the recorder notices the crash' });
    await new Promise((r) => setTimeout(r, 4000));
    cli.kill('SIGINT');
    const stoppedAt = Date.now();
    expect((await cli.exited).code).toBe(0);
    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const bobTracks = summary.tracks.filter((t) => t.participantName === 'Bob');
    expect(bobTracks.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    for (const t of bobTracks) {
      const file = trackPath(summary.dir, t);
      expect(await decodeErrors(file)).toEqual([]);
      expect(t.endedAtMs!).toBeLessThan(stoppedAt - 2000);
      expect(await streamDuration(file, t.kind)).toBeGreaterThan(5);
      if (t.kind === 'audio') await expectTone(file, TONES.Bob);
    }
    const aliceVideo = summary.tracks.find((t) => t.participantName === 'Alice' && t.kind === 'video')!;
    // Alice was recorded past Bob's crash, up to the stop.
    expect(aliceVideo.lastPacketAtMs!).toBeGreaterThan(crashedAt + 3000);
    await expectColor(trackPath(summary.dir, aliceVideo), COLORS.Alice);
  });

  it("records the lecture's unmodified Sender page in room default", async () => {
    const { code, dir } = await seedSenderRecording();
    expect(code).toBe(0);
    const manifest = readManifest(dir);
    expect(manifest.tracks).toHaveLength(1);
    const [track] = manifest.tracks;
    expect(track).toMatchObject({ kind: 'video', codec: 'vp8', participantName: 'seed-sender' });
    const file = trackPath(dir, track!);
    expect(await decodeErrors(file)).toEqual([]);
    expect(await streamDuration(file, 'video')).toBeGreaterThan(4.5);
    await expectColor(file, 'blue');
  });
});

/**
 * The lecture's unmodified Sender page (blue camera) in room "default", recorded for ~6 s once connected: made once,
 * while the --duration test runs (or when first asked for), with its own server, browser and recorder, all closed when
 * done (that test's cleanups must not cut it short).
 */
let seedRun: Promise<{ code: number | null; dir: string }> | undefined;
function seedSenderRecording(): Promise<{ code: number | null; dir: string }> {
  return (seedRun ??= (async () => {
    const own: Cleanups = [];
    try {
      const s = await server({}, own);
      const out = mkdtempSync(join(tmpdir(), 'rtc-seed-'));
      const cli = recorder(['--room', 'default', '--server', s.wsUrl, '--out', out], undefined, own);
      await cli.waitForLine(/^recording room default into /);
      const sender = await launchParticipant({
        name: 'seed-sender',
        video: await videoFixture({ kind: 'color', color: 'blue' }),
        url: `${s.url}/seed/sender`,
      });
      own.push(() => sender.close());
      await sender.page.getByTestId('send').click();
      await waitFor(() => sender.page.evaluate(() => (window as unknown as { pc?: RTCPeerConnection }).pc?.connectionState === 'connected'), {
        timeoutMs: 20_000,
        description: 'seed sender connected to the recorder',
      });
      await new Promise((r) => setTimeout(r, 6000));
      cli.kill('SIGINT');
      const { code } = await cli.exited;
      return { code, dir: cli.stdout.at(-1)! };
    } finally {
      for (const c of own.splice(0).reverse()) await c();
    }
  })());
}

// One participant that may only use TURN relay candidates, recorded by two recorders at once: one is SIGKILLed, the
// other stopped as usual. Each test checks its own recorder's files; Alice joins (and connects through coturn) once.
describe('rtc-record --room: one participant, two recorders', () => {
  const shared: Array<() => Promise<unknown> | void> = [];
  let alice: Participant;
  let killable: { cli: CliProcess; dir: string };
  let relayed: CliProcess;
  let aliceIn: number;
  beforeAll(async () => {
    const turn = await startTurnServer();
    shared.push(() => turn.stop());
    const s = await server({ iceServers: [{ urls: turn.urls, username: turn.username, credential: turn.credential }] });
    const kill = recorder(['--room', 'relay', '--server', s.wsUrl, '--out', mkdtempSync(join(tmpdir(), 'rtc-kill-'))]);
    relayed = recorder(['--room', 'relay', '--server', s.wsUrl, '--out', mkdtempSync(join(tmpdir(), 'rtc-relay-'))]);
    const [dirLine] = await Promise.all([kill.waitForLine(/^recording room relay into /), relayed.waitForLine(/^recording room relay into /)]);
    killable = { cli: kill, dir: dirLine.replace(/^recording room relay into /, '') };
    alice = await participant(s, 'relay', 'Alice', '&relay=1');
    aliceIn = await connected(alice);
    // Kept for both tests: stopped after the last one, not after each.
    shared.push(...cleanups.splice(0));
  }, 120_000);
  afterAll(async () => {
    for (const c of shared.splice(0).reverse()) await c();
  });

  it('leaves decodable track files when killed with SIGKILL mid-recording', async () => {
    const { cli, dir } = killable;
    const since = aliceIn;
    await new Promise((r) => setTimeout(r, Math.max(0, since + 8000 - Date.now())));
    cli.kill('SIGKILL');
    const killedAfter = (Date.now() - since) / 1000;
    await cli.exited;

    const manifest = readManifest(dir);
    expect(manifest.state).toBe('recording'); // never finalized…
    expect(manifest.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    for (const track of manifest.tracks) {
      const file = trackPath(dir, track);
      expect(await decodeErrors(file), track.file).toEqual([]);
      const seconds = await streamDuration(file, track.kind);
      // …yet everything but the last second or so is there.
      expect(seconds, track.file).toBeGreaterThan(killedAfter - 1.5);
      if (track.kind === 'audio') await expectTone(file, TONES.Alice);
      else await expectColor(file, COLORS.Alice);
    }
  });

  it('records a participant that may only use TURN relay candidates (server ICE config reaches the recorder)', async () => {
    const cli = relayed;
    const pairs = await alice.page.evaluate(() => (window as unknown as { rtcRoom: { selectedCandidateTypes(): Promise<Array<{ local: string }>> } }).rtcRoom.selectedCandidateTypes());
    expect(pairs.length).toBeGreaterThan(0);
    expect(pairs.every((p) => p.local === 'relay')).toBe(true);
    await new Promise((r) => setTimeout(r, Math.max(0, aliceIn + 6000 - Date.now())));
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    const dir = cli.stdout.at(-1)!;
    const manifest = readManifest(dir);
    expect(manifest.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    for (const t of manifest.tracks) {
      const file = trackPath(dir, t);
      expect(await streamDuration(file, t.kind)).toBeGreaterThan(4);
      if (t.kind === 'audio') await expectTone(file, TONES.Alice);
      else await expectColor(file, COLORS.Alice);
    }
  });
});

describe('rtc-record --room with unusual participants', () => {
  it('records audio-only, video-only H.264 participants and a camera added later by renegotiation', async () => {
    const s = await server();
    const out = mkdtempSync(join(tmpdir(), 'rtc-mixed-'));
    const cli = recorder(['--room', 'odd', '--server', s.wsUrl, '--out', out, '--json', '--log-level', 'info']);
    await cli.waitForLine(/^recording room odd into /);
    // Alice: audio only. Bob: video only, offering nothing but H.264. Carol: audio+video, then a second camera.
    const [alice, bob, carol] = await Promise.all([
      participant(s, 'odd', 'Alice', '&video=0'),
      participant(s, 'odd', 'Bob', '&audio=0&codec=h264'),
      participant(s, 'odd', 'Carol'),
    ]);
    await Promise.all([connected(alice), connected(bob), connected(carol)]);
    // The recorder has each of their tracks (its 'recording track' lines) before the timed part: a page that says
    // connected is not yet a recorder that receives it (a CI run under load: Alice's audio not there 8 s later).
    // …and media on each: a negotiated track is not a received one (a CI run: no packet on any track for 9 s after the
    // recorder was starved at the start).
    const recording = (name: string, kind: string) => cli.stderr.some((l) => l.includes('"first packet of track"') && l.includes(`"participant":"${name}"`) && l.includes(`"kind":"${kind}"`));
    await waitFor(() => recording('Alice', 'audio') && recording('Bob', 'video') && recording('Carol', 'audio') && recording('Carol', 'video'), {
      timeoutMs: 30_000,
      description: "the recorder receives Alice's audio, Bob's video and Carol's audio and video",
    });
    await new Promise((r) => setTimeout(r, 2000));
    await carol.page.evaluate(() => {
      // A "second camera": a canvas painted solid white, published to everyone on the existing connections.
      const canvas = Object.assign(document.createElement('canvas'), { width: 320, height: 240 });
      const ctx = canvas.getContext('2d')!;
      setInterval(() => {
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(0, 0, 320, 240);
      }, 66);
      (window as unknown as { rtcRoom: { publish(s: MediaStream): void } }).rtcRoom.publish(canvas.captureStream(15));
    });
    await new Promise((r) => setTimeout(r, 6000));
    // What each page's connections and the server's forwarding looked like, for the failure message: a participant
    // missing from the recording was once a page whose upload had hung while its other connection said connected.
    const pages = await Promise.all([alice, bob, carol].map(async (p) => `${p.name}: ${JSON.stringify(await p.page.evaluate(() => window.rtcRoom.peers()))}`));
    const forwarded = (s.sfu as unknown as { rooms: Map<string, { tracks: Array<{ kind: string; packetsReceived: number; remote: { participant: { name: string } } }> }> }).rooms
      .get('odd')
      ?.tracks.map((t) => `${t.remote.participant.name} ${t.kind}: ${t.packetsReceived} packets in`);
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const byName = (n: string) => summary.tracks.filter((t) => t.participantName === n).map((t) => `${t.kind}/${t.codec}`).sort();
    const diagnosis = [...pages, `server: ${forwarded?.join(', ')}`, ...cli.stderr.filter((l) => /"level":(40|50)/.test(l)).slice(-15)].join('\n');
    expect(byName('Alice'), diagnosis).toEqual(['audio/opus']);
    expect(byName('Bob'), diagnosis).toEqual(['video/h264']);
    expect(byName('Carol'), diagnosis).toEqual(['audio/opus', 'video/vp8', 'video/vp8']);
    for (const track of summary.tracks) {
      const file = trackPath(summary.dir, track);
      expect(await decodeErrors(file), track.file).toEqual([]);
      if (track.codec === 'h264') expect(track.file!.endsWith('.mkv')).toBe(true);
      if (track.kind === 'audio') await expectTone(file, TONES[track.participantName as Name]);
    }
    await expectColor(trackPath(summary.dir, summary.tracks.find((t) => t.participantName === 'Bob')!), COLORS.Bob);
    const carolVideo = summary.tracks.filter((t) => t.participantName === 'Carol' && t.kind === 'video');
    const colours = await Promise.all(
      carolVideo.map(async (t) => {
        const file = trackPath(summary.dir, t);
        const rgb = await sampleColor(file, { timeSec: (await streamDuration(file, 'video')) / 2, x: 140, y: 100, w: 40, h: 40 });
        return nearestNamedColor(rgb, PALETTE).name;
      }),
    );
    expect(colours.sort()).toEqual(['lime', 'white']);
  });
});

describe('rtc-record failures', () => {
  it('exits non-zero with a clear message when the server is unreachable or the room name is bad', async () => {
    // The three run at once; each is judged alone.
    const unreachable = recorder(['--room', 'x', '--server', 'ws://127.0.0.1:9']);
    const bad = recorder(['--room', '../etc']);
    const noFfmpeg = recorder(['--room', 'x', '--server', 'ws://127.0.0.1:9'], { FFMPEG_PATH: '/nonexistent/ffmpeg' });
    expect((await unreachable.exited).code).not.toBe(0);
    expect(unreachable.stderr.join('\n')).toMatch(/SERVER_UNREACHABLE.*127\.0\.0\.1:9/);

    expect((await bad.exited).code).not.toBe(0);
    expect(bad.stderr.join('\n')).toMatch(/BAD_ROOM_NAME/);

    expect((await noFfmpeg.exited).code).not.toBe(0);
    expect(noFfmpeg.stderr.join('\n')).toMatch(/FFMPEG_NOT_FOUND/);
  });
});

function checkManifestTrack(track: TrackEntry): void {
  expect(track.packetsReceived, track.file).toBeGreaterThan(100);
  expect(track.packetsLost).toBeGreaterThanOrEqual(0);
  expect(track.firstPacketAtMs).toBeGreaterThan(0);
  expect(track.codec).toBe(track.kind === 'audio' ? 'opus' : 'vp8');
  expect(track.firstSenderReport?.ntpTimeMs, `${track.file} sender report`).toBeGreaterThan(0);
  if (track.kind === 'video') expect(track.keyframesRequested).toBeGreaterThanOrEqual(1);
}
