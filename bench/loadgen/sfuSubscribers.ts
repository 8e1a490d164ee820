/**
 * A worker thread of the SFU load generator holding some of its subscribers. Each worker has its own event loop, as
 * each real client has its own: with every subscriber on one loop, a busy turn of the generator (it reads at most 32
 * datagrams per socket per turn) held packets for hundreds of ms and the end-to-end figure measured the generator.
 *
 * Send times come from the publishers' thread through shared memory (epoch ms, performance.timeOrigin + now, one
 * clock for every thread of the process); matching is by (publisher, kind, sequence number).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { DELAY_BUCKETS, type FromSubscriberWorker, type SubscriberWorkerData, type SubscriberWorkerReport, type ToSubscriberWorker } from './sfuProtocol.js';
import { SyntheticSubscriber } from './subscriber.js';

const data = workerData as SubscriberWorkerData;
const port = parentPort!;
const sent = new Map(Object.entries(data.sent).map(([k, b]) => [k, new Float64Array(b)]));
const subscribers: SyntheticSubscriber[] = [];
/** Per subscriber: `${publisherId}/${kind}` → which sequence numbers of the window arrived, and how many. */
const received = new Map<SyntheticSubscriber, Map<string, { seen: Uint8Array; n: number }>>();
let markAt = Infinity;
let stopAt = Infinity;
const delayCounts = new Uint32Array(DELAY_BUCKETS);
let delayMax = 0;
let unmatched = 0;
const LOOP_RESOLUTION_MS = 5;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
const epochNow = (perfNow: number) => performance.timeOrigin + perfNow;

/**
 * Whether a packet belongs to the window is decided by its send time alone (0 until the publishers' thread marked the
 * window): the mark reaches this thread a moment later, and a packet sent after the mark may arrive before it.
 */
function onPacket(sub: SyntheticSubscriber, key: string, seq: number, perfAt: number): void {
  const at = epochNow(perfAt);
  const times = sent.get(key);
  const sentAt = times?.[seq] ?? 0;
  if (!times || sentAt === 0 || sentAt > stopAt || at < sentAt - 1 || at - sentAt > 5000) {
    if (at >= markAt) unmatched++;
    return;
  }
  const mine = received.get(sub)!;
  let r = mine.get(key);
  if (!r) mine.set(key, (r = { seen: new Uint8Array(65_536), n: 0 }));
  if (r.seen[seq]) return; // a retransmission of one already counted
  r.seen[seq] = 1;
  r.n++;
  const ms = Math.max(0, at - sentAt);
  delayCounts[Math.min(DELAY_BUCKETS - 1, Math.round(ms * 10))]!++;
  if (ms > delayMax) delayMax = ms;
}

async function start(): Promise<void> {
  for (const [i, name] of data.names.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, data.joinIntervalMs));
    const sub: SyntheticSubscriber = new SyntheticSubscriber({
      serverUrl: data.serverUrl,
      room: data.room,
      name,
      onPacket: (participant, kind, packet, atMs) => onPacket(sub, `${participant}/${kind}`, packet.header.sequenceNumber, atMs),
    });
    subscribers.push(sub);
    received.set(sub, new Map());
    await sub.join();
  }
  const all = (s: SyntheticSubscriber) => [...sent.keys()].every((key) => (s.streams.get(key)?.packets ?? 0) > 0);
  while (!subscribers.every(all)) await new Promise((r) => setTimeout(r, 100));
  port.postMessage({ type: 'flowing' } satisfies FromSubscriberWorker);
}

port.on('message', (msg: ToSubscriberWorker) => {
  switch (msg.type) {
    case 'mark':
      // Nothing to clear: packets sent before the mark were never counted (their send time reads 0).
      markAt = msg.atMs;
      loopDelay.reset();
      loopDelay.enable();
      break;
    case 'stop':
      stopAt = msg.atMs;
      break;
    case 'report': {
      loopDelay.disable();
      const report: SubscriberWorkerReport = {
        perSubscriber: subscribers.map((s) => ({ name: s.joined?.id ?? '?', received: [...received.get(s)!.values()].reduce((a, r) => a + r.n, 0) })),
        unmatched,
        delayCounts: [...delayCounts],
        delayMaxMs: delayMax,
        // The monitor records intervals between its ticks: minus its resolution, the lag.
        loopDelay: { p50Ms: Math.max(0, loopDelay.percentile(50) / 1e6 - LOOP_RESOLUTION_MS), p99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS), maxMs: Math.max(0, loopDelay.max / 1e6 - LOOP_RESOLUTION_MS) },
      };
      port.postMessage({ type: 'report', report } satisfies FromSubscriberWorker);
      break;
    }
    case 'exit':
      void Promise.all(subscribers.map((s) => s.close())).finally(() => process.exit(0));
      break;
  }
});

start().catch((err: Error) => port.postMessage({ type: 'error', message: err.message } satisfies FromSubscriberWorker));
