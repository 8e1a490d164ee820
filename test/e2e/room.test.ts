// End-to-end: real Chromium (one process per participant, fake camera/mic fed from fixtures) against our real HTTP +
// signaling server, all on 127.0.0.1 inside the test network namespace. Every check is on content: each receiver must
// decode frames of the *sender's* colour, hear the *sender's* tone, and never see peers of another room.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import type { HttpServerOptions, RunningServer } from '../../src/http/HttpServerTypes.js';
import { launchParticipant, type LaunchParticipantOptions, type Participant } from '../harness/browser.js';
import { audioFixture, colorToRgb, videoFixture, type Rgb } from '../harness/fixtures.js';
import { assertNetworkIsolated } from '../harness/netns.js';
import { startTurnServer } from '../harness/turn.js';
import { tileTone, type Tone } from '../harness/tileMedia.js';
import { waitFor } from '../harness/util.js';
import { TestClient } from '../signaling/wsClient.js';

// ───────────────────────────── page-side types ─────────────────────────────

interface InboundStat {
  peerId: string;
  name: string;
  kind: 'audio' | 'video';
  bytesReceived: number;
  packetsReceived: number;
  framesDecoded: number;
  totalSamplesReceived: number;
  audioLevel: number;
}

interface RoomPeer {
  id: string;
  name: string;
  role: string;
  recvState?: RTCPeerConnectionState;
  sendState?: RTCPeerConnectionState;
}

interface SignalLogEntry {
  type?: string;
  from?: string;
  id?: string;
  peer?: { id: string };
  peers?: Array<{ id: string }>;
}

declare global {
  interface Window {
    /** Test hooks of src/http/public/room.js. */
    rtcRoom: {
      readonly id: string | undefined;
      peers(): RoomPeer[];
      inboundStats(): Promise<InboundStat[]>;
      outboundStats(): Promise<Array<{ kind: string; packetsSent: number; framesEncoded?: number; qualityLimitationReason?: string; active?: boolean }>>;
      selectedCandidateTypes(): Promise<Array<{ local?: string; remote?: string }>>;
      tileColor(peerId: string): { r: number; g: number; b: number } | null;
    };
    /** The seed pages' RTCPeerConnection. */
    pc?: RTCPeerConnection;
    /** Every signaling message the room page received (recorded by SIGNAL_LOG_SCRIPT). */
    __signalLog?: SignalLogEntry[];
  }
}

// Installed before the room page's own script runs: records every message its WebSocket receives, so a test can
// assert what a page *ever* saw (not just its state at the end).
function SIGNAL_LOG_SCRIPT(): void {
  const Native = window.WebSocket;
  window.__signalLog = [];
  window.WebSocket = class extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener('message', (e) => {
        try {
          window.__signalLog!.push(JSON.parse(String(e.data)));
        } catch {
          window.__signalLog!.push({ type: 'unparsable' });
        }
      });
    }
  };
}

/** Mean colour of the centre of the first <video> matching `selector`, after a few freshly presented frames. */
async function videoColor(selector: string): Promise<{ r: number; g: number; b: number } | null> {
  const video = document.querySelector<HTMLVideoElement>(selector);
  if (!video || !video.videoWidth) return null;
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no video frame within 3 s')), 3000);
      video.requestVideoFrameCallback(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  const canvas = document.createElement('canvas');
  canvas.width = 16;
  canvas.height = 16;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const w = video.videoWidth;
  const h = video.videoHeight;
  ctx.drawImage(video, w / 4, h / 4, w / 2, h / 2, 0, 0, 16, 16);
  const d = ctx.getImageData(0, 0, 16, 16).data;
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < d.length; i += 4) {
    r += d[i]!;
    g += d[i + 1]!;
    b += d[i + 2]!;
  }
  const n = d.length / 4;
  return { r: Math.round(r / n), g: Math.round(g / n), b: Math.round(b / n) };
}

// ───────────────────────────── node side ─────────────────────────────

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn().catch(() => {})));
});

/** The in-process server's debug log (kept in memory, quoted when media stops flowing). */
const serverLog: string[] = [];
const serverLogger = pino({ level: 'debug' }, {
  write: (line: string) => {
    if (serverLog.push(line) > 20_000) serverLog.splice(0, 5_000);
  },
});

async function serve(options: HttpServerOptions = {}): Promise<RunningServer> {
  const server = await startServer({ port: 0, host: '127.0.0.1', logger: serverLogger, ...options });
  cleanups.push(() => server.close());
  return server;
}

async function browser(opts: LaunchParticipantOptions): Promise<Participant> {
  const p = await launchParticipant(opts);
  cleanups.push(() => p.close());
  return p;
}

interface Look {
  color: string;
  freq: number;
}

// Far apart in RGB and in pitch (no tone is a harmonic of another).
const LOOKS = {
  ann: { color: '#ff0000', freq: 440 },
  bob: { color: '#00ff00', freq: 620 },
  cat: { color: '#0000ff', freq: 830 },
  dan: { color: '#ffff00', freq: 1150 },
} satisfies Record<string, Look>;
type Who = keyof typeof LOOKS;

