/**
 * The SFU bench's load generator process (forked by the runner, IPC channel): N synthetic werift publishers (each
 * publishes once, to the SFU) on its main thread and M synthetic werift subscribers in worker threads
 * (sfuSubscribers.ts), one Node process separate from the server it measures. Every packet a publisher sends is matched with what each subscriber receives (publisher, kind, sequence
 * number: a subscriber's sender keeps the publisher's numbering unless the source restarts), which gives loss and the
 * end-to-end delay on one clock. Ends by itself on `exit`, when the runner goes away, or after maxLifetimeMs.
 *
 * In an MCU room (`listen: 'mix'`) the publishers are talkers (Opus only) and the subscribers listeners of the server's
 * mix; windows end without stopping the media (`mixWindow`) and more listeners can join between them
 * (`addSubscribers`), so one room steps through listener counts. With `onsets`, the send time of every tone onset of
 * the talkers' clips is noted and matched with when the first listener hears it in the mix.
 */
import { setPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { loadIvf, loadOggOpus, type AudioClip, type VideoClip } from './media.js';
import { addAudioLevels, clipLoudPackets } from './onset.js';
import { MediaScheduler, SyntheticParticipant } from './participant.js';
import {
  DELAY_BUCKETS,
  type FromSubscriberWorker,
  type MixWindowStats,
  type RunnerToSfuGenerator,
  type SfuGeneratorConfig,
  type SfuGeneratorToRunner,
  type SfuWindowStats,
  type SubscriberWorkerData,
  type SubscriberWorkerReport,
  type ToSubscriberWorker,
} from './sfuProtocol.js';

/** Subscribers per worker thread (each thread its own event loop, like each real client), unless the config says. */
const SUBSCRIBERS_PER_THREAD = 2;
/** A heard onset belongs to the latest one sent at most this long before it (the bursts are 1 s apart). */
const ONSET_MATCH_MS = 900;

/** One published stream: when each sequence number was sent (epoch ms, shared with the subscriber threads). */
interface SentStream {
  sentAt: Float64Array;
  sentInWindow: number;
}

const publishers: SyntheticParticipant[] = [];
const workers: Worker[] = [];
const scheduler = new MediaScheduler();
/** `${publisherId}/${kind}` → sent stream; filled as publishers connect (their id is known then). */
const sent = new Map<string, SentStream>();
let markAt = Infinity;
let stopAt = Infinity;
let exiting = false;
let config!: SfuGeneratorConfig;
const shared: Record<string, SharedArrayBuffer> = {};
let subscriberCount = 0;
/** onsets: send times (epoch ms) of the talkers' onset packets inside the window. */
let onsetsSent: number[] = [];
const epochNow = () => performance.timeOrigin + performance.now();

function tell(msg: SfuGeneratorToRunner): void {
  if (process.connected) process.send!(msg);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The next message of `type` from a worker (its error message rejects). */
function next<T extends FromSubscriberWorker['type']>(w: Worker, type: T, timeoutMs: number): Promise<Extract<FromSubscriberWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`subscriber thread: no ${type} after ${timeoutMs} ms`)), timeoutMs);
    const on = (m: FromSubscriberWorker) => {
      if (m.type !== type && m.type !== 'error') return;
      clearTimeout(timer);
      w.off('message', on);
      if (m.type === 'error') reject(new Error(`subscriber thread: ${m.message}`));
      else resolve(m as Extract<FromSubscriberWorker, { type: T }>);
    };
    w.on('message', on);
  });
}

/** Asks every subscriber thread for its report of `type` and waits for all of them. */
async function askWorkers<T extends 'report' | 'mixReport'>(type: T, timeoutMs: number): Promise<Array<Extract<FromSubscriberWorker, { type: T }>>> {
  return Promise.all(
    workers.map(async (w) => {
      const reply = next(w, type, timeoutMs);
      w.postMessage({ type } satisfies ToSubscriberWorker);
      return reply;
    }),
  );
}

/** The worst subscriber thread's event-loop lag (each figure the maximum over the threads). */
function worstLoopDelay(reports: ReadonlyArray<{ loopDelay: { p50Ms: number; p99Ms: number; maxMs: number } }>): { p50Ms: number; p99Ms: number; maxMs: number } {
  return {
    p50Ms: Math.max(0, ...reports.map((r) => r.loopDelay.p50Ms)),
    p99Ms: Math.max(0, ...reports.map((r) => r.loopDelay.p99Ms)),
    maxMs: Math.max(0, ...reports.map((r) => r.loopDelay.maxMs)),
  };
}

