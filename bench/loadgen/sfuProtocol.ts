/** Messages between the bench runner and the SFU load generator process (bench/loadgen/sfuMain.ts; Node IPC, JSON). */
import type { GeneratorParticipant, SchedulerStats } from './protocol.js';

export interface SfuGeneratorConfig {
  serverUrl: string;
  room: string;
  /** Publish to the SFU (subscribe: false), each its own clips. */
  publishers: GeneratorParticipant[];
  /** Subscribers (publish nothing): each should get every publisher's audio and video. */
  subscribers: number;
  joinIntervalMs: number;
  /** Give up when not every subscriber receives every publisher's streams after this long. */
  connectTimeoutMs: number;
  maxLifetimeMs: number;
  /** Nice value of the generator's threads (higher = yields to the server). */
  nice?: number;
  /**
   * What subscribers expect: every publisher's tracks forwarded (default), or one track, the server's live mix (an MCU
   * room; they are its listeners, and a forwarded voice counts as `unexpected`).
   */
  listen?: 'forward' | 'mix';
  /** Subscribers per worker thread (default 2). */
  subscribersPerThread?: number;
  /**
   * MCU latency: the publishers' clips are tone bursts after silence; the first subscriber decodes the mix as it arrives
   * and its onsets are matched with the send times of the clips' onset packets (`MixWindowStats.onsets`).
   */
  onsets?: boolean;
}

/** One listener of an MCU room over a window: the mix packets it received and whether a sample of them decodes. */
export interface MixListenerStats {
  name: string;
  /** Mix packets received in the window (distinct sequence numbers) and per second. */
  packets: number;
  perSec: number;
  /** Milliseconds of mix those packets hold, per second of the window (1000: all of it; 20 or 40 ms a packet). */
  msPerSec: number;
  /** Sequence numbers missing between the first and last received in the window. */
  gaps: number;
  /** Packets of other tracks (forwarded voices): a listener of the mix should get none. */
  unexpected: number;
  /** Its last 50 mix packets (1 s of 20 ms ones, 2 s of 40 ms) decoded afresh (opus-decoder): packets that decoded, that failed, the ms of audio, the level. */
  sample: { frames: number; failed: number; ms: number; levelDb: number };
}

export interface MixWindowStats {
  windowSec: number;
  listeners: MixListenerStats[];
  /** onsets: per tone burst, the talker's first tone packet sent → the listener's first mix packet with the onset. */
  onsets?: { sent: number; detected: number; delaysMs: number[]; unmatched: number };
  generatorLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  scheduler: SchedulerStats;
  connectionTrouble: string[];
}

/** Publisher send → subscriber receive, same process and clock (ms). */
export interface DelayFigures {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SfuWindowStats {
  windowSec: number;
  /** Packets the publishers sent inside the window (audio + video). */
  sent: number;
  /** sent × subscribers: what the subscribers should have received. */
  expected: number;
  /** Distinct packets sent inside the window that subscribers received (matched by publisher, kind, sequence number). */
  received: number;
  lost: number;
  /** Per subscriber: packets received of those expected. */
  perSubscriber: { name: string; received: number; expected: number }[];
  /** Packets received that match no packet sent in the window (before it, duplicates, or renumbered by the SFU). */
  unmatched: number;
  endToEnd: DelayFigures;
  /** The event-loop delay of the busiest subscriber thread in the window (perf_hooks, 5 ms resolution): the generator's own share of the end to end. */
  generatorLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  scheduler: SchedulerStats;
  /** Publisher connections that left "connected" (name: states). */
  connectionTrouble: string[];
}

export type RunnerToSfuGenerator =
  | { type: 'start'; config: SfuGeneratorConfig }
  /** More subscribers join (answered with `flowing` once each receives). */
  | { type: 'addSubscribers'; count: number }
  | { type: 'mark' }
  /** listen 'mix': the window since `mark` ends (media keeps flowing); answered with `mixWindow`. */
  | { type: 'mixWindow' }
  | { type: 'stopMedia' }
  | { type: 'exit' };

export type SfuGeneratorToRunner =
  /** Every publisher is connected and sending; subscribers start joining. */
  | { type: 'published'; publishers: { name: string; id: string }[] }
  /** Every subscriber receives every publisher's audio and video. */
  | { type: 'flowing'; atMs: number }
  | { type: 'stopped'; stats: SfuWindowStats }
  | { type: 'mixWindow'; stats: MixWindowStats }
  | { type: 'error'; message: string };

// ---------------------------------------------------------------------------------------------
// Between the generator's main thread and its subscriber threads (bench/loadgen/sfuSubscribers.ts)

export interface SubscriberWorkerData {
  serverUrl: string;
  room: string;
  names: string[];
  joinIntervalMs: number;
  /** `${publisherId}/${kind}` → send time (epoch ms) by sequence number; 0 = not sent inside the window. */
  sent: Record<string, SharedArrayBuffer>;
  listen: 'forward' | 'mix';
  /** Decode the first subscriber's mix as it arrives and report its onsets. */
  onsets: boolean;
}

export type ToSubscriberWorker = { type: 'mark'; atMs: number } | { type: 'stop'; atMs: number } | { type: 'report' } | { type: 'mixReport' } | { type: 'exit' };

export interface SubscriberWorkerReport {
  perSubscriber: { name: string; received: number }[];
  unmatched: number;
  /** End-to-end delay counts in 0.1 ms buckets (last: 2 s or more). */
  delayCounts: number[];
  delayMaxMs: number;
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
}

/** listen 'mix': the thread's listeners since the mark, and (onsets) when the first one heard each onset (epoch ms). */
export interface MixWorkerReport {
  listeners: MixListenerStats[];
  onsetsAtMs: number[];
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
}

export type FromSubscriberWorker =
  | { type: 'flowing' }
  | { type: 'report'; report: SubscriberWorkerReport }
  | { type: 'mixReport'; report: MixWorkerReport }
  | { type: 'error'; message: string };

export const DELAY_BUCKETS = 20_001;
