import type { Manifest, TrackEntry } from '../../src/recording/ManifestTypes.js';
// Audio continuity of a mix, judged against what the recorder received: for one voice, its own track file (one tone)
// says in which 20 ms cells it talked; the mix must carry that tone in every such cell while the voice was in the mix.
// A concealed lost packet still carries the tone (libopus PLC repeats it); a hole does not. Used by the e2e tests and
// by `npm run bench` (bench/measure/continuity.ts).

/** Tone amplitude (Goertzel, Hann window) every `hopMs` ms: a sine of amplitude A reads ≈A. */
export function toneEnvelope(pcm: Float32Array, sampleRate: number, freq: number, windowMs: number, hopMs: number): Float32Array {
  const n = Math.round((sampleRate * windowMs) / 1000);
  const hop = Math.round((sampleRate * hopMs) / 1000);
  const w = new Float64Array(n);
  let wsum = 0;
  for (let i = 0; i < n; i++) wsum += w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
  const coeff = 2 * Math.cos((2 * Math.PI * freq) / sampleRate);
  // Window k is centred on k * hop: the envelope at index k describes time k * hopMs.
  const count = Math.max(0, Math.floor(pcm.length / hop));
  const out = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    const start = k * hop - (n >> 1);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const j = start + i;
      const x = j >= 0 && j < pcm.length ? pcm[j]! : 0;
      const s0 = x * w[i]! + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    out[k] = (2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - coeff * s1 * s2))) / wsum;
  }
  return out;
}

export interface VoiceInput {
  /** For the report. */
  id: string;
  freq: number;
  /** The voice's own track, decoded (mono). */
  trackPcm: Float32Array;
  /** Where the track's t = 0 lies on the mix timeline (ms), e.g. from the manifest; refined by `searchMs`. */
  trackOffsetMs: number;
  /** Whether the voice was in the mix at mix time `ms` (the manifest's speaker timeline). Default: always. */
  inMix?: (ms: number) => boolean;
}

export interface ContinuityOptions {
  sampleRate?: number;
  cellMs?: number;
  /** The track talks in a cell when its tone is within this many dB of its loud level (95th percentile). Default 15. */
  talkDb?: number;
  /** The mix misses a cell when the tone there is this many dB below the track's (limiter headroom). Default 14. */
  missDb?: number;
  /** The voice's gain in the mix (an amix of N voices has each at 1/N). Default 1. */
  mixGain?: number;
  /** The offset is searched this far (ms) around `trackOffsetMs`. Default 100 (less than half a 250 ms burst period, which would align to the wrong burst). */
  searchMs?: number;
}

export interface Hole {
  atMs: number;
  ms: number;
}

export interface ContinuityResult {
  id: string;
  freq: number;
  /** Cells judged: the track talks there (and in both neighbours) and the voice is in the mix. */
  judgedCells: number;
  missingCells: number;
  /** missingCells / judgedCells (0 when nothing was judged). */
  missingShare: number;
  longestHoleMs: number;
  /** Runs of missing cells, longest first (at most 10). */
  holes: Hole[];
  /** The aligned offset minus the given one (ms). */
  alignmentMs: number;
  /** The alignment path at the start of each 4 s window (how the placement moved over time), ms. */
  localAlignmentsMs: number[];
}

const HOP_MS = 2;