async function start(cfg: SfuGeneratorConfig): Promise<void> {
  config = cfg;
  // Below the server in the CPU queue (threads created from here on inherit it): on 2 cores the generator's threads
  // would otherwise take the server's turn whenever the machine is full, and queue its publishers' packets for seconds.
  if (config.nice !== undefined) setPriority(config.nice);
  setTimeout(() => {
    console.error(`sfu loadgen: max lifetime ${config.maxLifetimeMs} ms reached; exiting`);
    process.exit(3);
  }, config.maxLifetimeMs).unref();

  const videos = new Map<string, VideoClip>();
  const audios = new Map<string, AudioClip>();
  for (const p of config.publishers) {
    if (p.videoPath && !videos.has(p.videoPath)) videos.set(p.videoPath, loadIvf(p.videoPath));
    if (p.audioPath && !audios.has(p.audioPath)) audios.set(p.audioPath, loadOggOpus(p.audioPath));
  }
  // Talkers send each packet's audio level, as browsers do (the MCU skips decoding what cannot be heard).
  for (const clip of audios.values()) await addAudioLevels(clip);
  // onsets: which packets of each clip are loud (decoded here, with the listener's threshold); a loud packet sent after
  // a quiet one starts a burst.
  const loudness = new Map<string, boolean[]>();
  if (config.onsets) for (const [path, clip] of audios) loudness.set(path, await clipLoudPackets(clip));
  config.publishers.forEach((p, i) => {
    const loud = p.audioPath ? loudness.get(p.audioPath) : undefined;
    let wasLoud = true;
    const stream = (): SentStream & { buffer: SharedArrayBuffer } => {
      const buffer = new SharedArrayBuffer(65_536 * 8);
      return { buffer, sentAt: new Float64Array(buffer), sentInWindow: 0 };
    };
    const streams = { audio: stream(), video: stream() };
    const participant: SyntheticParticipant = new SyntheticParticipant({
      serverUrl: config.serverUrl,
      room: config.room,
      name: p.name,
      video: p.videoPath ? videos.get(p.videoPath) : undefined,
      audio: p.audioPath ? audios.get(p.audioPath) : undefined,
      startOffset: i,
      scheduler,
      onSent: (kind, seq, perfAt, clipIndex) => {
        const s = streams[kind];
        const at = performance.timeOrigin + perfAt;
        if (loud && kind === 'audio' && clipIndex !== undefined) {
          if (loud[clipIndex] && !wasLoud && at >= markAt) onsetsSent.push(at);
          wasLoud = loud[clipIndex]!;
        }
        // Only the window's packets are matched: earlier ones read as 0 (a subscriber may get them after the mark).
        if (at >= markAt && at <= stopAt) {
          s.sentAt[seq] = at;
          s.sentInWindow++;
        } else s.sentAt[seq] = 0;
      },
    });
    publishers.push(participant);
    void participant.flowing.then(() => {
      for (const kind of ['audio', 'video'] as const) {
        if (!(kind === 'audio' ? p.audioPath : p.videoPath)) continue;
        sent.set(`${participant.id}/${kind}`, streams[kind]);
        shared[`${participant.id}/${kind}`] = streams[kind].buffer;
      }
    });
  });
  const deadline = Date.now() + config.connectTimeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  for (const [i, p] of publishers.entries()) {
    if (i > 0) await sleep(config.joinIntervalMs);
    await p.join();
  }
  await Promise.race([
    Promise.all(publishers.map((p) => p.flowing)),
    sleep(left()).then(() => Promise.reject(new Error(`publishers not all connected after ${config.connectTimeoutMs} ms`))),
  ]);
  tell({ type: 'published', publishers: publishers.map((p) => ({ name: p.stats().name, id: p.id })) });
  await addSubscribers(config.subscribers, left());
}

/** `count` more subscribers in new worker threads; `flowing` once every one of them receives. */
async function addSubscribers(count: number, timeoutMs = config.connectTimeoutMs): Promise<void> {
  const perThread = config.subscribersPerThread ?? SUBSCRIBERS_PER_THREAD;
  const names = Array.from({ length: count }, (_, i) => `S${subscriberCount + i + 1}`);
  const added: Worker[] = [];
  for (let i = 0; i < names.length; i += perThread) {
    const data: SubscriberWorkerData = {
      serverUrl: config.serverUrl,
      room: config.room,
      names: names.slice(i, i + perThread),
      joinIntervalMs: config.joinIntervalMs,
      sent: shared,
      listen: config.listen ?? 'forward',
      // The room's first listener decodes the mix as it arrives.
      onsets: config.onsets === true && subscriberCount === 0 && i === 0,
    };
    added.push(new Worker(new URL('./sfuSubscribers.js', import.meta.url), { workerData: data }));
  }
  subscriberCount += count;
  workers.push(...added);
  await Promise.all(added.map((w) => next(w, 'flowing', timeoutMs)));
  tell({ type: 'flowing', atMs: Date.now() });
}

