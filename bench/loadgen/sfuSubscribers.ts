/**
 * A worker thread of the SFU load generator holding some of its subscribers. Each worker has its own event loop, as
 * each real client has its own: with every subscriber on one loop, a busy turn of the generator (it reads at most 32
 * datagrams per socket per turn) held packets for hundreds of ms and the end-to-end figure measured the generator.
 *
 * Send times come from the publishers' thread through shared memory (epoch ms, performance.timeOrigin + now, one
 * clock for every thread of the process); matching is by (publisher, kind, sequence number).
 *
 * In an MCU room (`listen: 'mix'`) the subscribers are listeners: each counts the mix packets it gets and keeps its last
 * second of them, decoded at the report to show that what arrives is audio; with `onsets` the first listener decodes
 * every mix packet as it arrives and notes when a tone burst starts.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { OpusDecoder } from 'opus-decoder';
import type { RtpPacket } from 'werift';
import type { TrackPublished } from '../../src/signaling/messages.js';
import { opusPacketSamples } from '../../src/media/audio/opusPacket.js';
import { decodeFrameLevels, decodeLevel, monoDecoder, OnsetDetector } from './onset.js';
import {
  DELAY_BUCKETS,
  type FromSubscriberWorker,
  type MixListenerStats,
  type SubscriberWorkerData,
  type SubscriberWorkerReport,
  type ToSubscriberWorker,
} from './sfuProtocol.js';
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

/** Mix packets kept per listener for the decode check: the last second. */
const SAMPLE_PACKETS = 50;

/** listen 'mix': one listener's count since the mark. */
interface MixListener {
  seen: Uint8Array;
  packets: number;
  /** Milliseconds of mix in those packets. */
  ms: number;
  /** Extended (unwrapped) sequence numbers: the last received, and the window's lowest and highest. */
  ext?: number;
  low: number;
  high: number;
  unexpected: number;
  recent: Buffer[];
  /** onsets: this listener's live decoder. */
  live?: { decoder: OpusDecoder; detector: OnsetDetector };
}
const listeners = new Map<SyntheticSubscriber, MixListener>();
/** When the onset listener heard each burst start (epoch ms), inside the window. */
let onsetsAtMs: number[] = [];

function onMixPacket(l: MixListener, owner: TrackPublished, packet: RtpPacket, perfAt: number): void {
  const at = epochNow(perfAt);
  if (owner.source !== 'mix') {
    if (at >= markAt) l.unexpected++;
    return;
  }
  const seq = packet.header.sequenceNumber;
  l.ext = l.ext === undefined ? seq : l.ext + ((((seq - l.ext) & 0xffff) ^ 0x8000) - 0x8000);
  // A 40 ms packet's two halves are looked at in turn (the detector's quiet and loud are 20 ms frames); an onset in
  // either is heard when the packet arrives.
  if (l.live) {
    let onset = false;
    for (const db of decodeFrameLevels(l.live.decoder, packet.payload)) onset = l.live.detector.push(db) || onset;
    if (onset && at >= markAt) onsetsAtMs.push(at);
  }
  if (at < markAt || l.seen[seq]) return;
  l.seen[seq] = 1;
  l.packets++;
  l.ms += opusPacketSamples(packet.payload) / 48;
  l.low = Math.min(l.low, l.ext);
  l.high = Math.max(l.high, l.ext);
  l.recent[l.packets % SAMPLE_PACKETS] = Buffer.from(packet.payload);
}

/**
 * A listener's report: its window count (taken now, before anything awaits), and its last second of packets decoded
 * afresh.
 */
