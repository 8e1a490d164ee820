import type { SpeakerChange } from '../media/audio/RoomAudioMixerTypes.js';
import type { CompositeInfo } from './CompositeRecorderTypes.js';
import type { Stall } from './StallWatch.js';

/**
 * On disk: recording, finalizing, done, failed, recovered. Recordings run by workers (`--redis`) also show the job's
 * states: queued (no worker has taken it yet), starting (a worker is joining the room), uploading (to the bucket).
 */
export type RecordingState = 'queued' | 'starting' | 'recording' | 'finalizing' | 'uploading' | 'done' | 'failed' | 'recovered';

/** One part of a recording that a worker continued after the previous worker died (takeover). */
export interface ManifestPart {
  part: number;
  /** Relative to the recording directory: `.` for part 1, `part-N` after. */
  dir: string;
  worker: string;
  startedAt: string;
  endedAt?: string;
  /** done: stopped cleanly; recovered: its worker died and its files were repaired; lost: nobody could reach them. */
  state: 'recording' | 'done' | 'recovered' | 'lost' | 'failed';
  error?: string;
}

/** Time no worker recorded between two parts (epoch ms). */
export interface ManifestGap {
  afterPart: number;
  fromMs: number;
  toMs: number;
  ms: number;
}

/** One RTCP sender report: ties the sender's RTP clock to its NTP wall clock, so tracks can be aligned later. */
export interface RtpNtpMapping {
  rtpTimestamp: number;
  /** Sender NTP time as Unix epoch milliseconds. */
  ntpTimeMs: number;
  /** Our wall clock (epoch ms) when the report arrived. */
  receivedAtMs: number;
}

export interface TrackEntry {
  /** File-safe id, unique in the recording: `<participantId>-<trackId>` (+ `-<n>` for later segments). */
  id: string;
  participantId: string;
  participantName: string;
  kind: 'audio' | 'video';
  codec: string;
  clockRate: number;
  ssrc: number;
  /** Relative to the recording directory; absent when per-track files are off (`--no-tracks`). */
  file?: string;
  firstPacketAtMs?: number;
  lastPacketAtMs?: number;
  endedAtMs?: number;
  /** First and latest sender reports. */
  firstSenderReport?: RtpNtpMapping;
  lastSenderReport?: RtpNtpMapping;
  /**
   * Reports that moved the sender's RTP → NTP mapping by more than 5 ms from the report before (a browser's audio
   * capture that was starved and caught up re-anchors it, by up to hundreds of ms). Media before such a report lies on
   * the sender's clock as the report before it said; absent when the mapping never moved. At most 100.
   */
  senderReportSteps?: RtpNtpMapping[];
  firstRtpTimestamp?: number;
  packetsReceived: number;
  /** RFC 3550: expected − received, after retransmissions (a packet recovered through a NACK is not lost). */
  packetsLost: number;
  /** PLIs sent for the track (at the start, after a loss, and by the composite's decoder). */
  keyframesRequested: number;
  /** RTCP NACK packets sent (werift repeats one every 5 ms until the packet arrives, up to 10 times). */
  nacksSent?: number;
  /** Distinct sequence numbers asked for again. */
  packetsNacked?: number;
  /** Of those, how many then arrived (retransmitted, or late): the jitter buffer had them in time or not at all. */
  packetsRecovered?: number;
  bytesWritten: number;
}

export interface ParticipantEntry {
  id: string;
  name: string;
  joinedAtMs: number;
  leftAtMs?: number;
}

export interface Manifest {
  version: 1;
  id: string;
  room: string;
  state: RecordingState;
  startedAt: string;
  stoppedAt?: string;
  error?: string;
  participants: ParticipantEntry[];
  tracks: TrackEntry[];
  /** The mixed recording (absent with --no-composite). */
  composite?: CompositeInfo;
  /** Who was in the audio mix when (the room audio mixer's speakersChanged, composite timeline ms). */
  speakerTimeline?: SpeakerChange[];
  /**
   * Stretches in which the recorder did not run (starved of CPU, stopped): media that arrived then may be missing from
   * the files (packets the kernel dropped) and the mix (audio that came too late to be mixed).
   */
  stalls?: Stall[];
  /** This file describes part N ≥ 2 of a recording (its directory is `<id>/part-N`). */
  part?: number;
  /** A recording continued after a takeover: every part and the gaps between them (in the recording's own manifest). */
  parts?: ManifestPart[];
  gaps?: ManifestGap[];
}
