import { EventEmitter } from 'node:events';
import type { LiveAudioMixEvents, LiveAudioMixOptions, LiveAudioMixStats, LiveMixFrame, LiveVoiceStats, MixListeners } from './LiveAudioMixTypes.js';
import { LoudnessMeter } from './LoudnessMeter.js';
import { OpusFrameEncoder } from './OpusFrameEncoder.js';
import type { OpusFrameEncoderOptions } from './OpusFrameEncoderTypes.js';
import { PeakLimiter } from './PeakLimiter.js';
import { SPEAKER_RANKING_DEFAULTS, SpeakerSelector, type VoiceLevel } from './SpeakerSelector.js';
import { PULL_SAMPLES, VoiceJitterBuffer } from './VoiceJitterBuffer.js';
import type { VoiceJitterBufferOptions } from './VoiceJitterBufferTypes.js';

const SAMPLE_RATE = 48_000;
const FRAME_MS = 20;
/** Fade for voices entering or leaving the mix (ms), as in the recording: no click, gone at once. */
const FADE_MS = 10;
/**
 * The level meter's hold and release for the live mix: the recording's window (200 ms RMS) and the same ranking
 * (1.5 s hold in the mix, 6 dB to displace), but a level that falls sooner after a voice stops (150 ms held, then
 * 100 dB/s, against the recording's 300 ms and 40 dB/s). Listeners hear who comes in next: with the recording's
 * meter a loud voice that stopped kept the next one out for 0.9-1.1 s; with this one ~0.4 s. A 70 ms pause between
 * words still holds (the 200 ms window barely moves in it), and the mix's hold keeps the set from flapping.
 */
const LIVE_PEAK_HOLD_MS = 150;
const LIVE_RELEASE_DB_PER_SEC = 100;
/**
 * Limiter ceiling of each output, lower than the recording's 0.95: Opus at 32 kbit/s does not keep peaks (it moves a
 * tone's level in a mix by ±1-2 dB and changes phases). Three full-scale tones limited to 0.95 decoded with peaks of
 * 1.00, to 0.85 of 0.95, to 0.8 of 0.89; two such tones limited to 0.8 decoded at 0.96 (+1.6 dB), limited speech-like
 * sums up to +2.3 dB. Listeners' decoders (libopus to int16) soft-clip whatever still goes over full scale.
 */
const OUTPUT_CEILING = 0.8;

interface Voice {
  id: string;
  buffer: VoiceJitterBuffer;
  meter: LoudnessMeter;
  /** This tick's 20 ms (the buffer's array: valid during the tick). */
  frame: Float32Array;
  /** This tick's contribution to the mix (frame × fading gain); valid when `audible`. */
  contrib: Float32Array;
  audible: boolean;
  /** Mix gain, ramping towards 1 while selected and 0 otherwise. */
  gain: number;
  /** The sender's RFC 6464 levels (dBov, ≤ 0), held at each packet's and falling LEVEL_RELEASE_DB a tick. */
  headerDb: number;
  /** The sender sends RFC 6464 levels (browsers do); a voice without them is always decoded. */
  hasLevels: boolean;
}

/** RFC 6464 level (−dBov) from which a voice's packet is taken as silence and not decoded: −70 dBov. */
export const SILENT_LEVEL_DBOV = 70;
/**
 * Voices decoded beyond the N mixed, by their senders' RFC 6464 levels: in a room of more voices than N + this, the
 * quieter ones (not mixed, not fading out, not among the N + 2 loudest by their own header levels) are played as
 * silence undecoded. One of them that gets loud is among the N + 2 at its next packet and decoded from then on, so
 * its ranking level builds up over the usual 200 ms window, as a voice that starts does.
 */
export const DECODE_MARGIN = 2;
/** Fall of a voice's held header level per 20 ms tick (50 dB/s): a 70 ms pause between words keeps it within 4 dB. */
const LEVEL_RELEASE_DB = 1;

/** One encoded mix: its PCM, limiter and encoder. */
interface Output {
  pcm: Float32Array;
  limiter: PeakLimiter;
  encoder: OpusFrameEncoder;
}

/**
 * The media core of the MCU live audio mix. Per 20 ms tick: 20 ms from every voice's jitter buffer, each voice's
 * loudness (measured and ranked exactly like the recording's RoomAudioMixer), and the N loudest mixed into
 * - `all`: the N loudest, for everybody else;
 * - `minus[X]` for each speaker X: the others of the N, so a speaker never hears themself.
 * Each output has its own peak limiter and Opus encoder, so a tick costs at most N + 1 encodes whatever the room
 * size; decoding every voice is the part that grows with the room. Minus encoders are pooled: one is taken when a voice
 * enters the selection and returned when it leaves (a listener's decoder copes with the switch of encoder state).
 *
 * Pure media: the owner feeds RTP payloads in and sends the returned packets; no timers, no network.
 */
