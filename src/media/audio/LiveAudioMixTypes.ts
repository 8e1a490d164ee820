import type { OpusFrameEncoderOptions } from './OpusFrameEncoderTypes.js';
import type { VoiceJitterBufferOptions, VoiceJitterBufferStats } from './VoiceJitterBufferTypes.js';

/**
 * Contract between the SFU (which receives each participant's Opus RTP, drives a 20 ms clock and sends each
 * participant one track) and the live MCU mix (which turns those packets into encoded Opus mixes).
 */
export interface LiveAudioMixOptions {
  /** Voices mixed at most (the N loudest). Default 3. */
  maxSpeakers?: number;
  /** Ranking, as for the recording (defaults: SPEAKER_RANKING_DEFAULTS). */
  holdMs?: number;
  displaceMarginDb?: number;
  silenceDb?: number;
  /** Every voice's playout buffer. */
  jitter?: VoiceJitterBufferOptions;
  /** Every output's encoder. */
  encoder?: OpusFrameEncoderOptions;
}

/** Who listens to the mix this tick: encoded is only what one of them hears. */
export type MixListeners = ReadonlySet<string> | ReadonlyMap<string, unknown>;

/** One tick's output: 20 ms of each mix, Opus-encoded. */
export interface LiveMixFrame {
  /**
   * Ticks since the mix started (0, 1, 2…). Every output of a tick shares it, so the owner can derive RTP sequence
   * numbers and timestamps from it (e.g. timestamp = base + index × 960) and a listener switching between `all` and a
   * `minus` stream sees one continuous stream.
   */
  index: number;
  /** Voices in the mix, loudest first. */
  speakers: string[];
  /**
   * Everybody selected: what every listener who is not a speaker hears. Encoded even when nobody talks; undefined
   * only when the tick was told every listener is a speaker (see LiveAudioMix.tick).
   */
  all: Buffer | undefined;
  /** Per speaker who listens: the mix without that speaker's own voice (mix-minus), what that speaker hears. */
  minus: Map<string, Buffer>;
  /** Smoothed level (dBFS, floored at -100) of every voice, as used for the ranking. */
  levels: Map<string, number>;
}

export interface LiveAudioMixEvents {
  /** The set of speakers changed (not emitted for mere reordering); loudest first. */
  speakersChanged: [speakers: string[]];
}

export interface LiveVoiceStats extends VoiceJitterBufferStats {
  levelDb: number;
  selected: boolean;
}

export interface LiveAudioMixStats {
  ticks: number;
  /** Opus frames encoded (at most maxSpeakers + 1 per tick). */
  encodes: number;
  /** Encoders allocated (in use or pooled): at most maxSpeakers + 1. */
  encoders: number;
  voices: Map<string, LiveVoiceStats>;
}
