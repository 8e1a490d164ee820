import type { RoomRegistry } from '../cluster/RoomRegistry.js';
import type { Logger } from '../logger.js';
import type { CompositeSettings } from '../recording/CompositeRecorderTypes.js';
import type { JobQueue } from '../recording/jobs/JobQueue.js';
import type { RecordingService } from '../recording/RecordingService.js';
import type { RecordingUploadsOptions } from '../recording/upload/RecordingUploads.js';
import type { WebhookNotifier } from '../recording/webhooks.js';
import type { MixPacketMs } from '../sfu/RoomMix.js';
import type { Sfu } from '../sfu/Sfu.js';
import type { IceServer, RoomAudio, RoomMode } from '../signaling/messages.js';
import type { SignalingServer } from '../signaling/SignalingServer.js';

export interface HttpServerOptions {
  /** 0 picks a free port (tests). */
  port?: number;
  host?: string;
  iceServers?: IceServer[];
  /** Enables signed tokens: joining rooms and every recordings/metrics endpoint then need one (see auth.ts). */
  secret?: string;
  /** Mode of rooms whose first joiner does not ask for one (pages: `?mode=p2p`). Default `sfu`. */
  defaultRoomMode?: RoomMode;
  /** Audio of SFU rooms whose first joiner does not ask (pages: `?audio=mcu`). Default `auto`. */
  defaultRoomAudio?: RoomAudio;
  /** `auto` rooms mix their voices on the server from this many participants. */
  mcuFrom?: number;
  /** Live mix packets (20, 40 ms or `auto`: 40 ms in rooms of 20 listeners or more). */
  mixPacketMs?: MixPacketMs;
  /** Where publishing browsers start their uplink estimate (kbit/s; 0: their own default). */
  publisherStartKbps?: number;
  /** False: SFU subscribers are sent the layers their tiles want whatever their estimates (default true). */
  bandwidthAdaptation?: boolean;
  /** The one address the server's own WebRTC peers (SFU, recorders) bind and advertise; default 127.0.0.1 on a loopback host. */
  iceAddress?: string;
  /** Runs recordings in this server (API, /recordings page, auto-record). Omitted: signaling and room pages only. */
  recordings?: RecordingsOptions;
  /** Several servers on one Redis share their rooms (src/cluster): each room lives on one of them. */
  cluster?: ClusterOptions;
  logger?: Logger;
}

export interface ClusterOptions {
  /** redis://host:port */
  redisUrl: string;
  /** This server's base URL as participants reach it (redirects point there). Default http://<host>:<port>. */
  publicUrl?: string;
  /** A dead server's rooms are taken over after at most this (ms). Default 10 000. */
  leaseMs?: number;
  /** Redis key prefix (several clusters on one Redis). Default `rtc-record:`. */
  keyPrefix?: string;
}

export interface RecordingsOptions {
  outputRoot: string;
  /** Record every room while at least one participant is in it. */
  autoRecord?: boolean;
  /** Defaults for each recording's mixed file; false: per-track files only. */
  composite?: CompositeSettings | false;
  /** Per-track files by default (true unless false). */
  tracks?: boolean;
  /** ICE address of the recorder peers; default 127.0.0.1 when the server listens on loopback. */
  iceAddress?: string;
  maxConcurrent?: number;
  autoStopGraceMs?: number;
  webhook?: { url: string; secret?: string; baseDelayMs?: number };
  /** Upload each finished recording to a bucket (`--s3`). */
  upload?: RecordingUploadsOptions;
  /** Repair recordings left unfinished by a crash (at start and every 30 s). Default true. */
  recover?: boolean;
  /** Recording workers take the jobs (`serve --redis`): this server queues, lists and stops them. */
  jobs?: JobQueue;
}

export interface RunningServer {
  /** http://host:port */
  url: string;
  /** ws://host:port */
  wsUrl: string;
  port: number;
  signaling: SignalingServer;
  sfu: Sfu;
  recordings?: RecordingService;
  webhooks?: WebhookNotifier;
  /** With `cluster`: the room registry (e.g. `cluster.roomOwnerUrl(room)`: where a room's recorder must join). */
  cluster?: RoomRegistry;
  /** Closes at once (running recordings are stopped first when there are any). */
  close(): Promise<void>;
  /** SIGTERM: refuses new recordings, finalizes the running ones, flushes webhooks, then closes. */
  shutdown(): Promise<void>;
}
