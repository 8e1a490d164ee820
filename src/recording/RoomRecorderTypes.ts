import type { TrackSource } from '../peer/RecorderPeerTypes.js';
import type { PeerInfo, IceServer } from '../signaling/messages.js';
import type { CompositeSettings } from './CompositeRecorderTypes.js';
import type { TrackEntry } from './ManifestTypes.js';

export interface RoomRecorderOptions {
  /** ws://host:port of the signaling server. */
  serverUrl: string;
  room: string;
  /** Output root (default `recordings`); nothing is written outside it. */
  outputRoot?: string;
  iceAddress?: string;
  iceServers?: IceServer[];
  /** The mixed recording.mp4 (or .m4a); false/omitted: per-track files only. */
  composite?: CompositeSettings | false;
  /** Per-track files (default true); false: the mixed recording only, tracks still counted in the manifest. */
  tracks?: boolean;
  /** The in-process SFU's tap for a room (undefined for a mesh room: then the recorder joins `serverUrl` as a peer). */
  tap?: (room: string) => TrackSource | undefined;
  /** Record under this id (a queued job's id, known before any worker takes it); default a new id. */
  recordingId?: string;
  /** Part number of a recording continued by another worker (takeover): part N ≥ 2 goes to `<id>/part-N/`. */
  part?: number;
}

export interface RoomRecorderEvents {
  participantJoined: [peer: PeerInfo];
  participantLeft: [peer: PeerInfo];
  trackStarted: [track: TrackEntry];
  /** A non-fatal failure (one track's file); the rest of the recording goes on. */
  error: [err: Error];
}