/** listen 'mix': the window since the mark ends (media keeps flowing); every listener's figures, the onsets' delays. */
async function mixWindow(): Promise<void> {
  const endAt = epochNow();
  const reports = (await askWorkers('mixReport', 15_000)).map((m) => m.report);
  const sentOnsets = onsetsSent.filter((at) => at <= endAt);
  const heard = reports.flatMap((r) => r.onsetsAtMs).sort((a, b) => a - b);
  const delaysMs: number[] = [];
  const used = new Set<number>();
  let unmatched = 0;
  for (const at of heard) {
    let k = sentOnsets.length - 1;
    while (k >= 0 && sentOnsets[k]! > at) k--;
    if (k < 0 || used.has(k) || at - sentOnsets[k]! > ONSET_MATCH_MS) {
      unmatched++;
      continue;
    }
    used.add(k);
    delaysMs.push(Math.round((at - sentOnsets[k]!) * 10) / 10);
  }
  const stats: MixWindowStats = {
    windowSec: (endAt - markAt) / 1000,
    listeners: reports.flatMap((r) => r.listeners),
    onsets: config.onsets ? { sent: sentOnsets.length, detected: heard.length, delaysMs, unmatched } : undefined,
    generatorLoopDelay: worstLoopDelay(reports),
    scheduler: scheduler.stats().window,
    connectionTrouble: connectionTrouble(),
  };
  tell({ type: 'mixWindow', stats });
}

function connectionTrouble(): string[] {
  return publishers.flatMap((p) => {
    const st = p.stats();
    return st.states.some((x) => /:(failed|disconnected|closed)$/.test(x)) ? [`${st.name}: ${st.states.join(', ')}`] : [];
  });
}

function mark(): void {
  markAt = epochNow();
  onsetsSent = [];
  for (const s of sent.values()) s.sentInWindow = 0;
  for (const w of workers) w.postMessage({ type: 'mark', atMs: markAt } satisfies ToSubscriberWorker);
  scheduler.mark();
}

async function stopMedia(): Promise<void> {
  stopAt = epochNow();
  scheduler.stop();
  for (const w of workers) w.postMessage({ type: 'stop', atMs: stopAt } satisfies ToSubscriberWorker);
  // What was sent last is still on its way (and a retransmission may follow a NACK).
  await sleep(1000);
  const reports: SubscriberWorkerReport[] = (await askWorkers('report', 10_000)).map((m) => m.report);
  const windowSec = (stopAt - markAt) / 1000;
  const sentTotal = [...sent.values()].reduce((a, s) => a + s.sentInWindow, 0);
  const perSubscriber = reports.flatMap((r) => r.perSubscriber.map((s) => ({ ...s, expected: sentTotal })));
  const receivedTotal = perSubscriber.reduce((a, s) => a + s.received, 0);
  const expected = sentTotal * perSubscriber.length;
  const counts = new Array<number>(DELAY_BUCKETS).fill(0);
  for (const r of reports) r.delayCounts.forEach((c, i) => (counts[i]! += c));
  const n = counts.reduce((a, b) => a + b, 0);
  const q = (p: number) => {
    let acc = 0;
    for (let i = 0; i < counts.length; i++) {
      acc += counts[i]!;
      if (acc >= p * n) return i / 10;
    }
    return NaN;
  };
  const stats: SfuWindowStats = {
    windowSec,
    sent: sentTotal,
    expected,
    received: receivedTotal,
    lost: expected - receivedTotal,
    perSubscriber,
    unmatched: reports.reduce((a, r) => a + r.unmatched, 0),
    endToEnd: { samples: n, p50Ms: n ? q(0.5) : NaN, p99Ms: n ? q(0.99) : NaN, maxMs: Math.round(Math.max(0, ...reports.map((r) => r.delayMaxMs)) * 10) / 10 },
    generatorLoopDelay: worstLoopDelay(reports),
    scheduler: scheduler.stats().window,
    connectionTrouble: connectionTrouble(),
  };
  tell({ type: 'stopped', stats });
}

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  scheduler.stop();
  setTimeout(() => process.exit(code), 3000).unref(); // closing must not hang the run
  for (const w of workers) w.postMessage({ type: 'exit' } satisfies ToSubscriberWorker);
  await Promise.all([...publishers.map((p) => p.close()), ...workers.map((w) => new Promise((r) => w.once('exit', r)))]);
  process.exit(code);
}

process.on('message', (msg: RunnerToSfuGenerator) => {
  switch (msg.type) {
    case 'start':
      start(msg.config).catch((err: Error) => tell({ type: 'error', message: err.message }));
      break;
    case 'addSubscribers':
      addSubscribers(msg.count).catch((err: Error) => tell({ type: 'error', message: err.message }));
      break;
    case 'mark':
      mark();
      break;
    case 'mixWindow':
      mixWindow().catch((err: Error) => tell({ type: 'error', message: err.message }));
      break;
    case 'stopMedia':
      stopMedia().catch((err: Error) => tell({ type: 'error', message: err.message }));
      break;
    case 'exit':
      void exit(0);
      break;
  }
});
process.on('disconnect', () => void exit(0));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void exit(0));
