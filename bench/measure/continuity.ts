/**
 * Audio continuity of a mixed recording: for each voice, the share of its talking time (20 ms cells) missing from the
 * mix while it was in it (test/harness/continuity.ts). The load generator sends each clip from a known packet at a
 * known wall time and the recorder lost nothing (a goal of its own), so what the recorder received is the clip from
 * that packet on: it is the reference. The floor's amix starts every clip at packet 0 at t = 0, each voice at 1/N.
 */
import { decodeAudioPcm } from '../../test/harness/analyze.js';
import { inMixFromTimeline, voiceContinuity, type ContinuityResult } from '../../test/harness/continuity.js';
import type { ParticipantMediaSpec } from '../fixtures.js';

const SAMPLE_RATE = 48_000;
const PACKET_SAMPLES = 960;

export interface MixContinuity {
  voices: ContinuityResult[];
  /** The worst voice's missing share, per cent of its judged cells. */
  worstMissingPct: number;
  longestHoleMs: number;
  judgedCells: number;
}

export interface SentVoice {
  media: ParticipantMediaSpec;
  /** The clip packet the generator started at. */
  startPacket: number;
  /** Where the first sent packet lies on the mix timeline (ms). */
  offsetMs: number;
  /** Speaker-timeline id of the participant (ours); undefined: always in the mix (the floor). */
  participantId?: string;
  /** The generator stopped sending here (mix timeline ms): later cells are not judged. */
  untilMs?: number;
}

export async function mixContinuity(
  mixFile: string,
  voices: SentVoice[],
  opts: { speakerTimeline?: ReadonlyArray<{ atMs: number; speakers: readonly string[] }>; mixGain?: number } = {},
): Promise<MixContinuity> {
  const mix = await decodeAudioPcm(mixFile);
  const results: ContinuityResult[] = [];
  for (const v of voices) {
    const clip = await decodeAudioPcm(v.media.audio!.path);
    results.push(
      voiceContinuity(mix, {
        id: v.media.name,
        freq: v.media.audio!.spec.freqHz,
        trackPcm: loopFrom(clip, v.startPacket * PACKET_SAMPLES, mix.length),
        trackOffsetMs: v.offsetMs,
        inMix: inMixUntil(v.participantId !== undefined && opts.speakerTimeline ? inMixFromTimeline(opts.speakerTimeline, v.participantId) : () => true, v.untilMs),
      }, { sampleRate: SAMPLE_RATE, mixGain: opts.mixGain }),
    );
  }
  return {
    voices: results,
    worstMissingPct: Math.max(0, ...results.map((r) => r.missingShare * 100)),
    longestHoleMs: Math.max(0, ...results.map((r) => r.longestHoleMs)),
    judgedCells: results.reduce((a, r) => a + r.judgedCells, 0),
  };
}

function inMixUntil(inMix: (ms: number) => boolean, untilMs = Infinity): (ms: number) => boolean {
  return (ms) => ms < untilMs && inMix(ms);
}

/** The clip played from sample `from` on, looping, `length` samples long (the generator loops its clips). */
function loopFrom(clip: Float32Array, from: number, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0, j = from % clip.length; i < length; i++, j = j + 1 === clip.length ? 0 : j + 1) out[i] = clip[j]!;
  return out;
}