/** Judges one voice against the decoded mix. */
export function voiceContinuity(mixPcm: Float32Array, voice: VoiceInput, opts: ContinuityOptions = {}): ContinuityResult {
  const sr = opts.sampleRate ?? 48_000;
  const cellMs = opts.cellMs ?? 20;
  const searchMs = opts.searchMs ?? 100;
  const windowMs = 2 * cellMs;
  const track = toneEnvelope(voice.trackPcm, sr, voice.freq, windowMs, HOP_MS);
  const mix = toneEnvelope(mixPcm, sr, voice.freq, windowMs, HOP_MS);

  const loud = percentile(track, 0.95);
  const talkLevel = Math.max(0.003, loud * 10 ** (-(opts.talkDb ?? 15) / 20));
  const missFactor = (opts.mixGain ?? 1) * 10 ** (-(opts.missDb ?? 14) / 20);
  const cellHops = cellMs / HOP_MS;
  const cells = Math.floor(track.length / cellHops);
  const talking = new Uint8Array(cells);
  for (let c = 0; c < cells; c++) talking[c] = track[c * cellHops + (cellHops >> 1)]! >= talkLevel ? 1 : 0;

  // Alignment: the shift (2 ms steps) at which the mix best follows the track's envelope where it talks.
  const base = Math.round(voice.trackOffsetMs / HOP_MS);
  const range = Math.round(searchMs / HOP_MS);
  const bestShift = (fromCell: number, toCell: number): number => {
    let best = 0;
    let bestScore = -1;
    for (let s = -range; s <= range; s++) {
      let score = 0;
      for (let c = fromCell; c < toCell; c++) {
        if (!talking[c]) continue;
        const k = c * cellHops + (cellHops >> 1);
        const m = mix[k + base + s];
        if (m !== undefined) score += Math.min(m, track[k]!);
      }
      if (score > bestScore) {
        bestScore = score;
        best = s;
      }
    }
    return best;
  };
  const shift = bestShift(0, cells);
  // The offset may move while the voice plays: the mixer slews a track's placement to follow a better clock mapping
  // (at most 2 %: 0.4 ms per 20 ms cell), and two clocks drift apart by a few ms a minute. So the alignment is a path,
  // one shift per 100 ms block, that moves at most one 2 ms step a block (20 ms/s, the mixer's slew rate) and carries
  // the most tone: it follows any slew, but cannot bend around a hole (a 60 ms hole would need 30 steps in 60 ms).
  const blockCells = 100 / cellMs;
  const path = alignmentPath(Math.ceil(cells / blockCells), 2 * range + 1, (block, state) => {
    const s = state - range;
    let score = 0;
    for (let c = block * blockCells; c < Math.min(cells, (block + 1) * blockCells); c++) {
      if (!talking[c]) continue;
      const k = c * cellHops + (cellHops >> 1);
      const m = mix[k + base + s];
      if (m !== undefined) score += Math.min(m, track[k]!);
    }
    return score;
  }).map((state) => state - range);
  const shiftAt = (c: number) => path[Math.floor(c / blockCells)]!;
  const windowCells = 4000 / cellMs;
  const localAlignmentsMs: number[] = [];
  for (let c = 0; c < cells; c += windowCells) localAlignmentsMs.push(shiftAt(c) * HOP_MS);

  const inMix = voice.inMix ?? (() => true);
  let judged = 0;
  let missing = 0;
  const holes: Hole[] = [];
  let run: Hole | undefined;
  for (let c = 1; c + 1 < cells; c++) {
    const k = c * cellHops + (cellHops >> 1);
    const mixK = k + base + shiftAt(c);
    const atMs = mixK * HOP_MS;
    const judgeable = talking[c - 1] && talking[c] && talking[c + 1] && mixK >= 0 && mixK < mix.length && inMix(atMs - cellMs) && inMix(atMs + cellMs);
    if (!judgeable) {
      run = undefined;
      continue;
    }
    judged++;
    // ±1 hop of tolerance: the cell is there if the tone is anywhere at its centre.
    const m = Math.max(mix[mixK - 1] ?? 0, mix[mixK]!, mix[mixK + 1] ?? 0);
    if (m >= track[k]! * missFactor) {
      run = undefined;
      continue;
    }
    missing++;
    if (run) run.ms += cellMs;
    else holes.push((run = { atMs: atMs - cellMs / 2, ms: cellMs }));
  }
  holes.sort((a, b) => b.ms - a.ms);
  return {
    id: voice.id,
    freq: voice.freq,
    judgedCells: judged,
    missingCells: missing,
    missingShare: judged ? missing / judged : 0,
    longestHoleMs: holes[0]?.ms ?? 0,
    holes: holes.slice(0, 10),
    alignmentMs: shift * HOP_MS,
    localAlignmentsMs,
  };
}

