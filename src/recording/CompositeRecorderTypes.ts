import type { EventEmitter } from 'node:events';
import type {
  RoomAudioMixerApi,
  RoomAudioMixerEvents,
  RoomAudioMixerOptions,
  SpeakerChange,
} from '../media/audio/RoomAudioMixerTypes.js';
import type { LayoutMode } from '../media/video/LayoutTypes.js';

/** A room audio mixer as the composite uses it (src/media/audio/RoomAudioMixer.ts implements it). */
export type AudioMixer = RoomAudioMixerApi & Pick<EventEmitter<RoomAudioMixerEvents>, 'on'>;
export type AudioMixerFactory = (options: RoomAudioMixerOptions) => AudioMixer;

/** What the CLI/RoomRecorder choose; everything has a default. */
export interface CompositeSettings {
  /** Output size, default 1280x720 (even numbers). */
  width?: number;
  height?: number;
  /** Default 30. */
  fps?: number;
  /** Default grid. */
  layout?: LayoutMode;
  /** Voices mixed at most (the N loudest); default 3. */
  maxSpeakers?: number;
  /** false: audio-only `recording.m4a`. Default true. */
  video?: boolean;
  /** How far the composite runs behind live, so late packets and decoder latency are absorbed. Default 1000 ms. */
  latencyMs?: number;
  /** A video that sends nothing for this long shows its placeholder (frozen until then). Default 2000 ms. */
  stallMs?: number;
  videoBitrateKbps?: number;
  /** Default: the room audio mixer (src/media/audio/RoomAudioMixer.ts). Tests may inject another. */
  createMixer?: AudioMixerFactory;
}

export interface CompositeRecorderOptions extends CompositeSettings {
  /** The recording directory (recordings/<room>/<id>); the composite goes next to tracks/. */
  dir: string;
}

export type CompositeState = 'recording' | 'finalizing' | 'done' | 'failed';

/** The composite's entry in manifest.json. */
export interface CompositeInfo {
  /** Relative to the recording directory: `recording.mp4` / `recording.m4a` once finalized, the `.part.` file before. */
  file: string;
  state: CompositeState;
  format: 'mp4' | 'm4a';
  width?: number;
  height?: number;
  fps?: number;
  layout?: LayoutMode;
  maxSpeakers: number;
  /** Our wall clock (Date, epoch ms) at timeline 0 of the composite. */
  startedAtMs: number;
  durationMs?: number;
  videoFramesWritten: number;
  videoFramesDropped: number;
  audioFramesWritten: number;
  /** Layout changes (joins, leaves, active speaker…) on the composite timeline. */
  layoutChanges: number;
  /** Per audio track of the mix (key: mixer track id = participant id, or `participantId:mid` for a second track). */
  audioTracks?: Record<string, MixedAudioTrackInfo>;
  /** RTCP sender reports not followed because they contradicted the sender's earlier ones (a broken sender clock). */
  distrustedSenderReports?: number;
  error?: string;
}

/** What became of one voice's packets in the mix: every drop, concealment and timeline correction is counted. */
export interface MixedAudioTrackInfo {
  participantId: string;
  participantName: string;
  /**
   * Where the track's first packet sits on the composite timeline (ms): the track file's t = 0 in the mix. (The mapping
   * as it stood at the end; a slew earlier in the recording moved it by at most `slewedMs`.)
   */
  firstPacketTimelineMs?: number;
  packetsReceived: number;
  packetsDecoded: number;
  /** Arrived after their time had been mixed (the recorder was starved, or the network held them > ~1 s). */
  packetsLate: number;
  /** Duplicates and stragglers of audio already placed. */
  packetsOverlapping: number;
  /** Placed > 2 s ahead of the mix (a broken timestamp) or beyond the queue bound. */
  packetsDropped: number;
  /** Lost audio filled by Opus concealment (ms). */
  concealedMs: number;
  /** Lost packets decoded from the next packet's in-band FEC data instead of concealed (system libopus). */
  packetsFecDecoded: number;
  /** Losses longer than one packet, left as silence (count). */
  gaps: number;
  /** Mapping changes followed by stretching/squeezing packets (ms, signed sum) rather than cutting or doubling audio. */
  slewedMs: number;
  /** Mapping changes too large to slew (> 300 ms), followed by a jump. */
  reanchors: number;
  /**
   * Capture time the sender lost (a stalled browser drops the audio it could not capture), followed from the packets'
   * arrival before its sender reports said so (ms; absent when none).
   */
  senderStalledMs?: number;
}

export interface CompositeRecorderEvents {
  /** Something for the manifest changed (speaker timeline, counters, state). */
  update: [];
  speakersChanged: [change: SpeakerChange];
  /** Non-fatal (a decoder died and is restarted…) or fatal (the encoder died: the composite stops, tracks go on). */
  error: [err: Error];
}
