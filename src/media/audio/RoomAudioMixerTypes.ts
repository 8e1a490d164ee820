import type { OpusTrackStats } from './OpusTrackTimeline.js';

/**
 * Contract between the composite recorder (which owns the clock and maps RTP time onto the recording timeline) and the
 * room audio mixer (which decodes Opus, picks the loudest N voices with hysteresis and mixes them).
 */
export interface RoomAudioMixerOptions {
  /** Output sample rate; 48000. */
  sampleRate: number;
  /** Output channels; 1 or 2 (same signal in both for 2). */
  channels: 1 | 2;
  /** How many voices are mixed at most (the N loudest). */
  maxSpeakers: number;
  /** Length of one mixed frame in ms (20). */
  frameMs: number;
  /** A voice that got into the mix stays at least this long (ms). Default 1500. */
  holdMs?: number;
  /** A newcomer must be this many dB louder than the quietest mixed voice to displace it. Default 6. */
  displaceMarginDb?: number;
  /** Below this level (dBFS, short-window RMS) a voice counts as silent. Default -50. */
  silenceDb?: number;
}

export interface MixerParticipant {
  id: string;
  name: string;
}

export interface MixedFrame {
  /** Interleaved s16le samples for `frameMs` at `sampleRate` x `channels`. */
  pcm: Int16Array;
  /** Start of this frame on the recording timeline (ms). */
  timelineMs: number;
  /** Track ids in the mix for this frame (loudest first). */
  speakers: string[];
}

export interface SpeakerChange {
  atMs: number;
  /** Participant ids now in the mixed set (loudest first). */
  speakers: string[];
}

export interface RoomAudioMixerEvents {
  speakersChanged: [change: SpeakerChange];
}

/** Implemented by src/media/audio/RoomAudioMixer.ts. */
export interface RoomAudioMixerApi {
  addTrack(trackId: string, participant: MixerParticipant): void;
  /**
   * One Opus packet placed on the recording timeline (ms, already mapped by the caller from RTP/sender reports).
   * `mediaMs` is its position on the sender's own clock (RTP timestamp since the track's first packet): packets
   * contiguous there stay contiguous in the mix when the mapping changes (the placement slews instead of jumping).
   * The packet is copied: the caller may reuse its buffer.
   */
  pushOpus(trackId: string, packet: Uint8Array, timelineMs: number, mediaMs?: number): void;
  /** The track ended (participant left): its buffered audio still plays out, then it is dropped. */
  removeTrack(trackId: string): void;
  /** Mixes the next `frameMs` of the timeline (consecutive calls cover consecutive frames, starting at 0). */
  mixNext(): MixedFrame;
  /** Everything `speakersChanged` reported so far (goes into manifest.json). */
  readonly speakerTimeline: SpeakerChange[];
  /** Current short-window level per participant id (dBFS), for the speaker layout and the CLI status line. */
  levels(): Map<string, number>;
  /** Per-track counters (what was late, concealed, slewed…), by track id; tracks that left included. */
  trackStats(): Map<string, OpusTrackStats>;
}
