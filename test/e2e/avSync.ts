// A/V sync helpers shared by the composite tests: flash/beep events in a mixed file, in what the browser sent (per-track
// files placed on the sender's clock), and paired by wall-clock time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { decodeAudioPcm, detectBeepOnsets, detectFlashOnsets, type Region, videoBrightnessTimeline } from '../harness/analyze.js';
import { trackPath } from '../harness/util.js';

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

export interface FlashEvent {
  /** Wall-clock ms of the flash. */
  wall: number;
  /** Nearest beep − flash, ms. */
  offset: number;
}

/** Events of `a` paired with those of `b` at the same wall-clock time (±300 ms). */
export function pairOffsets(a: FlashEvent[], b: FlashEvent[]): Array<{ a: number; b: number }> {
  const out: Array<{ a: number; b: number }> = [];
  for (const x of a) {
    const y = b.find((e) => Math.abs(e.wall - x.wall) < 300);
    if (y) out.push({ a: x.offset, b: y.offset });
  }
  return out;
}

/** Flash/beep events of what the browser sent (the first participant, or the named one): per-track files placed on the sender's clock by its sender reports. */
export async function sentFlashBeepEvents(dir: string, beepHz: number, participantName?: string): Promise<FlashEvent[]> {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const firstNtp = (kind: 'audio' | 'video'): { file: string; ntp: number } => {
    const t = m.tracks.find((x) => x.kind === kind && (participantName === undefined || x.participantName === participantName))!;
    const sr = t.lastSenderReport!;
    return { file: trackPath(dir, t), ntp: sr.ntpTimeMs + ((t.firstRtpTimestamp! - sr.rtpTimestamp) / t.clockRate) * 1000 };
  };
  const a = firstNtp('audio');
  const v = firstNtp('video');
  const flashes = detectFlashOnsets(await videoBrightnessTimeline(v.file)).map((x) => v.ntp + x * 1000);
  const beeps = detectBeepOnsets(await decodeAudioPcm(a.file, { filter: `bandpass=f=${beepHz}:width_type=q:w=4` }), 48_000).map((x) => a.ntp + x * 1000);
  const out: FlashEvent[] = [];
  for (const f of flashes) {
    const b = beeps.reduce<number | undefined>((best, x) => (best === undefined || Math.abs(x - f) < Math.abs(best - f) ? x : best), undefined);
    if (b !== undefined && Math.abs(b - f) < 400) out.push({ wall: f, offset: b - f });
  }
  return out;
}

/** Flash onsets (s, on the file's timeline) with the offset of the nearest beep (ms, audio − video). */
export async function flashBeepEvents(file: string, beepHz: number, region?: Region): Promise<Array<{ flashSec: number; offsetMs: number }>> {
  const sr = 48_000;
  const flashes = detectFlashOnsets(await videoBrightnessTimeline(file, { region }));
  const beeps = detectBeepOnsets(await decodeAudioPcm(file, { sampleRate: sr, filter: `bandpass=f=${beepHz}:width_type=q:w=4` }), sr);
  const out: Array<{ flashSec: number; offsetMs: number }> = [];
  for (const f of flashes) {
    const b = beeps.reduce<number | undefined>((best, x) => (best === undefined || Math.abs(x - f) < Math.abs(best - f) ? x : best), undefined);
    if (b !== undefined && Math.abs(b - f) < 0.4) out.push({ flashSec: f, offsetMs: (b - f) * 1000 });
  }
  return out;
}
