/** Messages between the bench runner and the load generator process (Node IPC, JSON). */

export interface GeneratorParticipant {
  name: string;
  /** IVF (VP8) file; absent = audio-only participant. */
  videoPath?: string;
  /** Ogg Opus file; absent = video-only participant. */
  audioPath?: string;
  /** SFU rooms: VP8 simulcast, one IVF file per layer (lowest first) instead of `videoPath`. */
  simulcast?: { rid: string; videoPath: string }[];
}

export interface GeneratorConfig {
  serverUrl: string;
  room: string;
  participants: GeneratorParticipant[];
  /** Delay between two participants joining (a room fills up over time; 20 DTLS handshakes at once would be a spike). */
  joinIntervalMs: number;
  /** Give up when not every connection is up after this long. */
  connectTimeoutMs: number;
  /** Hard cap on the generator's life: it exits by itself after this long whatever happens. */
  maxLifetimeMs: number;
}

export interface StreamStats {
  kind: 'audio' | 'video';
  ssrc: number;
  packetsSent: number;
  bytesSent: number;
  /** Media sent, from the RTP timestamps of the first and last packet plus one frame/packet duration (seconds). */
  mediaSeconds: number;
  firstSentAtMs?: number;
  lastSentAtMs?: number;
  framesSent: number;
  /** Frames/packets dropped because the generator was starved of CPU (> 150 ms behind). */
  framesSkipped: number;
  keyframesSent: number;
  pliReceived: number;
  /** PLIs answered by jumping to the next keyframe of the file right away. */
  keyframeJumps: number;
  nackedPackets: number;
}

export interface ParticipantStats {
  name: string;
  id: string;
  connectedAtMs?: number;
  streams: StreamStats[];
  /** Connection state changes, "epochMs:state". */
  states: string[];
  /** RTCP receiver reports from the recorder about our streams (0 = the recorder never received anything). */
  receiverReports: number;
  firstReceiverReportAtMs?: number;
}

export interface SchedulerStats {
  /** How late frames/packets left compared with their real-time schedule (ms). */
  lateMaxMs: number;
  lateP99Ms: number;
  /** Sends more than 20 ms late: the generator could not keep pace (the machine was overloaded). */
  lateOver20ms: number;
  sends: number;
  /** Frames/packets dropped because they were > 150 ms overdue. */
  skipped: number;
}

export type RunnerToGenerator =
  | { type: 'start'; config: GeneratorConfig }
  /** The measurement window starts: lateness statistics start afresh. */
  | { type: 'mark' }
  | { type: 'stopMedia' }
  | { type: 'exit' };

export type GeneratorToRunner =
  | { type: 'joined'; participants: { name: string; id: string }[] }
  /** Every connection is up and every participant's media is flowing. */
  | { type: 'flowing'; firstMediaAtMs: number; allFlowingAtMs: number }
  | { type: 'mediaStopped'; stoppedAtMs: number; participants: ParticipantStats[]; scheduler: { whole: SchedulerStats; window: SchedulerStats } }
  | { type: 'error'; message: string };
