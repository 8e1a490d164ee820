/**
 * Tone-burst onsets in decoded Opus, for the MCU latency figure: the talker's clip is silence then a tone, again and
 * again; the clip's loud packets (decoded once, before sending) give the send time of each burst's first tone packet,
 * and the detector finds the onsets in what a listener receives (the server's mix, decoded as it arrives). Both use
 * the same threshold on 20 ms frames, so the measure's own granularity cancels out.
 */
import { OpusDecoder } from 'opus-decoder';
import type { AudioClip } from './media.js';

/** A frame louder than this (RMS, dBFS) after QUIET_FRAMES quiet ones is an onset. */
export const ONSET_DB = -30;
/** Quiet: below this. */
const QUIET_DB = -45;
/** 100 ms of 20 ms frames: an onset needs that much quiet before it (a tone's own frames never qualify). */
const QUIET_FRAMES = 5;
const FRAME_SAMPLES = 960;

/** RMS level of PCM in dBFS (-Infinity for digital silence or an empty frame). */
export function levelDb(pcm: Float32Array): number {
  if (pcm.length === 0) return -Infinity;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i]! * pcm[i]!;
  return 10 * Math.log10(sum / pcm.length);
}

/** Feeds frame levels in order; `push` says whether this frame is an onset (loud after enough quiet). */
export class OnsetDetector {
  private quiet = 0;

  push(db: number): boolean {
    const onset = db > ONSET_DB && this.quiet >= QUIET_FRAMES;
    this.quiet = db < QUIET_DB ? this.quiet + 1 : 0;
    return onset;
  }
}

/** A mono decoder of 48 kHz Opus (one per stream: the decoder keeps state between packets). */
export async function monoDecoder(): Promise<OpusDecoder> {
  const d = new OpusDecoder({ channels: 1 });
  await d.ready;
  return d;
}

/** The level of one packet decoded with `decoder` (corrupt or empty: -Infinity, and `ok` false). */
export function decodeLevel(decoder: OpusDecoder, payload: Uint8Array): { db: number; samples: number; ok: boolean } {
  const out = decoder.decodeFrame(payload);
  const ok = out.errors.length === 0 && out.samplesDecoded > 0;
  return { db: ok ? levelDb(out.channelData[0]!.subarray(0, out.samplesDecoded)) : -Infinity, samples: out.samplesDecoded, ok };
}

/** The levels of one packet's 20 ms frames, in order (a 40 ms packet has two); a corrupt or empty packet: [-Infinity]. */
export function decodeFrameLevels(decoder: OpusDecoder, payload: Uint8Array): number[] {
  const out = decoder.decodeFrame(payload);
  if (out.errors.length > 0 || out.samplesDecoded === 0) return [-Infinity];
  const pcm = out.channelData[0]!;
  const levels: number[] = [];
  for (let i = 0; i < out.samplesDecoded; i += FRAME_SAMPLES) levels.push(levelDb(pcm.subarray(i, Math.min(out.samplesDecoded, i + FRAME_SAMPLES))));
  return levels;
}

/**
 * Each packet's decoded level (RMS, dBFS), the clip decoded twice in a row as it loops: the second pass, whose levels
 * are returned, starts with the decoder's state at the clip's end.
 */
async function clipLevelsDb(clip: AudioClip): Promise<number[]> {
  const decoder = await monoDecoder();
  try {
    clip.packets.forEach((p) => decodeLevel(decoder, p.data));
    return clip.packets.map((p) => decodeLevel(decoder, p.data).db);
  } finally {
    decoder.free();
  }
}

/** Gives every packet of the clip the RFC 6464 audio level a browser would send with it (its RMS in −dBov, 0–127). */
export async function addAudioLevels(clip: AudioClip): Promise<void> {
  const levels = await clipLevelsDb(clip);
  clip.packets.forEach((p, i) => {
    const db = levels[i]!;
    p.levelDbov = Number.isFinite(db) ? Math.min(127, Math.max(0, Math.round(-db))) : 127;
  });
}

/**
 * Which packets of the clip are loud (decoded level above the onset threshold). The talker notes an onset when it
 * sends a loud packet after a quiet one: the first tone packet, also when a starved scheduler skipped the clip's own.
 */
export async function clipLoudPackets(clip: AudioClip): Promise<boolean[]> {
  return (await clipLevelsDb(clip)).map((db) => db > ONSET_DB);
}
