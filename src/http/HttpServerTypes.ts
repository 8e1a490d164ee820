import type { Logger } from '../logger.js';
import type { CompositeSettings } from '../recording/CompositeRecorderTypes.js';
import type { JobQueue } from '../recording/jobs/JobQueue.js';
import type { RecordingService } from '../recording/RecordingService.js';
import type { WebhookNotifier } from '../recording/webhooks.js';
import type { IceServer } from '../signaling/messages.js';
import type { SignalingServer } from '../signaling/SignalingServer.js';

export interface HttpServerOptions {
  /** 0 picks a free port (tests). */
  port?: number;
  host?: string;
  iceServers?: IceServer[];
  /** Enables signed tokens: joining rooms and every recordings/metrics endpoint then need one (see auth.ts). */
  secret?: string;
  /** Runs recordings in this server (API, /recordings page, auto-record). Omitted: signaling and room pages only. */
  recordings?: RecordingsOptions;
  logger?: Logger;
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
  recordings?: RecordingService;
  webhooks?: WebhookNotifier;
  /** Closes at once (running recordings are stopped first when there are any). */
  close(): Promise<void>;
  /** SIGTERM: refuses new recordings, finalizes the running ones, flushes webhooks, then closes. */
  shutdown(): Promise<void>;
}
