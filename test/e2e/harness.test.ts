// Self-test of the browser/TURN harness: two Chromium processes with different capture fixtures
// connect over loopback (directly, then relay-only through coturn) and see each other's media.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchParticipant, type Participant } from '../harness/browser.js';
import { audioFixture, colorToRgb, videoFixture, type Rgb } from '../harness/fixtures.js';
import { assertNetworkIsolated } from '../harness/netns.js';
import { startTurnServer, type TurnServer } from '../harness/turn.js';
import { waitFor } from '../harness/util.js';

interface PeerState {
  pc: RTCPeerConnection;
  remote: MediaStream;
  video?: HTMLVideoElement;
}

declare global {
  interface Window {
    __peer?: PeerState;
  }
}

const COLORS = { a: '#ff0000', b: '#0000ff' } as const;

// ---- page-side steps (serialized into the page by page.evaluate: keep them self-contained) ----

async function createPeer(config: RTCConfiguration): Promise<void> {
  window.__peer?.pc.close();
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 320, height: 240, frameRate: 15 },
    audio: true,
  });
  const pc = new RTCPeerConnection(config);
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  const remote = new MediaStream();
  pc.ontrack = (ev) => remote.addTrack(ev.track);
  window.__peer = { pc, remote };
}

/** Sets the local description and waits for ICE gathering to finish (no trickle: one round trip). */
async function makeDescription(remoteSdp: RTCSessionDescriptionInit | null): Promise<RTCSessionDescriptionInit> {
  const { pc } = window.__peer!;
  if (remoteSdp) await pc.setRemoteDescription(remoteSdp);
  const desc = remoteSdp ? await pc.createAnswer() : await pc.createOffer();
  await pc.setLocalDescription(desc);
  await new Promise<void>((resolve, reject) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const timer = setTimeout(() => reject(new Error('ICE gathering timed out')), 10_000);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return pc.localDescription!.toJSON();
}

async function acceptAnswer(answer: RTCSessionDescriptionInit): Promise<void> {
  await window.__peer!.pc.setRemoteDescription(answer);
}

async function peerSummary() {
  const { pc } = window.__peer!;
  const stats = await pc.getStats();
  let framesDecoded = 0;
  let audioEnergy = 0;
  let local: string | undefined;
  let remote: string | undefined;
  let localAddress: string | undefined;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded = s.framesDecoded ?? 0;
    if (s.type === 'inbound-rtp' && s.kind === 'audio') audioEnergy = s.totalAudioEnergy ?? 0;
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      const l = pair && stats.get(pair.localCandidateId);
      const r = pair && stats.get(pair.remoteCandidateId);
      local = l?.candidateType;
      remote = r?.candidateType;
      localAddress = l?.address;
    }
  });
  return {
    connectionState: pc.connectionState,
    framesDecoded,
    audioEnergy,
    localCandidateType: local,
    remoteCandidateType: remote,
    localAddress,
    localSdpHosts: [...(pc.localDescription?.sdp ?? '').matchAll(/a=candidate:\S+ \d \S+ \d+ (\S+) \d+ typ (\w+)/g)].map(
      (m) => `${m[2]}:${m[1]}`,
    ),
  };
}

/** Plays the remote stream, waits for rendered frames, and returns the mean RGB of the centre. */
async function sampleRemoteColor(): Promise<[number, number, number]> {
  const peer = window.__peer!;
  if (!peer.video) {
    const video = document.createElement('video');
    // Not muted: Chromium applies element mute as output volume 0 on the receive stream, and
    // inbound-rtp audioLevel/totalAudioEnergy then stay 0. (Headless Playwright passes
    // --mute-audio, so nothing is audible anyway.)
    video.muted = false;
    video.playsInline = true;
    video.srcObject = peer.remote;
    document.body.append(video);
    await video.play();
    peer.video = video;
  }
  const video = peer.video;
  // A few presented frames, so we do not sample a keyframe still being refined.
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no video frame within 5 s')), 5000);
      video.requestVideoFrameCallback(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  const w = video.videoWidth;
  const h = video.videoHeight;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(video, 0, 0, w, h);
  const data = ctx.getImageData(Math.floor(w / 4), Math.floor(h / 4), Math.floor(w / 2), Math.floor(h / 2)).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) {
    sum[0]! += data[i]!;
    sum[1]! += data[i + 1]!;
    sum[2]! += data[i + 2]!;
  }
  const n = data.length / 4;
  return [Math.round(sum[0]! / n), Math.round(sum[1]! / n), Math.round(sum[2]! / n)];
}

function closePeer(): void {
  window.__peer?.video?.remove();
  window.__peer?.pc.close();
  delete window.__peer;
}

// ---- node side ----

