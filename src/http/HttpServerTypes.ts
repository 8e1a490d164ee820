import type { IceServer } from '../signaling/messages.js';
import type { SignalingServer } from '../signaling/SignalingServer.js';

export interface HttpServerOptions {
  /** 0 picks a free port (tests). */
  port?: number;
  host?: string;
  iceServers?: IceServer[];
}

export interface RunningServer {
  /** http://host:port */
  url: string;
  /** ws://host:port */
  wsUrl: string;
  port: number;
  signaling: SignalingServer;
  close(): Promise<void>;
}
