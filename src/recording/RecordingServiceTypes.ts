import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { IceServer, PeerInfo } from '../signaling/messages.js';
import type { CompositeSettings } from './CompositeRecorderTypes.js';
import type { Manifest, RecordingState } from './ManifestTypes.js';
import type { RoomRecorderEvents, RoomRecorderOptions } from './RoomRecorderTypes.js';
import type { JobQueue } from './jobs/JobQueue.js';
import type { RecordingUploadsOptions } from './upload/RecordingUploads.js';

export interface RecordingFile {
  /** Relative to the recording directory: `recording.mp4`, `tracks/Alice-x-0.webm`, `manifest.json`. */
  path: string;
  bytes: number;
  kind: 'composite' | 'track' | 'manifest';
  mediaKind?: 'audio' | 'video';
  /** 'bucket': the local copy was deleted after a verified upload; downloads redirect to a presigned link. */
  location?: 'local' | 'bucket';
}

/** A recording's upload as the list shows it (from its upload.json). */
export interface RecordingUploadSummary {
  state: 'queued' | 'uploading' | 'uploaded' | 'failed';
  attempt: number;
  bucket: string;
  prefix: string;
  endpoint?: string;
  objects: Array<{ file: string; key: string; size: number; sha256: string }>;
  localDeleted: boolean;
  progress?: { bytesDone: number; bytesTotal: number };
  error?: { code: string; message: string };
  updatedAt: string;
}

/** One line of the recordings list (API, page, `rtc-record list`). */
export interface RecordingSummary {
  id: string;
  room: string;
  state: RecordingState;
  startedAt: string;
  stoppedAt?: string;
  durationMs: number;
  sizeBytes: number;
  /** Distinct participant names, in order of arrival. */
  participants: string[];
  files: RecordingFile[];
  error?: string;
  composite?: { file: string; state: string; format: string };
  /** Absent: never uploaded. */
  upload?: RecordingUploadSummary;
}

/** What a caller may choose per recording (API body); the rest comes from the service's defaults. */
export interface StartRecordingOptions {
  layout?: 'grid' | 'speaker';
  maxSpeakers?: number;
  /** false: audio-only mixed recording. */
  video?: boolean;
  /** false: per-track files only. */
  composite?: boolean;
  /** false: no per-track files, the mixed recording only. */
  tracks?: boolean;
}

/** The part of the signaling server the service watches (room presence), so recording/ does not import the server. */
export interface RoomDirectory {
  listRooms(): Array<{ room: string; participants: PeerInfo[] }>;
  on(event: 'peerJoined' | 'peerLeft', listener: (room: string, peer: PeerInfo) => void): unknown;
  off(event: 'peerJoined' | 'peerLeft', listener: (room: string, peer: PeerInfo) => void): unknown;
}

/** The RoomRecorder surface the service uses (tests inject fakes). */
export interface RecorderHandle {
  readonly dir: string;
  readonly id: string;
  readonly manifest: Manifest;
  stop(): Promise<Manifest>;
  on<K extends keyof RoomRecorderEvents>(event: K, listener: (...args: RoomRecorderEvents[K]) => void): unknown;
}
export type StartRecorder = (options: RoomRecorderOptions, logger: Logger) => Promise<RecorderHandle>;

export interface RecordingServiceOptions {
  outputRoot: string;
  /** ws:// URL recorders join (the server's own, on loopback; with `?token=` when a secret is set); a function mints it fresh. */
  serverUrl: string | (() => string);
  iceAddress?: string;
  iceServers?: IceServer[];
  /** Reads SFU rooms in-process (see RoomRecorderOptions.tap). */
  tap?: RoomRecorderOptions['tap'];
  /** Defaults for the mixed recording (size, fps, layout…); false: per-track files only. */
  composite?: CompositeSettings | false;
  /** Per-track files by default (true unless false). */
  tracks?: boolean;
  /** Record every room while at least one participant is in it. Needs `rooms`. */
  autoRecord?: boolean;
  /** An auto recording stops this long after its room empties (a page reload must not split it). Default 3000. */
  autoStopGraceMs?: number;
  /** Simultaneous recordings at most. Default 16. */
  maxConcurrent?: number;
  rooms?: RoomDirectory;
  /** Scan for recordings left unfinished by a crash this often (besides at start). Default 30 s; 0: only at start. */
  recoveryIntervalMs?: number;
  logger: Logger;
  startRecorder?: StartRecorder;
  /**
   * Workers record (`serve --redis`): start/stop/list go through this queue; `serverUrl(room)` is handed to workers (no
   * token): the signaling URL of the server the room lives on (several servers: its owner, see src/cluster).
   */
  jobs?: { queue: JobQueue; serverUrl: (room: string) => string | Promise<string> };
  /** Upload each finished recording to this bucket (`serve --s3`). */
  upload?: RecordingUploadsOptions;
}

export interface RecordingStartedEvent {
  id: string;
  room: string;
  startedAt: string;
  trigger: 'api' | 'auto';
}

export interface RecordingFailedEvent {
  /** Absent when the recording could not even start. */
  id?: string;
  room: string;
  code: ErrorCode;
  error: string;
}

export interface ParticipantEvent {
  room: string;
  peer: PeerInfo;
  /** The recording running in that room, if any. */
  recordingId?: string;
}

export interface RecordingServiceEvents {
  recordingStarted: [event: RecordingStartedEvent];
  /** Stopped cleanly (state done) or repaired after a crash (state recovered). */
  recordingFinished: [manifest: Manifest];
  recordingFailed: [event: RecordingFailedEvent];
  participantJoined: [event: ParticipantEvent];
  participantLeft: [event: ParticipantEvent];
  /** A recorder restarted one of its ffmpeg processes (a composite decoder died). */
  ffmpegRestart: [room: string];
}

/** A live recording as metrics and the status line see it. */
export interface ActiveRecordingInfo {
  id: string;
  room: string;
  /** queued/starting/uploading only for recordings run by workers. */
  state: 'recording' | 'finalizing' | 'queued' | 'starting' | 'uploading';
  manifest: Manifest;
  dir: string;
}