/** One line per voice, for logs and assertion messages. */
export function describeContinuity(results: readonly ContinuityResult[]): string {
  return results
    .map(
      (r) =>
        `${r.id} ${r.freq} Hz: ${r.missingCells}/${r.judgedCells} cells missing (${(r.missingShare * 100).toFixed(2)} %), longest hole ${r.longestHoleMs} ms` +
        (r.holes.length ? ` at ${r.holes.map((h) => `${(h.atMs / 1000).toFixed(2)}s+${h.ms}`).join(' ')}` : '') +
        `, alignment ${r.alignmentMs} ms (per 4 s: ${r.localAlignmentsMs.join(' ')})`,
    )
    .join('\n');
}

/** `inMix` for a participant from a speaker timeline (changes at atMs, sorted). */
export function inMixFromTimeline(timeline: ReadonlyArray<{ atMs: number; speakers: readonly string[] }>, participantId: string): (ms: number) => boolean {
  return (ms) => {
    let current: readonly string[] = [];
    for (const c of timeline) {
      if (c.atMs > ms) break;
      current = c.speakers;
    }
    return current.includes(participantId);
  };
}

/**
 * The state sequence (one per block) with the highest total score whose state changes by at most one between
 * neighbouring blocks (Viterbi). Ties keep the state (a path does not wander through silence).
 */
function alignmentPath(blocks: number, states: number, score: (block: number, state: number) => number): number[] {
  if (blocks === 0) return [];
  let total = Float64Array.from({ length: states }, (_, s) => score(0, s));
  const from: Int8Array[] = [];
  for (let b = 1; b < blocks; b++) {
    const next = new Float64Array(states);
    const step = new Int8Array(states);
    for (let s = 0; s < states; s++) {
      let best = total[s]!;
      let d = 0;
      if (s > 0 && total[s - 1]! > best) (best = total[s - 1]!), (d = -1);
      if (s + 1 < states && total[s + 1]! > best) (best = total[s + 1]!), (d = 1);
      next[s] = best + score(b, s);
      step[s] = d;
    }
    from.push(step);
    total = next;
  }
  let state = 0;
  for (let s = 1; s < states; s++) if (total[s]! > total[state]!) state = s;
  const path = new Array<number>(blocks);
  path[blocks - 1] = state;
  for (let b = blocks - 1; b > 0; b--) path[b - 1] = state += from[b - 1]![state]!;
  return path;
}

