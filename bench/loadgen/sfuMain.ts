/**
 * The SFU bench's load generator process (forked by the runner, IPC channel): N synthetic werift publishers (each
 * publishes once, to the SFU) and M synthetic werift subscribers, in one Node process separate from the server it
 * measures. Every packet a publisher sends is matched with what each subscriber receives (publisher, kind, sequence
 * number: a subscriber's sender keeps the publisher's numbering unless the source restarts), which gives loss and the
 * end-to-end delay on one clock. Ends by itself on `exit`, when the runner goes away, or after maxLifetimeMs.
 */
import { loadIvf, loadOggOpus, type AudioClip, type VideoClip } from './media.js';
import { MediaScheduler, SyntheticParticipant } from './participant.js';
import type { RunnerToSfuGenerator, SfuGeneratorConfig, SfuGeneratorToRunner, SfuWindowStats } from './sfuProtocol.js';
import { SyntheticSubscriber } from './subscriber.js';

/** One published stream: when each sequence number was sent (performance.now(); 0 = not in this window). */
interface SentStream {
  sentAt: Float64Array;
  sentInWindow: number;
}

/** One subscriber's view of one published stream: which sequence numbers of the window arrived. */
interface ReceivedStream {
  seen: Uint8Array;
  received: number;
}

/** End-to-end delay in 0.1 ms buckets up to 2 s (last bucket: more). */
class DelayHistogram {
  private readonly counts = new Uint32Array(20_001);
  private n = 0;
  private max = 0;

  add(ms: number): void {
    this.counts[Math.min(20_000, Math.max(0, Math.round(ms * 10)))]!++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }

  figures(): SfuWindowStats['endToEnd'] {
    const q = (p: number) => {
      const target = p * this.n;
      let acc = 0;
      for (let i = 0; i < this.counts.length; i++) {
        acc += this.counts[i]!;
        if (acc >= target) return i / 10;
      }
      return NaN;
    };
    return { samples: this.n, p50Ms: this.n ? q(0.5) : NaN, p99Ms: this.n ? q(0.99) : NaN, maxMs: Math.round(this.max * 10) / 10 };
  }
}

const publishers: SyntheticParticipant[] = [];
const subscribers: SyntheticSubscriber[] = [];
const scheduler = new MediaScheduler();
/** `${publisherId}/${kind}` → sent stream; filled as publishers join (their id is known then). */
const sent = new Map<string, SentStream>();
/** Per subscriber: `${publisherId}/${kind}` → received. */
const received = new Map<SyntheticSubscriber, Map<string, ReceivedStream>>();
let markAt = Infinity;
let stopAt = Infinity;
let delays = new DelayHistogram();
let unmatched = 0;
let exiting = false;

