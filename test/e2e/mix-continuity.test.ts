// Audio continuity of the loudest-N mix with exact schedules: five synthetic werift publishers (pre-encoded Opus, sent
// at real-time pace with correct sender reports, no browsers) into the real recorder CLI. One voice talks the whole
// time and is always the loudest: every 20 ms cell in which its own track file has its tone must have it in the mix.
// The others talk in bursts with loudness phases; the same holds for each of them while the manifest says it is mixed.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { videoFixture } from '../../bench/fixtures.js';
import { loadIvf, loadOggOpus } from '../../bench/loadgen/media.js';
import { MediaScheduler, SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { startServer } from '../../src/http/HttpServer.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { decodeAudioPcm } from '../harness/analyze.js';
import { CliProcess } from '../harness/cli.js';
import { alignmentSearchMs, type ContinuityResult, describeContinuity, inMixFromTimeline, loudestSetCheck, type LoudestSetVoice, trackOffsetInMix, voiceContinuity } from '../harness/continuity.js';
import { opusToneFixture } from '../harness/fixtures.js';
import { trackPath } from '../harness/util.js';

const PHASE_S = 10;
/** freq → loudness per phase (A, B, A, …); bursts unless steady. */
const VOICES = [
  { freq: 500, steady: true, phases: [0.3, 0.3] },
  { freq: 800, steady: false, phases: [0.25, 0.25] },
  { freq: 1100, steady: false, phases: [0.2, 0.02] },
  { freq: 1400, steady: false, phases: [0.02, 0.2] },
  { freq: 1700, steady: false, phases: [0.01, 0.01] },
] as const;
const RECORD_S = 32;
/** The continuity goal: share of a mixed voice's talking cells missing from the mix. */
const MAX_MISSING_SHARE = 0.005;

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('mixed audio continuity (synthetic publishers)', () => {
  // With the system ffmpeg only. This test ran a second time with the bundled ffmpeg (FFMPEG_PATH), 37 s of CI; what
  // that run had of its own is ffmpeg's part of the mix: node mixes the voices and pipes s16le PCM to ffmpeg, which
  // only encodes it (AAC) and muxes it; the loudest-3 choice and the slewing are node's. The bundled build's
  // encode and mux are checked in test/e2e/bundledFfmpeg.test.ts: audio as long as the wall clock, both voices in the
  // mix, and every 20 ms talking cell of each voice's own track in the mix (the same continuity check as here).
  it('a continuous talker is continuous in the mix; every mixed voice is whole and the loudest 3 are mixed', async () => {
    const s = await startServer({ port: 0 });
    cleanups.push(() => s.close());
    const out = mkdtempSync(join(tmpdir(), 'rtc-cont-'));
    const cli = new CliProcess(['--ice-address', '127.0.0.1', '--room', 'cont', '--server', s.wsUrl, '--out', out, '--json', '--size', '1280x720', '--max-speakers', '3']);
    cleanups.push(() => cli.kill('SIGKILL'));
    await cli.waitForLine(/^recording room cont into /);

    const clips = await Promise.all(
      VOICES.map((v) =>
        opusToneFixture({
          freq: v.freq,
          burstOffMs: v.steady ? 0 : 70,
          phases: v.phases.map((amplitude) => ({ seconds: PHASE_S, amplitude })),
        }).then(loadOggOpus),
      ),
    );
    // 720p cameras on four of them: paced-out keyframes are what moved the audio's clock offset (the holes' cause).
    const video = loadIvf((await videoFixture({ width: 1280, height: 720, fps: 30, kbps: 1500, keyframeSeconds: 1, seconds: 10, variant: 0 })).path);
    const scheduler = new MediaScheduler();
    cleanups.push(() => scheduler.stop());
    const people = VOICES.map(
      (v, i) => new SyntheticParticipant({ serverUrl: s.wsUrl, room: 'cont', name: `V${v.freq}`, audio: clips[i], video: i < 4 ? video : undefined, startOffset: i, scheduler }),
    );
    for (const p of people) cleanups.push(() => p.close());
    await Promise.all(people.map((p) => p.join()));
    await Promise.all(people.map((p) => p.flowing));
    await new Promise((r) => setTimeout(r, RECORD_S * 1000));
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);

    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string };
    const manifest = JSON.parse(readFileSync(join(summary.dir, 'manifest.json'), 'utf8')) as Manifest;
    const mix = await decodeAudioPcm(join(summary.dir, manifest.composite!.file));
    const results: ContinuityResult[] = [];
    const voices: LoudestSetVoice[] = [];
    for (const track of manifest.tracks.filter((t) => t.kind === 'audio')) {
      const freq = Number(track.participantName.slice(1));
      const trackPcm = await decodeAudioPcm(trackPath(summary.dir, track));
      voices.push({ freq, trackPcm, trackOffsetMs: trackOffsetInMix(manifest, track) });
      results.push(
        voiceContinuity(mix, {
          id: track.participantName,
          freq,
          trackPcm,
          trackOffsetMs: trackOffsetInMix(manifest, track),
          inMix: inMixFromTimeline(manifest.speakerTimeline ?? [], track.participantId),
        }, { searchMs: alignmentSearchMs(manifest, track) }),
      );
    }
    console.log(`mix continuity:\n${describeContinuity(results)}\n${JSON.stringify(manifest.composite!.audioTracks)}\nspeakers ${JSON.stringify(manifest.speakerTimeline)}`);
    expect(results).toHaveLength(5);
    const steady = results.find((r) => r.freq === 500)!;
    // The steady voice is judged nearly the whole recording.
    expect(steady.judgedCells).toBeGreaterThan(((RECORD_S - 4) * 1000) / 20);
    for (const r of results) {
      expect(r.missingShare, `${r.id}: ${describeContinuity([r])}`).toBeLessThanOrEqual(MAX_MISSING_SHARE);
    }
    // The loudest three, judged from the tracks, are the three in the mix, in both loudness phases.
    const loudest = loudestSetCheck(mix, voices, 3);
    console.log(`loudest-3: ${loudest.right}/${loudest.judged} settled windows right; sets ${loudest.sets.join(' | ')}\n${loudest.failures.slice(0, 5).join('\n')}`);
    expect(loudest.judged).toBeGreaterThanOrEqual(20);
    expect(loudest.sets.length).toBeGreaterThanOrEqual(2);
    expect(loudest.right / loudest.judged).toBeGreaterThanOrEqual(0.95);
    // The quiet voice is never mixed while three louder ones talk.
    expect(results.find((r) => r.freq === 1700)!.judgedCells).toBe(0);
  });
});
