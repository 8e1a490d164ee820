/**
 * A UDP relay on loopback that impairs what it forwards: random and burst loss, delay with jitter (reordering emerges
 * from it, or is forced), duplication and a rate limit. This kernel has no netem, so the harness does it in user space.
 *
 * One socket on 127.0.0.1 stands between a client and one upstream endpoint: datagrams from the upstream go to the
 * client, everything else (from the client) goes upstream. Both ends see only the relay's address. Every random
 * decision comes from a seeded PRNG per direction, so a run is reproducible (timer scheduling aside).
 *
 * By default only RTP/RTCP is impaired (first byte 128–191, RFC 7983); STUN and DTLS pass at once and untouched, so a
 * WebRTC connection is established as reliably as without the relay and the impairments hit only the media.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

const LOOPBACK = '127.0.0.1';

export interface Impairment {
  /** Share of datagrams dropped independently, in percent. */
  lossPercent?: number;
  /**
   * Burst loss (Gilbert-Elliott): each datagram moves good → bad with `enterPercent`, bad → good with `exitPercent`;
   * in the bad state a datagram is lost with `lossPercent` (default 100). Mean burst length = 100 / exitPercent.
   */
  burst?: { enterPercent: number; exitPercent: number; lossPercent?: number };
  /** Fixed one-way delay added to every datagram (ms). */
  delayMs?: number;
  /** Each datagram's delay varies by up to ± this (ms), bounded; the total never goes below 0. */
  jitterMs?: number;
  /** uniform in [-jitter, +jitter], or normal with σ = jitter / 2 clamped to ±jitter. Default uniform. */
  jitterDistribution?: 'uniform' | 'normal';
  /** Share of datagrams held back by `reorderHoldMs` more (explicit reordering), in percent. */
  reorderPercent?: number;
  reorderHoldMs?: number;
  /** Share of datagrams sent twice, in percent (the copy gets its own delay). */
  duplicatePercent?: number;
  /** Token-bucket rate limit (kbit/s) with a bounded queue: what does not fit in `queueBytes` is dropped. */
  rateKbps?: number;
  queueBytes?: number;
}

export interface RelayCounters {
  /** Datagrams that arrived at the relay in this direction. */
  received: number;
  /** Datagrams that went out (copies included). */
  sent: number;
  /** Datagrams passed untouched (not media: STUN, DTLS). */
  passed: number;
  /** Media datagrams subject to the impairments. */
  impaired: number;
  lostRandom: number;
  lostBurst: number;
  /** Dropped because the rate limiter's queue was full. */
  lostQueue: number;
  duplicated: number;
  /** Datagrams sent after one that arrived later than them. */
  reordered: number;
  /** Delays actually scheduled for media datagrams (ms), for checking the distribution. */
  delaysMs: number[];
}

export interface RelayOptions {
  /** Port on 127.0.0.1 that datagrams from the client go to; can be set later with setUpstream(). */
  upstreamPort?: number;
  /** Port on 127.0.0.1 of the client; learnt from the first datagram that is not from the upstream when absent. */
  clientPort?: number;
  /** Client → upstream. */
  toUpstream?: Impairment;
  /** Upstream → client. */
  toClient?: Impairment;
  seed: number;
  /** Which datagrams the impairments apply to (default: RTP/RTCP). */
  isImpaired?: (datagram: Buffer) => boolean;
  /** Keep every scheduled delay in the counters (default true; off for long runs). */
  keepDelays?: boolean;
  /** Sees every datagram as it arrives, before any impairment (e.g. to know what the sender really sent). */
  tap?: (datagram: Buffer, direction: 'toUpstream' | 'toClient') => void;
}

/** RTP and RTCP as RFC 7983 demultiplexes them: first byte 128–191. */
export function isRtpOrRtcp(datagram: Buffer): boolean {
  return datagram.length > 0 && datagram[0]! >= 128 && datagram[0]! <= 191;
}