interface Member extends Look {
  name: Who;
  room: string;
  p: Participant;
  page: Page;
  /** Current peer id (a rejoin changes it). */
  id: string;
}

function fixtures(look: Look): Promise<[string, string]> {
  return Promise.all([
    videoFixture({ kind: 'color', color: look.color, width: 320, height: 240, fps: 15, seconds: 1 }),
    audioFixture({ freq: look.freq, seconds: 2 }),
  ]);
}

/**
 * Init script: the first answer to an offer of ours gets a wrong ICE password (same length), so that connection's
 * checks never succeed and it stays "connecting" (as a handshake that hung in CI did) until ICE gives up.
 */
function HANG_FIRST_UPLOAD_SCRIPT(): void {
  const apply = RTCPeerConnection.prototype.setRemoteDescription as (this: RTCPeerConnection, d: RTCSessionDescriptionInit) => Promise<void>;
  let hung = false;
  RTCPeerConnection.prototype.setRemoteDescription = function (this: RTCPeerConnection, d?: RTCSessionDescriptionInit) {
    if (!hung && d?.type === 'answer' && d.sdp) {
      hung = true;
      const sdp = d.sdp.replace(/a=ice-pwd:(\S+)/g, (_m, pwd: string) => `a=ice-pwd:${[...pwd].map((c) => (c === 'x' ? 'y' : 'x')).join('')}`);
      return apply.call(this, { type: 'answer', sdp });
    }
    return apply.call(this, d as RTCSessionDescriptionInit);
  } as typeof RTCPeerConnection.prototype.setRemoteDescription;
}

/** One Chromium on the room page with `?autojoin=1`; resolves once the page has its peer id. */
async function joinRoom(server: RunningServer, room: string, name: Who, query = '', initScript?: () => void): Promise<Member> {
  return (await launchMember(name, initScript))(server, room, query);
}

/**
 * `name`'s Chromium, launched (a blank page); calling the result opens the room page and resolves as joinRoom does.
 * For a test whose participants must join one after the other: the launches, most of a join on a loaded machine, can
 * run together up front.
 */
async function launchMember(name: Who, initScript?: () => void): Promise<(server: RunningServer, room: string, query?: string) => Promise<Member>> {
  const look = LOOKS[name];
  const [video, audio] = await fixtures(look);
  const p = await browser({ name, video, audio });
  await p.page.addInitScript(SIGNAL_LOG_SCRIPT);
  if (initScript) await p.page.addInitScript(initScript);
  return async (server, room, query = '') => {
    await p.page.goto(`${server.url}/room/${room}?name=${name}&autojoin=1${query}`);
    const id = await waitFor(() => p.page.evaluate(() => window.rtcRoom.id), { timeoutMs: 15_000, description: `${name} joined ${room}` });
    return { ...look, name, room, p, page: p.page, id };
  };
}

const inbound = (m: Member) => m.page.evaluate(() => window.rtcRoom.inboundStats());
const stat = (list: InboundStat[], peerId: string, kind: 'audio' | 'video') => list.find((s) => s.peerId === peerId && s.kind === kind);
const status = (m: Member) => m.page.getByTestId('status').textContent();
const tileIds = (m: Member) => m.page.$$eval('[data-testid="tile"]', (els) => els.map((e) => (e as HTMLElement).dataset.peer ?? ''));
const peerIds = async (m: Member) => (await m.page.evaluate(() => window.rtcRoom.peers())).map((p) => p.id).sort();

/** Video frames and audio samples from every sender keep arriving at `receiver` (two stats snapshots 1 s apart). */
async function expectMediaFlowing(receiver: Member, senders: Member[]): Promise<void> {
  const first = await waitFor(
    async () => {
      const s = await inbound(receiver);
      const flowing = senders.every((x) => (stat(s, x.id, 'video')?.framesDecoded ?? 0) > 0 && (stat(s, x.id, 'audio')?.totalSamplesReceived ?? 0) > 0);
      return flowing ? s : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, description: `${receiver.name} decoding video+audio from ${senders.map((s) => s.name).join(', ')}` },
  );
  await sleep(1000);
  const second = await inbound(receiver);
  for (const x of senders) {
    const frames = stat(second, x.id, 'video')!.framesDecoded - stat(first, x.id, 'video')!.framesDecoded;
    const samples = stat(second, x.id, 'audio')!.totalSamplesReceived - stat(first, x.id, 'audio')!.totalSamplesReceived;
    // 15 fps and 48 kHz for 1 s; generous floors for a loaded 2-core machine.
    if (frames < 5) {
      const all = (list: InboundStat[]) => JSON.stringify(list.filter((s) => s.peerId === x.id && s.kind === 'video'));
      const signals = (await receiver.page.evaluate(() => window.__signalLog ?? [])).map((m) => m.type).filter((t) => t !== 'candidate').slice(-12);
      // Whether the sender itself stopped: its video upload now and 0.5 s later.
      const sending = async () => JSON.stringify((await x.page.evaluate(() => window.rtcRoom.outboundStats())).filter((o) => o.kind === 'video'));
      const sent = [await sending(), await sleep(500).then(sending)];
      const logged = serverLog.filter((l) => l.includes(`"subscriber":"${receiver.name}"`) || l.includes(`"peer":"${receiver.name}"`)).slice(-15);
      expect(frames, `${receiver.name} ← ${x.name}: video frames decoded in 1 s; before ${all(first)}, after ${all(second)}; last signals ${signals.join(' ')}; ${x.name} sending ${sent.join(' then ')}; server log for ${receiver.name}:\n${logged.join('\n')}`).toBeGreaterThanOrEqual(5);
    }
    expect(samples, `${receiver.name} ← ${x.name}: audio samples received in 1 s`).toBeGreaterThanOrEqual(20_000);
  }
}

