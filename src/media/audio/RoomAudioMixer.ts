import { EventEmitter } from 'node:events';
import { LoudnessMeter } from './LoudnessMeter.js';
import { OpusTrackTimeline, type OpusTrackStats } from './OpusTrackTimeline.js';
import { isOpusSampleRate } from './OpusTrackDecoder.js';
import { PeakLimiter } from './PeakLimiter.js';
import type {
  MixedFrame,
  MixerParticipant,
  RoomAudioMixerApi,
  RoomAudioMixerEvents,
  RoomAudioMixerOptions,
  SpeakerChange,
} from './RoomAudioMixerTypes.js';
import { SPEAKER_RANKING_DEFAULTS, SpeakerSelector } from './SpeakerSelector.js';

/**
 * Packets further ahead of the mix than this are dropped (a broken timestamp must not pin memory). The mix runs 1 s
 * behind live, and after the recorder did not run for a few seconds the packets buffered meanwhile arrive before the
 * mix has caught up: 8 s keeps a 5 s stall whole (the queue's own bound, 800 packets, still caps memory).
 */
const MAX_AHEAD_MS = 8000;
/**
 * A track's placement follows a changed mapping (sender report, clock offset) by slewing up to this far (ms); beyond,
 * it jumps (a timestamp jump, a restarted sender). The broken-sender threshold is a few hundred ms too.
 */
const MAX_SLEW_MS = 300;
/** Slew speed: packets stretched by at most 2 % (a 100 ms correction takes 5 s, inaudible on voice). */
const SLEW_RATE = 0.02;
/** Fade for voices entering or leaving the mix (ms): avoids clicks, short enough that a dropped voice is gone at once. */
const FADE_MS = 10;

interface Track {
  id: string;
  participant: MixerParticipant;
  timeline: OpusTrackTimeline;
  meter: LoudnessMeter;
  /** This frame's decoded PCM (reused). */
  frame: Float32Array;
  /** Current mix gain, ramps towards 1 while selected and 0 otherwise. */
  gain: number;
  removed: boolean;
}

/**
 * The room's live audio: decodes every track's Opus onto the recording timeline, measures each voice's short-window
 * loudness, picks the `maxSpeakers` loudest with hysteresis and mixes only those (unselected voices are silent), with a
 * peak limiter so the s16 output never clips or wraps. Single-threaded and allocation-light: per frame only the
 * returned Int16Array and a few small arrays are allocated.
 *
 * Ids: `MixedFrame.speakers` are track ids; `SpeakerChange.speakers` and `levels()` are participant ids (a participant
 * with several selected tracks appears once, at its loudest track's place).
 */
export class RoomAudioMixer extends EventEmitter<RoomAudioMixerEvents> implements RoomAudioMixerApi {
  readonly speakerTimeline: SpeakerChange[] = [];
  private readonly opts: RoomAudioMixerOptions;
  private readonly frameSamples: number;
  private readonly fadeStep: number;
  private readonly tracks = new Map<string, Track>();
  /** Final counters of tracks that played out and were dropped (for the manifest). */
  private readonly finishedStats = new Map<string, OpusTrackStats>();
  private readonly selector: SpeakerSelector;
  private readonly limiter: PeakLimiter;
  private readonly mixBuf: Float32Array;
  private frameIndex = 0;
  private lastSpeakers: string[] = [];

  constructor(options: RoomAudioMixerOptions) {
    super();
    const { sampleRate, frameMs, channels, maxSpeakers } = options;
    if (!isOpusSampleRate(sampleRate)) throw new RangeError(`unsupported sampleRate ${sampleRate} (Opus decodes at 8/12/16/24/48 kHz)`);
    const frameSamples = (sampleRate * frameMs) / 1000;
    if (!Number.isInteger(frameSamples) || frameSamples <= 0) throw new RangeError(`frameMs ${frameMs} is not a whole number of samples`);
    if (channels !== 1 && channels !== 2) throw new RangeError(`channels must be 1 or 2, got ${String(channels)}`);
    if (!Number.isInteger(maxSpeakers) || maxSpeakers < 0) throw new RangeError(`maxSpeakers must be an integer ≥ 0, got ${maxSpeakers}`);
    this.opts = options;
    this.frameSamples = frameSamples;
    this.fadeStep = 1 / Math.max(1, (FADE_MS * sampleRate) / 1000);
    this.selector = new SpeakerSelector({
      maxSpeakers,
      holdMs: options.holdMs ?? SPEAKER_RANKING_DEFAULTS.holdMs,
      displaceMarginDb: options.displaceMarginDb ?? SPEAKER_RANKING_DEFAULTS.displaceMarginDb,
      silenceDb: options.silenceDb ?? SPEAKER_RANKING_DEFAULTS.silenceDb,
    });
    this.limiter = new PeakLimiter(sampleRate);
    this.mixBuf = new Float32Array(frameSamples);
  }

  /** Timeline position (ms) of the next frame mixNext() will produce. */
  get nextFrameMs(): number {
    return this.frameIndex * this.opts.frameMs;
  }