/** mulberry32: a small, fast, seedable PRNG with a full 2^32 period; uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function emptyCounters(): RelayCounters {
  return { received: 0, sent: 0, passed: 0, impaired: 0, lostRandom: 0, lostBurst: 0, lostQueue: 0, duplicated: 0, reordered: 0, delaysMs: [] };
}

/** One direction's impairment state: PRNG, Gilbert-Elliott state, rate limiter, order tracking. */
class Direction {
  readonly counters = emptyCounters();
  private readonly random: () => number;
  private bad = false;
  /** When the rate limiter's link is free again (performance.now() ms): the bytes ahead of a datagram are its backlog. */
  private linkFreeAt = 0;
  private arrivals = 0;
  private highestSentArrival = -1;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly impairment: Impairment,
    seed: number,
    private readonly keepDelays: boolean,
    private readonly deliver: (datagram: Buffer) => void,
  ) {
    this.random = mulberry32(seed);
  }

  handle(datagram: Buffer): void {
    const im = this.impairment;
    const c = this.counters;
    c.impaired++;
    const arrival = this.arrivals++;
    // Both loss models draw on every datagram, so enabling one does not shift the other's random sequence.
    const randomLoss = this.random() * 100 < (im.lossPercent ?? 0);
    if (im.burst) {
      const flip = this.random() * 100;
      this.bad = this.bad ? flip >= im.burst.exitPercent : flip < im.burst.enterPercent;
    }
    const burstLoss = this.bad && this.random() * 100 < (im.burst?.lossPercent ?? 100);
    if (burstLoss) return void c.lostBurst++;
    if (randomLoss) return void c.lostRandom++;
    const copies = this.random() * 100 < (im.duplicatePercent ?? 0) ? 2 : 1;
    if (copies === 2) c.duplicated++;
    for (let i = 0; i < copies; i++) this.schedule(datagram, arrival);
  }

  private schedule(datagram: Buffer, arrival: number): void {
    const im = this.impairment;
    const now = performance.now();
    let departAt = now;
    if (im.rateKbps) {
      const queuedBytes = (Math.max(0, this.linkFreeAt - now) * im.rateKbps) / 8;
      if (queuedBytes + datagram.length > (im.queueBytes ?? 64_000)) return void this.counters.lostQueue++;
      departAt = Math.max(now, this.linkFreeAt) + (datagram.length * 8) / im.rateKbps;
      this.linkFreeAt = departAt;
    }
    let delay = (im.delayMs ?? 0) + this.jitter();
    if (this.random() * 100 < (im.reorderPercent ?? 0)) delay += im.reorderHoldMs ?? 20;
    delay = Math.max(0, delay);
    if (this.keepDelays) this.counters.delaysMs.push(delay);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (arrival < this.highestSentArrival) this.counters.reordered++;
      else this.highestSentArrival = arrival;
      this.counters.sent++;
      this.deliver(datagram);
    }, departAt - now + delay);
    this.timers.add(timer);
  }

  private jitter(): number {
    const j = this.impairment.jitterMs ?? 0;
    if (j <= 0) return 0;
    if (this.impairment.jitterDistribution === 'normal') {
      // Box-Muller; clamped so the delay stays bounded.
      const u = 1 - this.random();
      const v = this.random();
      const n = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      return Math.max(-j, Math.min(j, (n * j) / 2));
    }
    return (this.random() * 2 - 1) * j;
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

export class ImpairmentRelay {
  upstreamPort?: number;
  clientPort?: number;
  private readonly up: Direction;
  private readonly down: Direction;
  private readonly isImpaired: (datagram: Buffer) => boolean;
  private readonly tap?: RelayOptions['tap'];
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    opts: RelayOptions,
  ) {
    this.upstreamPort = opts.upstreamPort;
    this.clientPort = opts.clientPort;
    this.isImpaired = opts.isImpaired ?? isRtpOrRtcp;
    this.tap = opts.tap;
    const keep = opts.keepDelays ?? true;
    this.up = new Direction(opts.toUpstream ?? {}, opts.seed, keep, (d) => this.send(d, this.upstreamPort));
    this.down = new Direction(opts.toClient ?? {}, opts.seed ^ 0x5bd1e995, keep, (d) => this.send(d, this.clientPort));
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
  }

  static async start(opts: RelayOptions): Promise<ImpairmentRelay> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, LOOPBACK, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // Room for a keyframe burst while the event loop is busy elsewhere (capped by net.core.rmem_max).
    socket.setRecvBufferSize(4 << 20);
    socket.setSendBufferSize(4 << 20);
    return new ImpairmentRelay(socket, opts);
  }

  /** The relay's port on 127.0.0.1: what both ends are told to send to. */
  get port(): number {
    return this.socket.address().port;
  }

  setUpstream(port: number): void {
    this.upstreamPort = port;
  }

  /** What each direction did. */
  get counters(): { toUpstream: RelayCounters; toClient: RelayCounters } {
    return { toUpstream: this.up.counters, toClient: this.down.counters };
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed || rinfo.address !== LOOPBACK) return;
    // Until the upstream is known, its datagrams cannot be told from the client's: drop (ICE retransmits its checks).
    if (this.upstreamPort === undefined) return;
    const fromUpstream = rinfo.port === this.upstreamPort;
    if (!fromUpstream) {
      this.clientPort ??= rinfo.port;
      if (rinfo.port !== this.clientPort) return; // a stranger: not part of this path
    }
    const dir = fromUpstream ? this.down : this.up;
    this.tap?.(msg, fromUpstream ? 'toClient' : 'toUpstream');
    dir.counters.received++;
    if (this.isImpaired(msg)) return dir.handle(msg);
    dir.counters.passed++;
    dir.counters.sent++;
    this.send(msg, fromUpstream ? this.clientPort : this.upstreamPort);
  }

  /** Loopback only: the relay never sends anywhere else. */
  private send(datagram: Buffer, port: number | undefined): void {
    if (this.closed || port === undefined) return;
    this.socket.send(datagram, port, LOOPBACK);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up.close();
    this.down.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