async function mixStats(sub: SyntheticSubscriber, l: MixListener, windowSec: number): Promise<MixListenerStats> {
  const sample = { frames: 0, failed: 0, ms: 0, levelDb: -Infinity };
  const n = Math.min(l.packets, SAMPLE_PACKETS);
  const recent = Array.from({ length: n }, (_, k) => l.recent[(l.packets - n + 1 + k) % SAMPLE_PACKETS]!);
  const counted = {
    name: sub.joined?.id ?? '?',
    packets: l.packets,
    perSec: l.packets / windowSec,
    msPerSec: l.ms / windowSec,
    gaps: l.packets > 0 ? l.high - l.low + 1 - l.packets : 0,
    unexpected: l.unexpected,
  };
  if (n > 0) {
    const decoder = await monoDecoder();
    let energy = 0;
    let samples = 0;
    for (const payload of recent) {
      const d = decodeLevel(decoder, payload);
      if (!d.ok) {
        sample.failed++;
        continue;
      }
      sample.frames++;
      sample.ms += d.samples / 48;
      energy += 10 ** (d.db / 10) * d.samples;
      samples += d.samples;
    }
    decoder.free();
    sample.levelDb = samples > 0 ? Math.round(100 * 10 * Math.log10(energy / samples)) / 100 : -Infinity;
  }
  return { ...counted, sample };
}

/** The monitor records intervals between its ticks: minus its resolution, the lag. */
function loopFigures(): { p50Ms: number; p99Ms: number; maxMs: number } {
  const lag = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
  return { p50Ms: lag(loopDelay.percentile(50)), p99Ms: lag(loopDelay.percentile(99)), maxMs: lag(loopDelay.max) };
}

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
  const mix = data.listen === 'mix';
  for (const [i, name] of data.names.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, data.joinIntervalMs));
    const l: MixListener = { seen: new Uint8Array(65_536), packets: 0, ms: 0, low: Infinity, high: -Infinity, unexpected: 0, recent: [] };
    if (mix && data.onsets && i === 0) l.live = { decoder: await monoDecoder(), detector: new OnsetDetector() };
    const sub: SyntheticSubscriber = new SyntheticSubscriber({
      serverUrl: data.serverUrl,
      room: data.room,
      name,
      onPacket: mix
        ? (owner, packet, atMs) => onMixPacket(l, owner, packet, atMs)
        : (owner, packet, atMs) => onPacket(sub, `${owner.participant}/${owner.kind}`, packet.header.sequenceNumber, atMs),
    });
    subscribers.push(sub);
    received.set(sub, new Map());
    if (mix) listeners.set(sub, l);
    await sub.join();
  }
  const all = mix
    ? (s: SyntheticSubscriber) => [...s.streams.values()].some((x) => x.source === 'mix' && x.packets > 0)
    : (s: SyntheticSubscriber) => [...sent.keys()].every((key) => (s.streams.get(key)?.packets ?? 0) > 0);
  while (!subscribers.every(all)) await new Promise((r) => setTimeout(r, 100));
  port.postMessage({ type: 'flowing' } satisfies FromSubscriberWorker);
}

port.on('message', (msg: ToSubscriberWorker) => {
  switch (msg.type) {
    case 'mark':
      // Forwarded packets: nothing to clear, those sent before the mark were never counted (their send time reads 0).
      // Mix listeners count afresh.
      markAt = msg.atMs;
      for (const l of listeners.values()) {
        l.seen.fill(0);
        l.packets = 0;
        l.ms = 0;
        l.low = Infinity;
        l.high = -Infinity;
        l.unexpected = 0;
      }
      onsetsAtMs = [];
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
        loopDelay: loopFigures(),
      };
      port.postMessage({ type: 'report', report } satisfies FromSubscriberWorker);
      break;
    }
    case 'mixReport': {
      // The window ends when this thread reads the request (its counts stop here), not when it was sent.
      const windowSec = (epochNow(performance.now()) - markAt) / 1000;
      const loop = loopFigures();
      const onsets = onsetsAtMs;
      void Promise.all([...listeners].map(([sub, l]) => mixStats(sub, l, windowSec))).then(
        (stats) => port.postMessage({ type: 'mixReport', report: { listeners: stats, onsetsAtMs: onsets, loopDelay: loop } } satisfies FromSubscriberWorker),
        (err: Error) => port.postMessage({ type: 'error', message: `mix report: ${err.message}` } satisfies FromSubscriberWorker),
      );
      break;
    }
    case 'exit':
      void Promise.all(subscribers.map((s) => s.close())).finally(() => process.exit(0));
      break;
  }
});

start().catch((err: Error) => port.postMessage({ type: 'error', message: err.message } satisfies FromSubscriberWorker));