  addTrack(trackId: string, participant: MixerParticipant): void {
    this.finishedStats.delete(trackId);
    const existing = this.tracks.get(trackId);
    if (existing) {
      // Re-added while still playing out: keep its buffered audio and decoder state.
      existing.participant = participant;
      existing.removed = false;
      existing.timeline.ended = false;
      existing.timeline.restartMedia();
      return;
    }
    const { sampleRate, frameMs } = this.opts;
    this.tracks.set(trackId, {
      id: trackId,
      participant,
      timeline: new OpusTrackTimeline({
        sampleRate,
        startIndex: this.frameIndex * this.frameSamples,
        maxAheadSamples: (MAX_AHEAD_MS * sampleRate) / 1000,
        maxSlewSamples: (MAX_SLEW_MS * sampleRate) / 1000,
        slewRate: SLEW_RATE,
        // 2 s of the shortest Opus packets (2.5 ms) would be 800; real senders use 20 ms (100 per 2 s).
        maxQueuedPackets: 800,
      }),
      meter: new LoudnessMeter({ frameMs }),
      frame: new Float32Array(this.frameSamples),
      gain: 0,
      removed: false,
    });
  }

  /**
   * The RFC 6464 level is not used: selection is judged by the decoded audio, which is what gets mixed (and senders'
   * levels are not comparable across browsers). Packets of unknown or removed tracks are ignored.
   */
  pushOpus(trackId: string, packet: Uint8Array, timelineMs: number, mediaMs?: number): void {
    const track = this.tracks.get(trackId);
    if (!track || track.removed) return;
    const sr = this.opts.sampleRate;
    const target = Math.round((timelineMs * sr) / 1000);
    track.timeline.push(packet, target, mediaMs === undefined ? target : Math.round((mediaMs * sr) / 1000));
  }

  removeTrack(trackId: string): void {
    const track = this.tracks.get(trackId);
    if (!track) return;
    track.removed = true;
    track.timeline.ended = true;
  }

  mixNext(): MixedFrame {
    const n = this.frameSamples;
    const frameStart = this.frameIndex * n;
    const timelineMs = this.frameIndex * this.opts.frameMs;

    const voices: Array<{ id: string; levelDb: number }> = [];
    for (const t of this.tracks.values()) {
      t.timeline.read(frameStart, t.frame);
      voices.push({ id: t.id, levelDb: t.meter.push(t.frame) });
    }
    const speakers = this.selector.update(timelineMs, voices);

    const mix = this.mixBuf;
    mix.fill(0);
    for (const t of this.tracks.values()) this.accumulate(t, speakers.includes(t.id) ? 1 : 0);
    this.limiter.process(mix);

    const pcm = new Int16Array(n * this.opts.channels);
    if (this.opts.channels === 1) {
      for (let i = 0; i < n; i++) pcm[i] = toS16(mix[i]!);
    } else {
      for (let i = 0, j = 0; i < n; i++, j += 2) pcm[j] = pcm[j + 1] = toS16(mix[i]!);
    }

    this.reportSpeakers(timelineMs, speakers);
    // Removed tracks leave once everything they sent has played (this frame was their last audio, if any).
    for (const t of this.tracks.values()) {
      if (t.removed && t.timeline.idle) {
        this.finishedStats.set(t.id, t.timeline.stats());
        t.timeline.free();
        this.tracks.delete(t.id);
      }
    }
    this.frameIndex++;
    return { pcm, timelineMs, speakers };
  }

  /** Current smoothed level per participant id (dBFS, floored at -100; the loudest of a participant's tracks). */
  levels(): Map<string, number> {
    const out = new Map<string, number>();
    for (const t of this.tracks.values()) {
      const l = t.meter.levelDb;
      const prev = out.get(t.participant.id);
      out.set(t.participant.id, prev === undefined ? l : Math.max(prev, l));
    }
    return out;
  }

  /** Resolves when every current track's decoder can decode. Not needed live (packets wait encoded until due). */
  async whenReady(): Promise<void> {
    await Promise.all([...this.tracks.values()].map((t) => t.timeline.ready));
  }

  /** Per-track packet counters (drops, concealment, slewing, queue sizes), tracks that already left included. */
  trackStats(): Map<string, OpusTrackStats> {
    const out = new Map(this.finishedStats);
    for (const t of this.tracks.values()) out.set(t.id, t.timeline.stats());
    return out;
  }

  /** Adds the track's frame to the mix with its gain ramped towards `target` (fades in/out without clicks). */
  private accumulate(t: Track, target: number): void {
    let g = t.gain;
    if (g === 0 && target === 0) return;
    const mix = this.mixBuf;
    const src = t.frame;
    const n = src.length;
    if (g === target) {
      for (let i = 0; i < n; i++) mix[i]! += src[i]! * g;
      return;
    }
    const step = target > g ? this.fadeStep : -this.fadeStep;
    for (let i = 0; i < n; i++) {
      if (g !== target) {
        g += step;
        if (step > 0 ? g > target : g < target) g = target;
      }
      mix[i]! += src[i]! * g;
    }
    t.gain = g;
  }

  /** Emits speakersChanged when the set of participants in the mix changes (not on mere reordering). */
  private reportSpeakers(atMs: number, trackIds: readonly string[]): void {
    const ids: string[] = [];
    for (const id of trackIds) {
      const pid = this.tracks.get(id)?.participant.id;
      if (pid !== undefined && !ids.includes(pid)) ids.push(pid);
    }
    const prev = this.lastSpeakers;
    if (ids.length === prev.length && ids.every((id) => prev.includes(id))) return;
    this.lastSpeakers = ids;
    const change: SpeakerChange = { atMs, speakers: ids };
    this.speakerTimeline.push(change);
    this.emit('speakersChanged', change);
  }
}

/** Float sample to s16 with rounding; the clamp is a last guard against wrapping (the limiter keeps peaks below it). */
function toS16(x: number): number {
  const v = x * 32767;
  return v >= 32767 ? 32767 : v <= -32768 ? -32768 : Math.round(v);
}