function colorDistance(got: { r: number; g: number; b: number }, want: Rgb): number {
  return Math.max(Math.abs(got.r - want[0]), Math.abs(got.g - want[1]), Math.abs(got.b - want[2]));
}

/** `receiver`'s tile for `sender` shows the sender's fixture colour (VP8 + YUV round trips: within 48 levels). */
async function expectTileColor(receiver: Member, sender: Member): Promise<void> {
  const want = colorToRgb(sender.color);
  let got: { r: number; g: number; b: number } | null = null;
  await waitFor(
    async () => {
      got = await receiver.page.evaluate((id) => window.rtcRoom.tileColor(id), sender.id);
      return got && colorDistance(got, want) <= 48;
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  ).catch(() => {});
  if (process.env.RTC_RECORD_DEBUG) console.log(`${receiver.name} ← ${sender.name}: colour ${JSON.stringify(got)}`);
  expect(got, `${receiver.name}'s tile for ${sender.name}: got ${JSON.stringify(got)}, want ${sender.color}`).not.toBeNull();
  expect(colorDistance(got!, want), `${receiver.name}'s tile for ${sender.name}: got ${JSON.stringify(got)}, want ${sender.color}`).toBeLessThanOrEqual(48);
}

/** `receiver` hears `sender`'s tone on that sender's tile, and its inbound audio level is non-zero. */
async function expectTone(receiver: Member, sender: Member): Promise<void> {
  let tone: Tone | null = null;
  await waitFor(
    async () => {
      tone = await receiver.page.evaluate(tileTone, sender.id);
      return tone && Math.abs(tone.freq - sender.freq) <= 15 && tone.peakDb - tone.medianDb >= 20;
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  ).catch(() => {});
  if (process.env.RTC_RECORD_DEBUG) console.log(`${receiver.name} ← ${sender.name}: tone ${JSON.stringify(tone)}`);
  const what = `${receiver.name} hears ${sender.name}: ${JSON.stringify(tone)}, want ${sender.freq} Hz`;
  expect(tone, what).not.toBeNull();
  expect(Math.abs(tone!.freq - sender.freq), what).toBeLessThanOrEqual(15);
  expect(tone!.peakDb - tone!.medianDb, what).toBeGreaterThanOrEqual(20);
  // The tile itself plays the sound: a muted element would leave the peer inaudible (and its audioLevel at 0).
  const muted = await receiver.page.$eval(`[data-testid="tile"][data-peer="${sender.id}"] video`, (v) => (v as HTMLVideoElement).muted);
  expect(muted, `${receiver.name}'s tile for ${sender.name} is muted`).toBe(false);
  await waitFor(async () => (stat(await inbound(receiver), sender.id, 'audio')?.audioLevel ?? 0) > 0.005, {
    timeoutMs: 5000,
    intervalMs: 50,
    description: `${receiver.name}: inbound audioLevel from ${sender.name} > 0`,
  });
}

/** Everyone in `members` sees exactly the others: tiles, peers, frames, colours, tones, status. */
async function expectFullMesh(members: Member[]): Promise<void> {
  // Pages are independent, so check them concurrently (most of the time is spent waiting on stats windows).
  await Promise.all(
    members.map(async (m) => {
      const others = members.filter((o) => o !== m);
      await waitFor(async () => (await status(m)) === 'connected', { timeoutMs: 15_000, description: `${m.name} status connected` });
      await expectMediaFlowing(m, others);
      expect((await tileIds(m)).sort(), `${m.name}'s tiles`).toEqual(others.map((o) => o.id).sort());
      expect(await peerIds(m), `${m.name}'s peers`).toEqual(others.map((o) => o.id).sort());
      for (const o of others) {
        await expectTileColor(m, o);
        await expectTone(m, o);
      }
    }),
  );
}

/** Peer ids a room page ever heard about over signaling (joined/peerJoined/peerLeft/relayed `from`). */
async function everSeenIds(m: Member): Promise<Set<string>> {
  const log = await m.page.evaluate(() => window.__signalLog ?? []);
  const ids = new Set<string>();
  for (const msg of log) {
    if (msg.from) ids.add(msg.from);
    if (msg.peer?.id) ids.add(msg.peer.id);
    if (msg.type === 'peerLeft' && msg.id) ids.add(msg.id);
    for (const p of msg.peers ?? []) ids.add(p.id);
  }
  return ids;
}

/** Page errors (uncaught exceptions, crashes); console noise such as a missing favicon is not one. */
function pageErrors(m: Member | Participant): string[] {
  const p = 'p' in m ? m.p : m;
  return p.consoleErrors.filter((e) => !/favicon|Failed to load resource/.test(e));
}

async function apiRooms(server: RunningServer): Promise<Array<{ room: string; participants: Array<{ id: string; name: string; role: string }> }>> {
  const res = await fetch(`${server.url}/api/rooms`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { rooms: Awaited<ReturnType<typeof apiRooms>> }).rooms;
}

// ───────────────────────────── tests ─────────────────────────────

beforeAll(async () => {
  assertNetworkIsolated('test/e2e/room.test.ts');
  // Generate (or find cached) fixtures up front so test timings are about WebRTC, not ffmpeg.
  await Promise.all(Object.values(LOOKS).map(fixtures));
});

describe('seed pages (the lecture Sender → Receiver)', () => {
  async function seedPair(server: RunningServer, receiverFirst: boolean): Promise<{ sender: Participant; receiver: Participant }> {
    const [video] = await fixtures(LOOKS.bob);
    const seedRole = (role: string) => () =>
      server.signaling.listRooms().some((r) => r.room === 'default' && r.participants.some((p) => p.role === role));
    // Both browsers start at once (blank pages); they open their pages in the order under test.
    const [sender, receiverBrowser] = await Promise.all([browser({ name: 'seed-sender', video }), browser({ name: 'seed-receiver' })]);
    let receiver: Participant | undefined;
    if (receiverFirst) {
      receiver = receiverBrowser;
      await receiver.page.goto(`${server.url}/seed/receiver`);
      await waitFor(seedRole('seed-receiver'), { description: 'seed receiver registered' });
    }
    await sender.page.goto(`${server.url}/seed/sender`);
    await waitFor(seedRole('seed-sender'), { description: 'seed sender registered' });
    await sender.page.getByTestId('send').click();
    if (!receiver) {
      // A receiver that arrives after "Send data" gets the held offer and candidates.
      await waitFor(() => sender.page.evaluate(() => window.pc?.localDescription?.type === 'offer'), { description: 'sender offered' });
      receiver = receiverBrowser;
      await receiver.page.goto(`${server.url}/seed/receiver`);
    }
    return { sender, receiver };
  }

  async function expectSeedVideo(receiver: Participant): Promise<void> {
    const sample = () =>
      receiver.page.evaluate(async () => {
        let frames = 0;
        (await window.pc!.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded ?? 0;
        });
        const v = document.querySelector('video')!;
        return { frames, time: v.currentTime, width: v.videoWidth, height: v.videoHeight, paused: v.paused };
      });
    const a = await waitFor(async () => {
      const s = await sample();
      return s.frames > 0 && s.time > 0 ? s : undefined;
    }, { timeoutMs: 15_000, intervalMs: 200, description: 'seed receiver decoding and playing video' });
    await sleep(1000);
    const b = await sample();
    expect(b.frames - a.frames, 'frames decoded in 1 s').toBeGreaterThanOrEqual(5);
    expect(b.time - a.time, 'video currentTime advance in 1 s').toBeGreaterThan(0.5);
    expect(b.paused).toBe(false);
    expect([b.width, b.height]).toEqual([320, 240]);
    const want = colorToRgb(LOOKS.bob.color);
    const got = await receiver.page.evaluate(videoColor, 'video');
    expect(got, 'seed receiver video colour').not.toBeNull();
    expect(colorDistance(got!, want), `seed receiver colour ${JSON.stringify(got)}, want ${LOOKS.bob.color}`).toBeLessThanOrEqual(48);
    expect(pageErrors(receiver)).toEqual([]);
  }

  it('receiver opened first, then Send data: the receiver plays the sender camera', async () => {
    const server = await serve();
    const { sender, receiver } = await seedPair(server, true);
    await expectSeedVideo(receiver);
    expect(pageErrors(sender)).toEqual([]);
  });

  it('receiver opened after Send data still gets the held offer', async () => {
    const server = await serve();
    const { sender, receiver } = await seedPair(server, false);
    await expectSeedVideo(receiver);
    expect(pageErrors(sender)).toEqual([]);
  });
});

// Three participants join an SFU room once: the first test checks they all see and hear each other, the second has one
// of them leave and join again (the room as the first test left it; each test checks its own part in full).
describe('room page: three participants in an SFU room', () => {
  const shared: Array<() => Promise<unknown>> = [];
  let server: RunningServer;
  let members: Member[];
  beforeAll(async () => {
    server = await serve();
    members = await Promise.all((['ann', 'bob', 'cat'] as const).map((n) => joinRoom(server, 'trio', n)));
    // Kept for both tests: closed after the last one, not after each.
    shared.push(...cleanups.splice(0));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(shared.splice(0).map((fn) => fn().catch(() => {})));
  });

  it('three participants all see and hear each other', async () => {
    await expectFullMesh(members);
    for (const m of members) expect(pageErrors(m), m.name).toEqual([]);
  });

  it('leave removes the tile everywhere; join again brings it back with media', async () => {
    const [ann, bob, cat] = members as [Member, Member, Member];
    await Promise.all([ann, bob, cat].map((m) => waitFor(async () => (await status(m)) === 'connected', { timeoutMs: 15_000 })));
    const oldId = cat.id;
    for (const m of [ann, bob]) await waitFor(async () => (await tileIds(m)).includes(oldId), { description: `${m.name} has cat's tile` });

    await cat.page.getByTestId('leave').click();
    for (const m of [ann, bob]) {
      await waitFor(async () => !(await tileIds(m)).includes(oldId), { timeoutMs: 5000, description: `${m.name}: cat's tile removed` });
      expect(await peerIds(m)).not.toContain(oldId);
      expect(await tileIds(m)).toHaveLength(1);
      expect(await status(m)).toBe('connected');
    }
    expect(await status(cat)).toBe('idle');
    expect(await tileIds(cat)).toEqual([]);
    expect(await peerIds(cat)).toEqual([]);
    expect((await apiRooms(server)).find((r) => r.room === 'trio')?.participants.map((p) => p.name).sort()).toEqual(['ann', 'bob']);

    await cat.page.getByTestId('join').click();
    cat.id = await waitFor(async () => {
      const id = await cat.page.evaluate(() => window.rtcRoom.id);
      return id !== oldId ? id : undefined;
    }, { timeoutMs: 10_000, description: 'cat rejoined with a new id' });
    for (const m of [ann, bob]) {
      await waitFor(async () => (await tileIds(m)).includes(cat.id), { timeoutMs: 5000, description: `${m.name}: cat's tile back` });
    }
    await expectFullMesh([ann, bob, cat]);
  });
});

describe('room page', () => {

  it('an upload to the SFU that does not connect is published again on a new session: the page says connected only then, the others get its media', async () => {
    const server = await serve();
    const [joinBob, joinAnn] = await Promise.all([launchMember('bob'), launchMember('ann', HANG_FIRST_UPLOAD_SCRIPT)]);
    const bob = await joinBob(server, 'retry');
    const t0 = Date.now();
    const ann = await joinAnn(server, 'retry');
    // Her media connection from the SFU (bob's tracks) comes up; her own upload does not: not "connected" yet.
    await waitFor(async () => (await ann.page.evaluate(() => window.rtcRoom.peers())).length > 0, { timeoutMs: 15_000, description: 'ann sees bob' });
    await sleep(5000);
    const sendState = async () => (await ann.page.evaluate(() => window.rtcRoom.peers())).find((p) => p.name === 'bob')?.sendState;
    expect(await sendState()).not.toBe('connected');
    expect(await status(ann)).not.toBe('connected');
    // The watchdog (10 s) publishes again; then everything flows both ways.
    await waitFor(async () => (await status(ann)) === 'connected', { timeoutMs: 25_000, description: 'ann connected after publishing again' });
    expect(Date.now() - t0).toBeGreaterThan(9_000);
    await expectMediaFlowing(bob, [ann]);
    await expectMediaFlowing(ann, [bob]);
    await expectTileColor(bob, ann);
  });

  it('?mode=p2p opens a mesh room: three participants see and hear each other over direct connections', async () => {
    const server = await serve();
    const members = await Promise.all((['ann', 'bob', 'cat'] as const).map((n) => joinRoom(server, 'mesh', n, '&mode=p2p')));
    await expectFullMesh(members);
    for (const m of members) {
      expect(await m.page.evaluate(() => (window.rtcRoom as unknown as { mode: string }).mode)).toBe('p2p');
      // One upload per other participant, none to a server peer.
      const sent = await m.page.evaluate(() => (window.rtcRoom as unknown as { outboundStats(): Promise<Array<{ role: string }>> }).outboundStats());
      expect(sent.map((x) => x.role)).toEqual(['participant', 'participant', 'participant', 'participant']);
    }
  });

  it('two rooms do not leak into each other; / lists them; bad room names are refused', async () => {
    // A mesh: room B's raw-signaling member is offered to directly by cat (in SFU rooms the SFU would be in between).
    const server = await serve({ defaultRoomMode: 'p2p' });
    const [ann, bob, cat] = await Promise.all([
      joinRoom(server, 'roomA', 'ann'),
      joinRoom(server, 'roomA', 'bob'),
      joinRoom(server, 'roomB', 'cat'),
    ]);
    // A second member of room B (raw signaling, no media): cat offers to it, so room B has live traffic too.
    const dan = await TestClient.connect(`${server.wsUrl}/ws`);
    cleanups.push(async () => dan.close());
    const danId = (await dan.join('roomB', 'dan')).id as string;
    expect((await dan.next((m) => m.type === 'createOffer', 10_000)).from).toBe(cat.id);
    // Room B cannot address room A's peers.
    for (const to of [ann.id, bob.id]) {
      dan.send({ type: 'createOffer', to, session: 'x', sdp: { type: 'offer', sdp: 'v=0\r\n' } });
      expect(await dan.type('error')).toMatchObject({ code: 'UNKNOWN_PEER', ref: 'createOffer' });
    }

    await expectFullMesh([ann, bob]);
    expect(await peerIds(cat)).toEqual([danId]);
    expect(await tileIds(cat)).toEqual([danId]);
    expect(await inbound(cat), 'cat receives nothing').toEqual([]);

    const roomA = new Set([ann.id, bob.id]);
    for (const m of [ann, bob]) {
      expect([...(await everSeenIds(m))].filter((id) => !roomA.has(id)), `${m.name} heard of ids outside room A`).toEqual([]);
    }
    expect([...(await everSeenIds(cat))].sort()).toEqual([danId]);
    expect(dan.messages.filter((m) => [m.from, m.peer?.id, m.id].some((id) => roomA.has(id)))).toEqual([]);

    const rooms = await apiRooms(server);
    const members = (room: string) => rooms.find((r) => r.room === room)?.participants.map((p) => p.id).sort();
    expect(rooms.map((r) => r.room).sort()).toEqual(['roomA', 'roomB']);
    expect(members('roomA')).toEqual([ann.id, bob.id].sort());
    expect(members('roomB')).toEqual([cat.id, danId].sort());

    // The index page lists the active rooms (it renders /api/rooms client-side).
    const index = await cat.p.context.newPage();
    await index.goto(`${server.url}/`);
    await waitFor(async () => {
      const text = (await index.getByTestId('rooms').textContent()) ?? '';
      return text.includes('roomA') && text.includes('roomB') && text.includes('2 participants');
    }, { timeoutMs: 10_000, description: 'index lists roomA and roomB' });
    expect(await index.locator('[data-testid="rooms"] a').evaluateAll((as) => as.map((a) => a.getAttribute('href')).sort())).toEqual([
      '/room/roomA',
      '/room/roomB',
    ]);
    await index.close();

    const bad = await fetch(`${server.url}/room/bad%20name`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'BAD_ROOM_NAME' });
    expect((await fetch(`${server.url}/room/${'x'.repeat(65)}`)).status).toBe(400);
    const ok = await fetch(`${server.url}/room/roomA`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('text/html');
  });

  it('survives a malformed-message barrage while a room is live, and still admits a new participant', async () => {
    // A mesh, so the pages' signaling logs hold exactly the other participant (no SFU member).
    const server = await serve({ defaultRoomMode: 'p2p' });
    // The newcomer's browser starts with the others' (it opens the room page only at the end).
    const [ann, bob, joinCat] = await Promise.all([joinRoom(server, 'stage', 'ann'), joinRoom(server, 'stage', 'bob'), launchMember('cat')]);
    await Promise.all([expectMediaFlowing(ann, [bob]), expectMediaFlowing(bob, [ann])]);

    const ws = `${server.wsUrl}/ws`;
    const [outsider, otherRoom] = await Promise.all([TestClient.connect(ws), TestClient.connect(ws)]);
    cleanups.push(async () => outsider.close(), async () => otherRoom.close());
    const otherId = (await otherRoom.join('backstage', 'Mallory')).id as string;
    const offer = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
    const answer = { type: 'answer', sdp: offer.sdp };
    const cand = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

    // [message, expected error code] — every kind of bad input the server must refuse without side effects.
    const malformed: Array<[unknown, string]> = [
      ['', 'BAD_JSON'],
      ['{', 'BAD_JSON'],
      ["{'type':'join'}", 'BAD_JSON'],
      ['{"type":"join",}', 'BAD_JSON'],
      ['\u0000\u0001\u0002', 'BAD_JSON'],
      ['undefined', 'BAD_JSON'],
      [nested(20_000), 'INVALID_FIELD'],
      ['null', 'INVALID_FIELD'],
      ['[{"type":"join"}]', 'INVALID_FIELD'],
      ['"join"', 'INVALID_FIELD'],
      ['1e999', 'INVALID_FIELD'],
      [{}, 'UNKNOWN_TYPE'],
      [{ type: 'hello' }, 'UNKNOWN_TYPE'],
      [{ type: 'JOIN', room: 'stage', name: 'x' }, 'UNKNOWN_TYPE'],
      [{ type: '__proto__' }, 'UNKNOWN_TYPE'],
      [{ type: 'constructor' }, 'UNKNOWN_TYPE'],
      [{ type: 'toString' }, 'UNKNOWN_TYPE'],
      [{ type: 'peerJoined', peer: { id: ann.id, name: 'fake', role: 'participant' } }, 'UNKNOWN_TYPE'],
      [{ type: 'joined', id: 'x', room: 'stage', peers: [] }, 'UNKNOWN_TYPE'],
      [{ type: ['join'] }, 'UNKNOWN_TYPE'],
      [{ type: null }, 'UNKNOWN_TYPE'],
      [{ type: 'join', room: 5, name: 'x' }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'stage', name: ['x'] }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'st age', name: 'x' }, 'INVALID_FIELD'],
      [{ type: 'join', room: '', name: 'x' }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'a'.repeat(65), name: 'x' }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'stage', name: '<img src=x onerror=alert(1)>' }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'stage', name: 'x', role: 'admin' }, 'INVALID_FIELD'],
      [{ type: 'join', room: 'stage', name: 'x', role: 'seed-sender' }, 'INVALID_FIELD'],
      [{ type: 'join', room: { $ne: null }, name: 'x' }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: ann.id, sdp: 'v=0' }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: ann.id, sdp: answer }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: ann.id, sdp: { type: 'offer', sdp: '' } }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: ann.id, session: 'a b', sdp: offer }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: 42, sdp: offer }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: '../' + ann.id, sdp: offer }, 'INVALID_FIELD'],
      [{ type: 'createAnswer', to: bob.id, sdp: offer }, 'INVALID_FIELD'],
      [{ type: 'iceCandidate', to: bob.id, candidate: 'candidate:1' }, 'INVALID_FIELD'],
      [{ type: 'iceCandidate', to: bob.id, candidate: { candidate: 5 } }, 'INVALID_FIELD'],
      [{ type: 'iceCandidate', to: bob.id, candidate: { ...cand, sdpMLineIndex: -1 } }, 'INVALID_FIELD'],
      [{ type: 'iceCandidate', to: bob.id, candidate: { candidate: 'c'.repeat(2000) } }, 'INVALID_FIELD'],
      [{ type: 'createOffer', to: ann.id, sdp: { type: 'offer', sdp: 'x'.repeat(64 * 1024 + 1) } }, 'MESSAGE_TOO_LARGE'],
      ['x'.repeat(200_000), 'MESSAGE_TOO_LARGE'],
    ];
    // Well-formed but misaddressed: to peers that do not exist, or that live in another room.
    const misaddressed = (self: string): unknown[] => [
      { type: 'createOffer', to: ann.id, session: 's1', sdp: offer },
      { type: 'createAnswer', to: bob.id, session: 's1', sdp: answer },
      { type: 'iceCandidate', to: ann.id, session: 's1', candidate: cand },
      { type: 'iceCandidate', to: bob.id, session: 's1', candidate: null },
      { type: 'createOffer', to: 'nobody', sdp: offer },
      { type: 'createOffer', to: self, sdp: offer },
      { type: 'createOffer', to: '__proto__', sdp: offer },
    ];

    const ROUNDS = 6;
    const expectedCodes = (client: TestClient, list: Array<[unknown, string]>) => {
      for (const [msg] of list) client.send(msg);
      return list.map(([, code]) => code);
    };
    const want = { outsider: [] as string[], otherRoom: [] as string[] };
    for (let round = 0; round < ROUNDS; round++) {
      // The outsider never joined: every misaddressed relay is NOT_IN_ROOM for it.
      want.outsider.push(...expectedCodes(outsider, malformed));
      want.outsider.push(...expectedCodes(outsider, misaddressed('x').map((m) => [m, 'NOT_IN_ROOM'])));
      outsider.send({ type: 'leave' });
      want.outsider.push('NOT_IN_ROOM');
      outsider.ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]), { binary: true });
      want.outsider.push('BAD_JSON');
      // The other room's member: malformed input, relays into room "stage", and a second join.
      want.otherRoom.push(...expectedCodes(otherRoom, malformed));
      want.otherRoom.push(...expectedCodes(otherRoom, misaddressed(otherId).map((m) => [m, 'UNKNOWN_PEER'])));
      otherRoom.send({ type: 'join', room: 'stage', name: 'Mallory' });
      want.otherRoom.push('ALREADY_JOINED');
      otherRoom.send({ type: 'sender' });
      want.otherRoom.push('ALREADY_JOINED');
    }
    const total = want.outsider.length + want.otherRoom.length;
    expect(total, 'barrage size').toBeGreaterThan(500);

    // A socket that exceeds ws's own frame cap (1 MiB) is cut with 1009; nothing else is affected.
    const huge = await TestClient.connect(ws);
    cleanups.push(async () => huge.close());
    const closed = new Promise<number>((r) => huge.ws.once('close', (code) => r(code)));
    huge.send('x'.repeat(2 * 1024 * 1024));
    expect(await closed).toBe(1009);

    const errors = async (c: TestClient, n: number) => {
      await waitFor(() => c.messages.filter((m) => m.type === 'error').length >= n, { timeoutMs: 20_000, description: `${n} error replies` });
      await sleep(200); // nothing beyond one reply per bad message
      return c.messages.filter((m) => m.type === 'error').map((m) => m.code as string);
    };
    expect(await errors(outsider, want.outsider.length)).toEqual(want.outsider);
    expect(await errors(otherRoom, want.otherRoom.length)).toEqual(want.otherRoom);
    expect(outsider.messages.filter((m) => m.type !== 'error')).toEqual([]);
    expect(otherRoom.messages.filter((m) => m.type !== 'error')).toEqual([]);

    // The live room never noticed: same peers, nothing relayed from the attackers, media still flowing.
    for (const m of [ann, bob]) {
      expect([...(await everSeenIds(m))].sort(), `${m.name} heard only of the room`).toEqual([ann.id, bob.id].filter((id) => id !== m.id));
      expect(await status(m)).toBe('connected');
      expect(pageErrors(m), m.name).toEqual([]);
    }
    expect((await apiRooms(server)).map((r) => [r.room, r.participants.length]).sort()).toEqual([
      ['backstage', 1],
      ['stage', 2],
    ]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    // A hostile member of the room itself: well-formed messages carrying garbage SDP and candidates reach the pages by
    // design (the server checks shape, not meaning), so the pages must shrug them off.
    const eve = await TestClient.connect(ws);
    cleanups.push(async () => eve.close());
    const eveId = (await eve.join('stage', 'Eve')).id as string;
    // The pages offer to every newcomer: those are the sessions Eve can aim at.
    const sessions = await Promise.all(
      [ann, bob].map(async (m) => (await eve.next((msg) => msg.type === 'createOffer' && msg.from === m.id, 10_000)).session as string),
    );
    const garbage = (type: 'offer' | 'answer') => ({ type, sdp: 'v=0\r\nthis is not SDP\r\n' });
    for (let round = 0; round < 10; round++) {
      for (const [i, m] of [ann, bob].entries()) {
        const session = sessions[i]!;
        eve.send({ type: 'createAnswer', to: m.id, session, sdp: garbage('answer') });
        eve.send({ type: 'createAnswer', to: m.id, session: 'no-such-session', sdp: answer });
        eve.send({ type: 'iceCandidate', to: m.id, session, candidate: { candidate: 'candidate:garbage', sdpMid: '0', sdpMLineIndex: 0 } });
        eve.send({ type: 'iceCandidate', to: m.id, session, candidate: { ...cand, sdpMid: '77', sdpMLineIndex: 77 } });
        eve.send({ type: 'iceCandidate', to: m.id, session: `eve-${round}`, candidate: cand });
        eve.send({ type: 'createOffer', to: m.id, session: `eve-${round}`, sdp: garbage('offer') });
        eve.send({ type: 'createOffer', to: m.id, session: `eve-${round}`, sdp: offer });
      }
    }
    await sleep(1000);
    for (const m of [ann, bob]) {
      expect(await status(m), `${m.name} status with Eve present`).toBe('connected');
      expect(await m.page.getByTestId('error').isHidden(), `${m.name} shows no error with Eve present`).toBe(true);
    }
    eve.send({ type: 'leave' });
    await eve.type('left');
    expect(eve.messages.filter((m) => m.type === 'error')).toEqual([]);
    for (const [m, other] of [
      [ann, bob],
      [bob, ann],
    ] as const) {
      await waitFor(async () => (await tileIds(m)).join() === other.id, { timeoutMs: 5000, description: `${m.name}: Eve's tile gone` });
      expect([...(await everSeenIds(m))].sort()).toEqual([other.id, eveId].sort());
      expect(await status(m), `${m.name} status after Eve`).toBe('connected');
      expect(await m.page.getByTestId('error').isHidden(), `${m.name} shows no error`).toBe(true);
      expect(pageErrors(m), m.name).toEqual([]);
    }
    await Promise.all([expectMediaFlowing(ann, [bob]), expectMediaFlowing(bob, [ann])]);

    // …and a newcomer joins and is seen, sees everyone, in full.
    const cat = await joinCat(server, 'stage');
    await expectFullMesh([ann, bob, cat]);
  });

  it('relay mode: media flows through coturn only', async () => {
    const turn = await startTurnServer();
    cleanups.push(() => turn.stop());
    const server = await serve({ iceServers: [{ urls: turn.urls, username: turn.username, credential: turn.credential }] });
    const [ann, bob] = await Promise.all([joinRoom(server, 'relayed', 'ann', '&relay=1'), joinRoom(server, 'relayed', 'bob', '&relay=1')]);
    await expectFullMesh([ann, bob]);
    for (const m of [ann, bob]) {
      const pairs = await m.page.evaluate(() => window.rtcRoom.selectedCandidateTypes());
      // One sending and one receiving PC to the other peer, each on a relayed pair.
      expect(pairs.length, `${m.name}: selected pairs`).toBeGreaterThanOrEqual(2);
      for (const pair of pairs) {
        expect(pair.local, `${m.name}: ${JSON.stringify(pairs)}`).toBe('relay');
        expect(pair.local === 'host' && pair.remote === 'host', `${m.name}: host pair`).toBe(false);
      }
    }
    // Four PCs (two per direction pair) each allocated on coturn.
    expect(turn.logs.filter((l) => l.includes('ALLOCATE processed, success')).length).toBeGreaterThanOrEqual(4);
  });
});
