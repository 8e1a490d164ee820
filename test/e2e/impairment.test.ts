// Loss, jitter and reordering between publishers and the recorder. Three synthetic werift participants (a steady Opus
// tone each + 640x360 VP8 with a keyframe a second) reach the real recorder CLI each through its own impairment relay
// on loopback: 5 % random loss and 30 ± 30 ms delay both ways (RTCP too: NACKs, PLIs and reports are lost and late
// alike), seeded. Their RTP sequence numbers start just below 65535, so every video stream crosses the wrap under loss.
// Judged: per-track files decode without a gap > 100 ms (NACK retransmission), no composite tile is frozen > 1 s (PLI
// answered), the mix has no hole > 60 ms in any voice (Opus PLC), and the manifest counts NACKs, PLIs and recoveries.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compositeFreezes } from '../../bench/measure/freezes.js';
import { probe as probeOutput } from '../../bench/measure/output.js';
import { videoFixture } from '../../bench/fixtures.js';
import { loadIvf, loadOggOpus } from '../../bench/loadgen/media.js';
import { MediaScheduler, SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { startServer } from '../../src/http/HttpServer.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { decodeAudioPcm, decodeErrors } from '../harness/analyze.js';
import { CliProcess } from '../harness/cli.js';
import { inMixFromTimeline, voiceContinuity, type ContinuityResult } from '../harness/continuity.js';
import { opusToneFixture } from '../harness/fixtures.js';
import type { Impairment } from '../harness/impairmentRelay.js';
import { packetGaps, type PacketGaps } from '../harness/packetGaps.js';
import { RelayPath } from '../harness/relayPath.js';
import { SentRtpGaps } from '../harness/sentRtpGaps.js';
import { trackPath } from '../harness/util.js';

/**
 * 15 s (20 before): the last of the audio crosses 65535 → 0 within ~9 s, and the relays' loss of 3.5-6.5 % is still
 * over ~3,300 packets each (seeded).
 */
const RECORD_S = 15;
const VOICES = [
  { freq: 500, amplitude: 0.3 },
  { freq: 800, amplitude: 0.25 },
  { freq: 1100, amplitude: 0.2 },
] as const;
/** Each direction of each path. */
const IMPAIRMENT: Impairment = { lossPercent: 5, delayMs: 30, jitterMs: 30 };

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('recording through loss, jitter and reordering', () => {
  it('NACK, PLI and Opus concealment keep tracks, tiles and the mix whole at 5 % loss + 30 ms jitter', async () => {
    // A mesh room: the relay sits between each participant and the recorder itself, so what the recorder's NACKs, PLIs
    // and concealment do against loss is what is measured (in an SFU room the SFU would repair the path first).
    const s = await startServer({ port: 0, defaultRoomMode: 'p2p' });
    cleanups.push(() => s.close());
    const out = mkdtempSync(join(tmpdir(), 'rtc-impair-'));
    const cli = new CliProcess(['--ice-address', '127.0.0.1', '--room', 'impair', '--server', s.wsUrl, '--out', out, '--json', '--size', '1280x720', '--max-speakers', '3']);
    cleanups.push(() => cli.kill('SIGKILL'));
    await cli.waitForLine(/^recording room impair into /);

    const clips = await Promise.all(
      VOICES.map((v) => opusToneFixture({ freq: v.freq, burstOffMs: 0, phases: [{ seconds: 10, amplitude: v.amplitude }] }).then(loadOggOpus)),
    );
    const video = loadIvf((await videoFixture({ width: 640, height: 360, fps: 30, kbps: 800, keyframeSeconds: 1, seconds: 10, variant: 0 })).path);
    const scheduler = new MediaScheduler();
    cleanups.push(() => scheduler.stop());
    // What each participant really sent (a starved load generator skips frames: that gap is not the recorder's).
    const sent = VOICES.map(() => new SentRtpGaps());
    const paths = VOICES.map((_, i) => new RelayPath({ seed: 1000 + i, toUpstream: IMPAIRMENT, toClient: IMPAIRMENT, keepDelays: false, tap: sent[i]!.tap }));
    for (const p of paths) cleanups.push(() => p.close());
    const people = VOICES.map(
      (v, i) =>
        new SyntheticParticipant({
          serverUrl: s.wsUrl,
          room: 'impair',
          name: `V${v.freq}`,
          audio: clips[i],
          video,
          startOffset: i,
          scheduler,
          // The video crosses 65535 → 0 within the first seconds (~100 packets a second), the audio later.
          firstSequenceNumber: 65536 - 150 * (i + 1),
          rewriteOffer: paths[i]!.rewriteOffer,
          rewriteAnswer: paths[i]!.rewriteAnswer,
        }),
    );
    for (const p of people) cleanups.push(() => p.close());
    await Promise.all(people.map((p) => p.join()));
    await Promise.all(people.map((p) => p.flowing));
    await new Promise((r) => setTimeout(r, RECORD_S * 1000));
    // Kernel drops per socket (a receive buffer overflowing is loss the relay did not decide), for the report.
    const drops = udpDrops();
    const socketReport = paths.map((p) => {
      const r = p.relay!;
      return `relay ${r.port} drops ${drops.get(r.port) ?? '?'}, participant ${r.clientPort} drops ${drops.get(r.clientPort!) ?? '?'}, recorder ${r.upstreamPort} drops ${drops.get(r.upstreamPort!) ?? '?'}`;
    });
    scheduler.stop();
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);

    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const manifest = JSON.parse(readFileSync(join(summary.dir, 'manifest.json'), 'utf8')) as Manifest;
    const relays = paths.map((p) => p.relay!.counters);
    const report: string[] = [...socketReport, `recorder stalls: ${cli.stderr.filter((l) => l.includes('did not run')).map((l) => JSON.parse(l).ms as number).join(' ') || 'none'} ms`];
    for (const [i, r] of relays.entries()) {
      const u = r.toUpstream;
      const d = r.toClient;
      report.push(
        `relay ${i}: to recorder ${u.impaired} media, lost ${u.lostRandom} (${((u.lostRandom / u.impaired) * 100).toFixed(1)} %), reordered ${u.reordered}; ` +
          `to participant ${d.impaired} RTCP, lost ${d.lostRandom}, passed ${u.passed}+${d.passed} STUN/DTLS`,
      );
    }
    for (const p of people) report.push(`${p.stats().name}: ${JSON.stringify(p.stats().streams.map((x) => ({ kind: x.kind, sent: x.packetsSent, nacked: x.nackedPackets, pli: x.pliReceived, jumps: x.keyframeJumps, skipped: x.framesSkipped })))}`);

    // Per-track files: decodable, no gap > 100 ms.
    expect(manifest.tracks, `${report.join('\n')}\n${cli.stderr.slice(-20).join('\n')}`).toHaveLength(6);
    const files = new Map<string, { gaps: PacketGaps; errors: string[] }>();
    for (const t of manifest.tracks) {
      const file = trackPath(summary.dir, t);
      const checked = { gaps: await packetGaps(file, t.kind), errors: await decodeErrors(file) };
      files.set(t.id, checked);
      report.push(
        `${t.participantName} ${t.kind}: received ${t.packetsReceived}, lost ${t.packetsLost}, NACKs ${t.nacksSent} for ${t.packetsNacked} packets, recovered ${t.packetsRecovered}, PLIs ${t.keyframesRequested}; ` +
          `sender's own longest gap ${sent[VOICES.findIndex((v) => `V${v.freq}` === t.participantName)]!.longestMs(t.ssrc, t.clockRate).toFixed(0)} ms; ` +
          `${checked.gaps.packets} in the file, longest gap ${Math.round(checked.gaps.longestMs)} ms ${JSON.stringify(checked.gaps.over)}; decode errors ${checked.errors.length}`,
      );
    }

    // Composite: no tile frozen > 1 s.
    const mp4 = join(summary.dir, manifest.composite!.file);
    const freezes = await compositeFreezes(mp4, await probeOutput(mp4), 3);
    report.push(`composite tiles frozen: longest ${freezes?.longestSec.toFixed(2)} s, per tile ${freezes?.frozenSec.map((x) => x.toFixed(2)).join(' ')} s`);

    // Mix: every voice whole (a lost packet is concealed, not a hole).
    const origin = manifest.composite!.startedAtMs;
    const mix = await decodeAudioPcm(mp4);
    const voices: ContinuityResult[] = [];
    for (const t of manifest.tracks.filter((x) => x.kind === 'audio')) {
      const r = voiceContinuity(mix, {
        id: t.participantName,
        freq: Number(t.participantName.slice(1)),
        trackPcm: await decodeAudioPcm(trackPath(summary.dir, t)),
        trackOffsetMs: t.firstPacketAtMs! - origin,
        inMix: inMixFromTimeline(manifest.speakerTimeline ?? [], t.participantId),
      });
      voices.push(r);
      report.push(`mix ${r.id}: ${r.missingCells}/${r.judgedCells} cells missing, longest hole ${r.longestHoleMs} ms ${JSON.stringify(r.holes.slice(0, 5))}`);
    }
    console.log(`impairment run:\n${report.join('\n')}`);

    for (const r of relays) {
      const lost = r.toUpstream.lostRandom / r.toUpstream.impaired;
      expect(lost).toBeGreaterThan(0.035);
      expect(lost).toBeLessThan(0.065);
      expect(r.toUpstream.reordered).toBeGreaterThan(0);
    }
    for (const t of manifest.tracks) {
      const { gaps, errors } = files.get(t.id)!;
      expect(errors, `${t.id} decode errors`).toEqual([]);
      expect(gaps.lastSec - gaps.firstSec, `${t.id} span`).toBeGreaterThan(RECORD_S - 3);
      // 100 ms, unless the sender itself skipped longer (then that, plus a frame). +0.5 ms: three 30 fps frame
      // intervals read from the file are 100.00000000000142 ms.
      const senderGapMs = sent[VOICES.findIndex((v) => `V${v.freq}` === t.participantName)]!.longestMs(t.ssrc, t.clockRate);
      expect(gaps.longestMs, `${t.id} longest gap (sender's own: ${senderGapMs.toFixed(0)} ms)`).toBeLessThanOrEqual(Math.max(100, senderGapMs + 40) + 0.5);
      if (t.kind === 'video') {
        expect(t.nacksSent, `${t.id} NACKs`).toBeGreaterThan(0);
        expect(t.packetsRecovered, `${t.id} recovered`).toBeGreaterThan(0);
        // What was lost and asked for came back (a NACK or its retransmission can be lost too, 5 % each, but werift asks again).
        expect(t.packetsRecovered! / t.packetsNacked!, `${t.id} recovered share`).toBeGreaterThan(0.95);
        expect(t.keyframesRequested, `${t.id} PLIs`).toBeGreaterThanOrEqual(1);
      }
    }
    expect(freezes, 'composite judged').toBeDefined();
    expect(freezes!.longestSec).toBeLessThan(1);
    // Nor often: without NACK across the wrap, tiles stood still ~10 s of 17 in freezes of up to 0.5 s each.
    for (const frozen of freezes!.frozenSec) expect(frozen).toBeLessThan(2);
    expect(voices).toHaveLength(3);
    for (const v of voices) {
      // Judged nearly the whole recording (a steady tone), and never silent for more than 60 ms.
      expect(v.judgedCells, v.id).toBeGreaterThan(((RECORD_S - 5) * 1000) / 20);
      expect(v.longestHoleMs, v.id).toBeLessThanOrEqual(60);
    }
  }, 180_000);
});

/** Datagrams each local UDP port's socket dropped (receive buffer full), from /proc/net/udp. */
function udpDrops(): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    out.set(parseInt(f[1]!.split(':')[1]!, 16), Number(f[12]));
  }
  return out;
}