async function connect(a: Participant, b: Participant, config: RTCConfiguration): Promise<void> {
  await Promise.all([a.page.evaluate(createPeer, config), b.page.evaluate(createPeer, config)]);
  const offer = await a.page.evaluate(makeDescription, null);
  const answer = await b.page.evaluate(makeDescription, offer);
  await a.page.evaluate(acceptAnswer, answer);
  const state = await waitFor(
    async () => {
      const [sa, sb] = await Promise.all([a.page.evaluate(peerSummary), b.page.evaluate(peerSummary)]);
      if (sa.connectionState === 'failed' || sb.connectionState === 'failed') return 'failed';
      return sa.connectionState === 'connected' && sb.connectionState === 'connected' && 'connected';
    },
    { timeoutMs: 15_000, intervalMs: 100, description: 'both peers connected' },
  );
  if (state === 'failed') throw new Error('ICE failed');
}

function expectColorClose(actual: Rgb, expected: Rgb, who: string): void {
  // VP8 + two YUV<->RGB conversions: solid colours come back within a few tens of levels.
  if (process.env.RTC_RECORD_DEBUG) console.log(`${who} received rgb(${actual.join(',')})`);
  const diff = actual.map((v, i) => Math.abs(v - expected[i]!));
  expect(Math.max(...diff), `${who}: got rgb(${actual.join(',')}), want rgb(${expected.join(',')})`).toBeLessThanOrEqual(32);
}

async function expectMediaFlows(a: Participant, b: Participant): Promise<void> {
  for (const [receiver, senderColor] of [
    [a, COLORS.b],
    [b, COLORS.a],
  ] as const) {
    await waitFor(async () => (await receiver.page.evaluate(peerSummary)).framesDecoded > 0, {
      timeoutMs: 10_000,
      description: `${receiver.name} decoding video`,
    });
    expectColorClose(await receiver.page.evaluate(sampleRemoteColor), colorToRgb(senderColor), receiver.name);
    await waitFor(async () => (await receiver.page.evaluate(peerSummary)).audioEnergy > 0, {
      timeoutMs: 10_000,
      description: `${receiver.name} receiving audio energy`,
    });
  }
}

describe('browser + TURN harness (e2e, loopback only)', () => {
  let a: Participant;
  let b: Participant;
  let turn: TurnServer | undefined;

  beforeAll(async () => {
    assertNetworkIsolated('test/e2e/harness.test.ts');
    const [va, vb, aa, ab] = await Promise.all([
      videoFixture({ kind: 'color', color: COLORS.a, width: 320, height: 240, fps: 15, seconds: 1 }),
      videoFixture({ kind: 'color', color: COLORS.b, width: 320, height: 240, fps: 15, seconds: 1 }),
      audioFixture({ freq: 440, seconds: 2 }),
      audioFixture({ freq: 660, seconds: 2 }),
    ]);
    [a, b] = await Promise.all([
      launchParticipant({ name: 'A', video: va, audio: aa }),
      launchParticipant({ name: 'B', video: vb, audio: ab }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), turn?.stop()]);
  });

  it('connects two browser processes over 127.0.0.1 host candidates and each sees the other\'s fixture', async () => {
    try {
      await connect(a, b, { iceServers: [] });
      const sa = await a.page.evaluate(peerSummary);
      expect(sa.localSdpHosts.length).toBeGreaterThan(0);
      // Only raw loopback host candidates: no mDNS (*.local) names, no other addresses.
      expect(sa.localSdpHosts.every((c) => c.startsWith('host:127.0.0.1'))).toBe(true);
      expect(sa.localCandidateType).toBe('host');
      expect(sa.localAddress).toBe('127.0.0.1');
      await expectMediaFlows(a, b);
      expect(a.consoleErrors).toEqual([]);
      expect(b.consoleErrors).toEqual([]);
    } finally {
      await Promise.all([a.page.evaluate(closePeer), b.page.evaluate(closePeer)]);
    }
  });

  it('connects relay-only through coturn on 127.0.0.1', async () => {
    turn = await startTurnServer();
    const config: RTCConfiguration = {
      iceServers: [{ urls: turn.urls, username: turn.username, credential: turn.credential }],
      iceTransportPolicy: 'relay',
    };
    try {
      await connect(a, b, config);
      for (const p of [a, b]) {
        const s = await p.page.evaluate(peerSummary);
        expect(s.localSdpHosts.length, `${p.name} candidates`).toBeGreaterThan(0);
        expect(s.localSdpHosts.every((c) => c === 'relay:127.0.0.1'), s.localSdpHosts.join(' ')).toBe(true);
        expect(s.localCandidateType).toBe('relay');
        expect(s.remoteCandidateType).toBe('relay');
      }
      await expectMediaFlows(a, b);
      // coturn itself saw both allocations and permitted the 127.0.0.1 peer.
      expect(turn.logs.filter((l) => l.includes('ALLOCATE processed, success')).length).toBeGreaterThanOrEqual(2);
      expect(turn.logs.some((l) => l.includes('CREATE_PERMISSION processed, success'))).toBe(true);
    } finally {
      await Promise.all([a.page.evaluate(closePeer), b.page.evaluate(closePeer)]);
    }
  });
});