function percentile(values: Float32Array, q: number): number {
  if (values.length === 0) return 0;
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface LoudestSetVoice {
  freq: number;
  /** The voice's own track, decoded (mono). */
  trackPcm: Float32Array;
  /** Where the track's t = 0 lies on the mix timeline (ms). */
  trackOffsetMs: number;
}

export interface LoudestSetResult {
  /** Windows where the N loudest were clear and settled. */
  judged: number;
  /** …of which the mix carried exactly those. */
  right: number;
  /** The distinct sets judged (frequencies, ascending, comma-joined). */
  sets: string[];
  failures: string[];
}

const dBFS = (x: number): number => 20 * Math.log10(Math.max(x, 1e-6));

/**
 * Whether the mix carried exactly the N loudest voices, judged from what the recorder received (each voice's own
 * track placed on the mix timeline) in every 500 ms window where the N loudest are clear (10 dB between the Nth and
 * the next) and have been for 3 s (the mixer holds a voice 1.5 s and needs a margin to displace it). Right: every
 * wanted voice above -40 dBFS in the mix and 20 dB above every other.
 */
export function loudestSetCheck(mixPcm: Float32Array, voices: readonly LoudestSetVoice[], n: number, sampleRate = 48_000): LoudestSetResult {
  const windowMs = 500;
  const len = Math.round((windowMs * sampleRate) / 1000);
  // The tone's RMS level over [fromMs, fromMs + 500) from 40 ms Goertzel windows: one 500 ms window would be 2 Hz
  // narrow, and a voice the mixer is slewing (packets stretched by up to 2 %) is 10 Hz off at 500 Hz.
  const level = (pcm: Float32Array, freq: number, fromMs: number): number => {
    const start = Math.round((fromMs * sampleRate) / 1000);
    if (start < 0 || start + len > pcm.length) return 0;
    const env = toneEnvelope(pcm.subarray(start, start + len), sampleRate, freq, 40, 20).subarray(1);
    return Math.sqrt(env.reduce((a, x) => a + x * x, 0) / Math.max(1, env.length));
  };
  const windows = Math.floor(((mixPcm.length / sampleRate) * 1000) / windowMs);
  const sent = voices.map((v) => Array.from({ length: windows }, (_, w) => dBFS(level(v.trackPcm, v.freq, w * windowMs - v.trackOffsetMs))));
  const expectedAt = (w: number): string | undefined => {
    if (w < 0 || w >= windows || voices.length <= n) return undefined;
    const ranked = voices.map((v, i) => ({ f: v.freq, db: sent[i]![w]! })).sort((a, b) => b.db - a.db);
    if (!(ranked[n - 1]!.db - ranked[n]!.db >= 10)) return undefined;
    return ranked.slice(0, n).map((r) => r.f).sort((a, b) => a - b).join(',');
  };
  const result: LoudestSetResult = { judged: 0, right: 0, sets: [], failures: [] };
  for (let w = 0; w < windows; w++) {
    const expected = expectedAt(w);
    if (!expected || expectedAt(w + 1) !== expected) continue;
    let settled = true;
    for (let k = 1; k <= 6; k++) if (expectedAt(w - k) !== expected) settled = false;
    if (!settled) continue;
    result.judged++;
    if (!result.sets.includes(expected)) result.sets.push(expected);
    const want = expected.split(',').map(Number);
    const inMix = voices.map((v) => ({ f: v.freq, db: dBFS(level(mixPcm, v.freq, w * windowMs)) }));
    const minWanted = Math.min(...inMix.filter((x) => want.includes(x.f)).map((x) => x.db));
    const maxOther = Math.max(...inMix.filter((x) => !want.includes(x.f)).map((x) => x.db));
    if (minWanted > -40 && minWanted - maxOther >= 20) result.right++;
    else result.failures.push(`${((w * windowMs) / 1000).toFixed(1)}s want ${expected}: ${inMix.map((x) => `${x.f}:${x.db.toFixed(0)}`).join(' ')}`);
  }
  return result;
}

/**
 * How far (ms) the alignment is searched around `trackOffsetInMix`: 100 ms, or further when the mixer slewed the
 * track's placement further than that from where its first packet went (the manifest's `slewedMs`: a mapping that
 * improved after a busy start, up to the mixer's 300 ms slew limit). Slewing is no hole; a path that cannot follow it
 * reads the edges of every burst as missing.
 */
export function alignmentSearchMs(manifest: Manifest, track: TrackEntry): number {
  const mixed = Object.values(manifest.composite?.audioTracks ?? {}).find((a) => a.participantId === track.participantId);
  return Math.max(100, Math.abs(mixed?.slewedMs ?? 0) + 40);
}

/**
 * Where a track file's t = 0 lies on the mix timeline (ms): where the mixer placed the track's first packet (manifest
 * `composite.audioTracks`), else the first packet's arrival relative to the composite's start (tens of ms off when
 * the recorder was busy then: the continuity check's alignment search covers ±100 ms).
 */
export function trackOffsetInMix(manifest: Manifest, track: TrackEntry): number {
  const mixed = Object.values(manifest.composite?.audioTracks ?? {}).find((a) => a.participantId === track.participantId);
  return mixed?.firstPacketTimelineMs ?? track.firstPacketAtMs! - manifest.composite!.startedAtMs;
}