export class LiveAudioMix extends EventEmitter<LiveAudioMixEvents> {
  readonly maxSpeakers: number;
  private readonly selector: SpeakerSelector;
  private readonly jitterOpts: VoiceJitterBufferOptions;
  private readonly encoderOpts: OpusFrameEncoderOptions;
  private readonly voices = new Map<string, Voice>();
  private readonly all: Output;
  private readonly minus = new Map<string, Output>();
  private readonly pool: Output[] = [];
  private readonly fadeStep = 1 / ((FADE_MS * SAMPLE_RATE) / 1000);
  private index = 0;
  private encodes = 0;
  private lastSpeakers: string[] = [];
  private closed = false;

  constructor(opts: LiveAudioMixOptions = {}) {
    super();
    const maxSpeakers = opts.maxSpeakers ?? 3;
    if (!Number.isInteger(maxSpeakers) || maxSpeakers < 0) throw new RangeError(`maxSpeakers must be an integer ≥ 0, got ${maxSpeakers}`);
    this.maxSpeakers = maxSpeakers;
    this.selector = new SpeakerSelector({
      maxSpeakers,
      holdMs: opts.holdMs ?? SPEAKER_RANKING_DEFAULTS.holdMs,
      displaceMarginDb: opts.displaceMarginDb ?? SPEAKER_RANKING_DEFAULTS.displaceMarginDb,
      silenceDb: opts.silenceDb ?? SPEAKER_RANKING_DEFAULTS.silenceDb,
    });
    this.jitterOpts = opts.jitter ?? {};
    this.encoderOpts = opts.encoder ?? {};
    this.all = this.newOutput();
  }

  /** Starts receiving a participant's voice; a no-op if it is already there. */
  addVoice(id: string): void {
    this.assertOpen();
    if (this.voices.has(id)) return;
    this.voices.set(id, {
      id,
      buffer: new VoiceJitterBuffer(this.jitterOpts),
      meter: new LoudnessMeter({ frameMs: FRAME_MS, peakHoldMs: LIVE_PEAK_HOLD_MS, releaseDbPerSec: LIVE_RELEASE_DB_PER_SEC }),
      frame: new Float32Array(PULL_SAMPLES),
      contrib: new Float32Array(PULL_SAMPLES),
      audible: false,
      gain: 0,
      headerDb: -127,
      hasLevels: false,
    });
  }

  /** The participant left: its voice is dropped at once (it leaves the selection on the next tick). */
  removeVoice(id: string): void {
    const v = this.voices.get(id);
    if (!v) return;
    v.buffer.free();
    this.voices.delete(id);
  }

  /**
   * One Opus RTP packet of voice `id` (see VoiceJitterBuffer.push); unknown ids are ignored. The payload is copied.
   * `levelDbov`: the sender's RFC 6464 level of it (−dBov, 0 loudest, 127 silence), when it sends one: a packet at
   * SILENT_LEVEL_DBOV or quieter is played as silence without being decoded. That is 20 dB under the ranking's silence
   * floor, so it changes neither who is mixed nor what is heard, and in a big room most voices are silent: decoding
   * every one of them is what grows with the room.
   */
  push(id: string, sequenceNumber: number, rtpTimestamp: number, payload: Uint8Array, arrivalMs: number, levelDbov?: number): void {
    const v = this.voices.get(id);
    if (!v) return;
    if (levelDbov !== undefined) {
      v.hasLevels = true;
      if (-levelDbov > v.headerDb) v.headerDb = -levelDbov;
    }
    v.buffer.push(sequenceNumber, rtpTimestamp, payload, arrivalMs, levelDbov !== undefined && levelDbov >= SILENT_LEVEL_DBOV);
  }

  /** Resolves when every current voice's decoder has started (they play silence until then). */
  async whenReady(): Promise<void> {
    await Promise.all([...this.voices.values()].map((v) => v.buffer.ready));
  }

  /**
   * The next 20 ms of every output. Call once per 20 ms; `nowMs` (any monotonic clock) times the ranking's hold.
   * With `listeners`, only what one of them hears is encoded (a speaker who publishes but does not listen needs no
   * mix-minus: up to 3 of the 4 encodes a tick, most of the mix's cost); without, everything is.
   */
  tick(nowMs: number, listeners?: MixListeners): LiveMixFrame {
    this.assertOpen();
    const levels = new Map<string, number>();
    const ranked: VoiceLevel[] = [];
    this.chooseDecoded();
    for (const v of this.voices.values()) {
      v.frame = v.buffer.pull();
      const levelDb = v.meter.push(v.frame);
      levels.set(v.id, levelDb);
      ranked.push({ id: v.id, levelDb });
    }
    const speakers = this.selector.update(nowMs, ranked);

    for (const [id, out] of this.minus) {
      if (!speakers.includes(id)) {
        this.minus.delete(id);
        this.pool.push(out);
      }
    }
    for (const id of speakers) {
      if (this.minus.has(id)) continue;
      const out = this.pool.pop() ?? this.newOutput();
      // Fresh limiter: the pooled one's gain reduction belonged to somebody else's mix.
      out.limiter = new PeakLimiter(SAMPLE_RATE, { ceiling: OUTPUT_CEILING });
      this.minus.set(id, out);
    }

    const all = this.all.pcm;
    all.fill(0);
    for (const v of this.voices.values()) this.contribute(v, speakers.includes(v.id) ? 1 : 0, all);

    // Mix-minus before limiting `all`: each is the unlimited sum less that speaker's exact contribution.
    const minus = new Map<string, Buffer>();
    for (const id of speakers) {
      if (listeners && !listeners.has(id)) continue;
      const out = this.minus.get(id)!;
      const own = this.voices.get(id)!;
      const pcm = out.pcm;
      if (own.audible) {
        const c = own.contrib;
        for (let i = 0; i < PULL_SAMPLES; i++) pcm[i] = all[i]! - c[i]!;
      } else {
        pcm.set(all);
      }
      minus.set(id, this.encode(out));
    }
    let allPacket: Buffer | undefined;
    if (!listeners || listeners.size > minus.size) allPacket = this.encode(this.all);

    this.reportSpeakers(speakers);
    return { index: this.index++, speakers, all: allPacket, minus, levels };
  }