function tell(msg: SfuGeneratorToRunner): void {
  if (process.connected) process.send!(msg);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function onPacket(sub: SyntheticSubscriber, key: string, sequenceNumber: number, atMs: number): void {
  if (atMs < markAt) return;
  const s = sent.get(key);
  const at = s?.sentAt[sequenceNumber] ?? 0;
  if (!s || at < markAt || at > stopAt || atMs < at || atMs - at > 5000) {
    unmatched++;
    return;
  }
  let mine = received.get(sub)!.get(key);
  if (!mine) received.get(sub)!.set(key, (mine = { seen: new Uint8Array(65_536), received: 0 }));
  if (mine.seen[sequenceNumber]) return; // a retransmission of one already counted
  mine.seen[sequenceNumber] = 1;
  mine.received++;
  delays.add(atMs - at);
}

async function start(config: SfuGeneratorConfig): Promise<void> {
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
  config.publishers.forEach((p, i) => {
    const streams = { audio: { sentAt: new Float64Array(65_536), sentInWindow: 0 }, video: { sentAt: new Float64Array(65_536), sentInWindow: 0 } };
    const participant: SyntheticParticipant = new SyntheticParticipant({
      serverUrl: config.serverUrl,
      room: config.room,
      name: p.name,
      video: p.videoPath ? videos.get(p.videoPath) : undefined,
      audio: p.audioPath ? audios.get(p.audioPath) : undefined,
      startOffset: i,
      scheduler,
      onSent: (kind, seq, at) => {
        const s = streams[kind];
        // Only the window's packets are matched: earlier ones read as 0 (a subscriber may get them after the mark).
        if (at >= markAt && at <= stopAt) {
          s.sentAt[seq] = at;
          s.sentInWindow++;
        } else s.sentAt[seq] = 0;
      },
    });
    publishers.push(participant);
    void participant.flowing.then(() => {
      if (p.audioPath) sent.set(`${participant.id}/audio`, streams.audio);
      if (p.videoPath) sent.set(`${participant.id}/video`, streams.video);
    });
  });
  const deadline = Date.now() + config.connectTimeoutMs;
  const timeout = (what: string) => sleep(Math.max(0, deadline - Date.now())).then(() => Promise.reject(new Error(`${what} after ${config.connectTimeoutMs} ms`)));
  for (const [i, p] of publishers.entries()) {
    if (i > 0) await sleep(config.joinIntervalMs);
    await p.join();
  }
  await Promise.race([Promise.all(publishers.map((p) => p.flowing)), timeout('publishers not all connected')]);
  tell({ type: 'published', publishers: publishers.map((p) => ({ name: p.stats().name, id: p.id })) });

  for (let i = 0; i < config.subscribers; i++) {
    if (i > 0) await sleep(config.joinIntervalMs);
    const sub: SyntheticSubscriber = new SyntheticSubscriber({
      serverUrl: config.serverUrl,
      room: config.room,
      name: `S${i + 1}`,
      onPacket: (participant, kind, packet, atMs) => onPacket(sub, `${participant}/${kind}`, packet.header.sequenceNumber, atMs),
    });
    subscribers.push(sub);
    received.set(sub, new Map());
    await sub.join();
  }
  const all = (sub: SyntheticSubscriber) => [...sent.keys()].every((key) => (sub.streams.get(key)?.packets ?? 0) > 0);
  for (;;) {
    if (subscribers.every(all)) break;
    if (Date.now() > deadline) {
      const missing = subscribers.filter((s) => !all(s)).map((s) => `${s.id}: ${[...s.streams.keys()].join(' ') || 'nothing'}`);
      throw new Error(`subscribers not receiving every publisher after ${config.connectTimeoutMs} ms (${missing.join('; ')})`);
    }
    await sleep(100);
  }
  tell({ type: 'flowing', atMs: Date.now() });
}

function mark(): void {
  markAt = performance.now();
  delays = new DelayHistogram();
  unmatched = 0;
  for (const m of received.values()) m.clear();
  for (const s of sent.values()) s.sentInWindow = 0;
  scheduler.mark();
}

async function stopMedia(): Promise<void> {
  stopAt = performance.now();
  scheduler.stop();
  // What was sent last is still on its way (and a retransmission may follow a NACK).
  await sleep(1000);
  const windowSec = (stopAt - markAt) / 1000;
  const sentTotal = [...sent.values()].reduce((a, s) => a + s.sentInWindow, 0);
  const perSubscriber = subscribers.map((sub) => ({
    name: sub.joined?.id ?? '?',
    received: [...received.get(sub)!.values()].reduce((a, r) => a + r.received, 0),
    expected: sentTotal,
  }));
  const receivedTotal = perSubscriber.reduce((a, s) => a + s.received, 0);
  const expected = sentTotal * subscribers.length;
  const connectionTrouble = publishers.flatMap((p) => {
    const st = p.stats();
    return st.states.some((x) => /:(failed|disconnected|closed)$/.test(x)) ? [`${st.name}: ${st.states.join(', ')}`] : [];
  });
  const stats: SfuWindowStats = {
    windowSec,
    sent: sentTotal,
    expected,
    received: receivedTotal,
    lost: expected - receivedTotal,
    perSubscriber,
    unmatched,
    endToEnd: delays.figures(),
    scheduler: scheduler.stats().window,
    connectionTrouble,
  };
  tell({ type: 'stopped', stats });
}

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  scheduler.stop();
  setTimeout(() => process.exit(code), 3000).unref(); // closing must not hang the run
  await Promise.all([...publishers, ...subscribers].map((p) => p.close()));
  process.exit(code);
}

process.on('message', (msg: RunnerToSfuGenerator) => {
  switch (msg.type) {
    case 'start':
      start(msg.config).catch((err: Error) => tell({ type: 'error', message: err.message }));
      break;
    case 'mark':
      mark();
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
