// A/V sync helpers shared by the composite tests: flash/beep events in a mixed file, in what the browser sent (per-track
// files placed on the sender's clock), and paired by wall-clock time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mappingMoveMs, rtpTicksBetween } from '../../src/media/rtp/senderReport.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { decodeAudioPcm, detectBeepOnsets, detectFlashOnsets, type Region, videoBrightnessTimeline } from '../harness/analyze.js';
import { trackPath } from '../harness/util.js';

/** flashBeepFixture's default period (one flash and beep a second), the one every A/V test records. */
const FIXTURE_PERIOD_MS = 1000;

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

/**
 * Events of `a` paired with those of `b` at the same wall-clock time. The two clocks may disagree by a few hundred ms
 * (a sender's NTP clock against ours; measured 0.36 s in a CI run), so the shift under 500 ms that pairs the most
 * events within ±300 ms is found first (flashes come once a second: a larger shift would pair the wrong ones; the
 * window stays wide because MediaRecorder's timeline drifts against the wall clock over a recording).
 */
export function pairOffsets(a: FlashEvent[], b: FlashEvent[]): Array<{ a: number; b: number }> {
  const pairsAt = (shift: number) => {
    const out: Array<{ a: number; b: number }> = [];
    for (const x of a) {
      const y = b.find((e) => Math.abs(e.wall + shift - x.wall) < 300);
      if (y) out.push({ a: x.offset, b: y.offset });
    }
    return out;
  };
  const shifts = a.flatMap((x) => b.map((y) => x.wall - y.wall)).filter((d) => Math.abs(d) < 500);
  return shifts.map(pairsAt).reduce<Array<{ a: number; b: number }>>((best, p) => (p.length > best.length ? p : best), []);
}

/**
 * Flash/beep events of what the browser sent (the first participant, or the named one): per-track files placed on the
 * sender's clock by its sender reports, each moment by the report in effect then (a browser's audio mapping can step
 * by hundreds of ms: the manifest's `senderReportSteps`).
 */
export async function sentFlashBeepEvents(dir: string, beepHz: number, participantName?: string): Promise<FlashEvent[]> {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const onSenderClock = (kind: 'audio' | 'video'): { file: string; ntpAt: (fileSec: number) => number } => {
    const t = m.tracks.find((x) => x.kind === kind && (participantName === undefined || x.participantName === participantName))!;
    const first = t.firstRtpTimestamp!;
    const sinceFirst = (rtp: number) => rtpTicksBetween(first, rtp) / t.clockRate;
    const reports = [t.firstSenderReport!, ...(t.senderReportSteps ?? [])].map((r) => ({ at: sinceFirst(r.rtpTimestamp), ntp: r.ntpTimeMs }));
    return {
      file: trackPath(dir, t),
      ntpAt: (fileSec) => {
        const r = reports.filter((x) => x.at <= fileSec).at(-1) ?? reports[0]!;
        return r.ntp + (fileSec - r.at) * 1000;
      },
    };
  };
  const a = onSenderClock('audio');
  const v = onSenderClock('video');
  const flashes = detectFlashOnsets(await videoBrightnessTimeline(v.file)).map(v.ntpAt);
  const beeps = detectBeepOnsets(await decodeAudioPcm(a.file, { filter: `bandpass=f=${beepHz}:width_type=q:w=4` }), 48_000).map(a.ntpAt);
  return beepOffsets(flashes, beeps).map((e) => ({ wall: e.flash, offset: e.offset }));
}

/** A track's sender-report steps as `s on its file: ±ms` (for failure messages). */
export function senderReportStepsText(dir: string): string {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  return m.tracks
    .map((t) => {
      let prev = t.firstSenderReport;
      const steps = (t.senderReportSteps ?? []).map((r) => {
        const moved = mappingMoveMs(prev!, r, t.clockRate);
        const at = (rtpTicksBetween(t.firstRtpTimestamp!, r.rtpTimestamp) / t.clockRate).toFixed(1);
        prev = r;
        return `${at} s: ${moved > 0 ? '+' : ''}${moved.toFixed(0)} ms`;
      });
      return `${t.participantName} ${t.kind}: ${steps.join(', ') || 'steady'}`;
    })
    .join('; ');
}

/** Flash onsets (s, on the file's timeline) with their beep's offset (ms, audio − video; see beepOffsets). */
export async function flashBeepEvents(file: string, beepHz: number, region?: Region): Promise<Array<{ flashSec: number; offsetMs: number }>> {
  const sr = 48_000;
  const flashes = detectFlashOnsets(await videoBrightnessTimeline(file, { region }));
  const beeps = detectBeepOnsets(await decodeAudioPcm(file, { sampleRate: sr, filter: `bandpass=f=${beepHz}:width_type=q:w=4` }), sr);
  const ms = (t: number[]) => t.map((x) => x * 1000);
  return beepOffsets(ms(flashes), ms(beeps)).map((e) => ({ flashSec: e.flash / 1000, offsetMs: e.offset }));
}

/**
 * Each flash's beep, as (flash time, beep − flash), all in ms. The fixture beeps and flashes once per period, so which
 * beep belongs to a flash is only known modulo the period: a browser's fake camera falls behind its fake microphone
 * whenever it is starved (it never drops a frame; seen here: 150-580 ms behind, growing during a recording). The
 * skew is taken as the offsets' circular mean, and each flash paired with the beep nearest to flash + skew (within
 * 40 % of a period, else it is left out: a flash or beep the detector missed).
 */
export function beepOffsets(flashes: number[], beeps: number[]): Array<{ flash: number; offset: number }> {
  const periodMs = FIXTURE_PERIOD_MS;
  if (!beeps.length) return [];
  const nearest = (t: number) => beeps.reduce((best, x) => (Math.abs(x - t) < Math.abs(best - t) ? x : best));
  const angle = (offset: number) => (2 * Math.PI * offset) / periodMs;
  const raw = flashes.map((f) => angle(nearest(f) - f));
  const skew = (Math.atan2(sum(raw.map(Math.sin)), sum(raw.map(Math.cos))) * periodMs) / (2 * Math.PI);
  return flashes.flatMap((f) => {
    const offset = nearest(f + skew) - f;
    return Math.abs(offset - skew) < 0.4 * periodMs ? [{ flash: f, offset }] : [];
  });
}

const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