  /**
   * The owner's clock skipped `frames` ticks (its process stalled): every voice drops that much audio, as it would
   * have played it, so the voices stay as close to live as before instead of carrying the stall as latency.
   */
  skip(frames: number): void {
    this.assertOpen();
    for (let i = 0; i < frames; i++) for (const v of this.voices.values()) v.buffer.pull();
    this.index += frames;
  }

  stats(): LiveAudioMixStats {
    const selected = this.selector.selected;
    const voices = new Map<string, LiveVoiceStats>();
    for (const v of this.voices.values()) {
      voices.set(v.id, { ...v.buffer.stats(), levelDb: v.meter.levelDb, selected: selected.includes(v.id) });
    }
    return { ticks: this.index, encodes: this.encodes, encoders: 1 + this.minus.size + this.pool.length, voices };
  }

  /** Frees every decoder and encoder. The mix cannot be used afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const v of this.voices.values()) v.buffer.free();
    this.voices.clear();
    for (const out of [this.all, ...this.minus.values(), ...this.pool]) out.encoder.free();
    this.minus.clear();
    this.pool.length = 0;
  }

  private newOutput(): Output {
    return {
      pcm: new Float32Array(PULL_SAMPLES),
      limiter: new PeakLimiter(SAMPLE_RATE, { ceiling: OUTPUT_CEILING }),
      encoder: new OpusFrameEncoder(this.encoderOpts),
    };
  }

  private encode(out: Output): Buffer {
    out.limiter.process(out.pcm);
    this.encodes++;
    return out.encoder.encode(out.pcm);
  }

  /** Writes the voice's frame × its gain (ramped towards `target`) into `contrib` and adds it to `all`. */
  private contribute(v: Voice, target: number, all: Float32Array): void {
    let g = v.gain;
    v.audible = g !== 0 || target !== 0;
    if (!v.audible) return;
    const src = v.frame;
    const c = v.contrib;
    const step = target > g ? this.fadeStep : -this.fadeStep;
    for (let i = 0; i < PULL_SAMPLES; i++) {
      if (g !== target) {
        g += step;
        if (step > 0 ? g > target : g < target) g = target;
      }
      const x = src[i]! * g;
      c[i] = x;
      all[i]! += x;
    }
    v.gain = g;
  }

  /**
   * Which voices are decoded this tick: all of them in a room of up to maxSpeakers + DECODE_MARGIN voices; else those
   * selected or still fading out, those that send no levels, and the maxSpeakers + DECODE_MARGIN loudest by the
   * levels their senders put in each packet. Decoding is what grows with the room; the others cannot be mixed anyway
   * (their own levels say they are quieter than N + 2 others).
   */
  private chooseDecoded(): void {
    const limit = this.maxSpeakers + DECODE_MARGIN;
    for (const v of this.voices.values()) v.headerDb = Math.max(-127, v.headerDb - LEVEL_RELEASE_DB);
    if (this.voices.size <= limit) {
      for (const v of this.voices.values()) v.buffer.decoding = true;
      return;
    }
    const byLevel = [...this.voices.values()].filter((v) => v.hasLevels).sort((a, b) => b.headerDb - a.headerDb);
    const loudest = new Set(byLevel.slice(0, limit));
    const selected = this.selector.selected;
    for (const v of this.voices.values()) v.buffer.decoding = !v.hasLevels || v.gain > 0 || loudest.has(v) || selected.includes(v.id);
  }

  /** Emits speakersChanged when the set of speakers changes (not on mere reordering). */
  private reportSpeakers(speakers: readonly string[]): void {
    const prev = this.lastSpeakers;
    if (speakers.length === prev.length && speakers.every((id) => prev.includes(id))) return;
    this.lastSpeakers = [...speakers];
    this.emit('speakersChanged', [...speakers]);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('LiveAudioMix is closed');
  }
}
