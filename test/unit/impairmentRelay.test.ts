// The harness's UDP impairment relay with real sockets on loopback: loss ratio, burst lengths, delay distribution,
// reordering, duplicates, rate limit, untouched STUN/DTLS, both directions, and the same decisions for the same seed.
import { createSocket, type Socket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ImpairmentRelay, mulberry32, type RelayOptions } from '../harness/impairmentRelay.js';
import { loopbackCandidatePort, withCandidatePort } from '../harness/relayPath.js';
import { SentRtpGaps } from '../harness/sentRtpGaps.js';

interface Arrival {
  seq: number;
  atMs: number;
  firstByte: number;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function udp(onMessage?: (msg: Buffer) => void): Promise<Socket & { port: number }> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  if (onMessage) s.on('message', onMessage);
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return Object.assign(s, { port: s.address().port });
}

/** Client → relay → upstream; returns what the upstream got (seq in bytes 2-5, send time in 6-13). */
async function run(opts: Omit<RelayOptions, 'upstreamPort'>, count: number, opt: { firstByte?: number; size?: number; spacingMs?: number } = {}) {
  const arrivals: Arrival[] = [];
  const upstream = await udp((msg) => arrivals.push({ seq: msg.readUInt32BE(2), atMs: performance.now() - msg.readDoubleBE(6), firstByte: msg[0]! }));
  const relay = await ImpairmentRelay.start({ ...opts, upstreamPort: upstream.port });
  cleanups.push(() => relay.close());
  const client = await udp();
  for (let i = 0; i < count; i++) {
    const msg = Buffer.alloc(opt.size ?? 100);
    msg[0] = opt.firstByte ?? 0x80;
    msg.writeUInt32BE(i, 2);
    msg.writeDoubleBE(performance.now(), 6);
    client.send(msg, relay.port, '127.0.0.1');
    // Paced, so neither socket buffer overflows (a kernel drop would read as relay loss).
    if (opt.spacingMs) await sleep(opt.spacingMs);
    else if (i % 10 === 9) await sleep(1);
  }
  await sleep(300 + (opts.toUpstream?.delayMs ?? 0) + (opts.toUpstream?.jitterMs ?? 0) + (opts.toUpstream?.reorderHoldMs ?? 0));
  return { arrivals, relay, counters: relay.counters.toUpstream };
}

describe('impairment relay', () => {
  it('mulberry32 is deterministic and uniform', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThan(0.51);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });

  it('drops the configured share at random, and the same datagrams for the same seed', async () => {
    const first = await run({ seed: 7, toUpstream: { lossPercent: 10 } }, 3000);
    const lost = first.counters.lostRandom;
    expect(first.arrivals.length + lost).toBe(3000);
    expect(lost / 3000).toBeGreaterThan(0.085);
    expect(lost / 3000).toBeLessThan(0.115);
    const again = await run({ seed: 7, toUpstream: { lossPercent: 10 } }, 3000);
    const seqs = (r: Arrival[]) => r.map((a) => a.seq).sort((x, y) => x - y);
    expect(seqs(again.arrivals)).toEqual(seqs(first.arrivals));
    const other = await run({ seed: 8, toUpstream: { lossPercent: 10 } }, 3000);
    expect(seqs(other.arrivals)).not.toEqual(seqs(first.arrivals));
  });

  it('loses in bursts with the Gilbert-Elliott model', async () => {
    const { arrivals, counters } = await run({ seed: 3, toUpstream: { burst: { enterPercent: 2, exitPercent: 25 } } }, 4000);
    const got = new Set(arrivals.map((a) => a.seq));
    const runs: number[] = [];
    let len = 0;
    for (let i = 0; i < 4000; i++) {
      if (!got.has(i)) len++;
      else if (len > 0) runs.push(len), (len = 0);
    }
    const meanRun = runs.reduce((s, x) => s + x, 0) / runs.length;
    expect(counters.lostBurst).toBe(4000 - arrivals.length);
    // Mean burst 1 / 0.25 = 4 datagrams; the stationary loss 2 / (2 + 25) ≈ 7.4 %.
    expect(meanRun).toBeGreaterThan(3);
    expect(meanRun).toBeLessThan(5.5);
    expect(counters.lostBurst / 4000).toBeGreaterThan(0.04);
    expect(counters.lostBurst / 4000).toBeLessThan(0.11);
  });

  it('delays within the bounds, spread as configured, and reorders through jitter', async () => {
    const { arrivals, counters } = await run({ seed: 5, toUpstream: { delayMs: 30, jitterMs: 20 } }, 400, { spacingMs: 1 });
    expect(arrivals).toHaveLength(400);
    const d = counters.delaysMs;
    expect(Math.min(...d)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...d)).toBeLessThanOrEqual(50);
    const mean = d.reduce((s, x) => s + x, 0) / d.length;
    expect(mean).toBeGreaterThan(28);
    expect(mean).toBeLessThan(32);
    // Uniform: about a quarter in each quarter of the range.
    expect(d.filter((x) => x < 20).length / d.length).toBeGreaterThan(0.18);
    // Measured one-way delay (sender's clock = ours): never earlier than scheduled.
    const measured = arrivals.map((a) => a.atMs).sort((x, y) => x - y);
    expect(measured[0]!).toBeGreaterThanOrEqual(8.5); // node timers may fire up to ~1 ms early
    // Late by timer granularity only, on a machine not starved of CPU (loose: the suite shares 2 cores).
    expect(measured[Math.floor(measured.length / 2)]!).toBeLessThan(90);
    // Packets 1 ms apart with ±20 ms jitter: plenty overtake each other; the relay counts what the receiver sees.
    let inversions = 0;
    let highest = -1;
    for (const a of arrivals) {
      if (a.seq < highest) inversions++;
      else highest = a.seq;
    }
    expect(inversions).toBeGreaterThan(40);
    expect(counters.reordered).toBe(inversions);
  });

  it('normal jitter stays bounded and concentrates around the delay', async () => {
    const { counters } = await run({ seed: 11, toUpstream: { delayMs: 40, jitterMs: 20, jitterDistribution: 'normal' } }, 1000);
    const d = counters.delaysMs;
    expect(Math.min(...d)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...d)).toBeLessThanOrEqual(60);
    // σ = 10 ms: ~68 % within ±10 ms.
    const within = d.filter((x) => Math.abs(x - 40) <= 10).length / d.length;
    expect(within).toBeGreaterThan(0.6);
    expect(within).toBeLessThan(0.76);
  });

  it('holds back a share of datagrams (explicit reordering) and duplicates a share, counting both', async () => {
    const { arrivals, counters } = await run({ seed: 9, toUpstream: { reorderPercent: 10, reorderHoldMs: 15, duplicatePercent: 5 } }, 1000, { spacingMs: 0 });
    expect(arrivals.length).toBe(1000 + counters.duplicated);
    expect(counters.duplicated).toBeGreaterThan(25);
    expect(counters.duplicated).toBeLessThan(80);
    const seen = new Map<number, number>();
    for (const a of arrivals) seen.set(a.seq, (seen.get(a.seq) ?? 0) + 1);
    expect([...seen.values()].filter((n) => n === 2).length).toBe(counters.duplicated);
    expect(counters.reordered).toBeGreaterThan(20);
  });

  it('limits the rate with a bounded queue', async () => {
    // 40 × 1000 B at once into 400 kbit/s with a 10 kB queue: ~10 fit, each 20 ms after the previous.
    const { arrivals, counters } = await run({ seed: 1, toUpstream: { rateKbps: 400, queueBytes: 10_000 } }, 40, { size: 1000, spacingMs: 0 });
    expect(arrivals.length).toBeGreaterThanOrEqual(9);
    expect(arrivals.length).toBeLessThanOrEqual(11);
    expect(counters.lostQueue).toBe(40 - arrivals.length);
    const delays = arrivals.map((a) => a.atMs).sort((x, y) => x - y);
    expect(delays.at(-1)! - delays[0]!).toBeGreaterThan(150);
  });

  it('passes STUN/DTLS untouched and impairs both directions independently', async () => {
    const stun = await run({ seed: 2, toUpstream: { lossPercent: 100 } }, 50, { firstByte: 0 });
    expect(stun.arrivals).toHaveLength(50);
    expect(stun.counters.passed).toBe(50);
    expect(stun.counters.lostRandom).toBe(0);

    // The upstream answers every datagram; the answers are lost on the way back.
    const answers: number[] = [];
    const client = await udp((msg) => answers.push(msg.readUInt32BE(2)));
    const upstream = await udp();
    upstream.on('message', (msg, rinfo) => upstream.send(msg, rinfo.port, rinfo.address));
    const relay = await ImpairmentRelay.start({ seed: 2, upstreamPort: upstream.port, toClient: { lossPercent: 50 } });
    cleanups.push(() => relay.close());
    for (let i = 0; i < 400; i++) {
      const msg = Buffer.alloc(20);
      msg[0] = 0x80;
      msg.writeUInt32BE(i, 2);
      client.send(msg, relay.port, '127.0.0.1');
      if (i % 10 === 9) await sleep(1);
    }
    await sleep(200);
    const { toUpstream, toClient } = relay.counters;
    expect(toUpstream.sent).toBe(400);
    expect(toClient.received).toBe(400);
    expect(answers.length).toBe(400 - toClient.lostRandom);
    expect(toClient.lostRandom / 400).toBeGreaterThan(0.4);
    expect(toClient.lostRandom / 400).toBeLessThan(0.6);
  });
});

describe('relay path helpers', () => {
  it('finds and replaces the one loopback candidate port of an SDP', () => {
    const sdp = ['v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=candidate:1 1 udp 2130706431 127.0.0.1 40123 typ host', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=candidate:1 1 udp 2130706431 127.0.0.1 40123 typ host generation 0', ''].join('\r\n');
    expect(loopbackCandidatePort(sdp)).toBe(40123);
    const out = withCandidatePort(sdp, 5555);
    expect(loopbackCandidatePort(out)).toBe(5555);
    expect(out).toContain('127.0.0.1 5555 typ host generation 0');
    expect(() => loopbackCandidatePort(sdp.replace(/40123 typ host generation/, '40124 typ host generation'))).toThrow(/one loopback/);
  });

  it('reads the gaps a sender left in its own RTP timestamps', () => {
    const gaps = new SentRtpGaps();
    const rtp = (seq: number, ts: number, ssrc = 7) => {
      const b = Buffer.alloc(20);
      b[0] = 0x80;
      b[1] = 111;
      b.writeUInt16BE(seq & 0xffff, 2);
      b.writeUInt32BE(ts >>> 0, 4);
      b.writeUInt32BE(ssrc, 8);
      return b;
    };
    // 20 ms packets across the sequence-number and timestamp wraps, one skip of 5 packets (120 ms).
    for (let i = 0; i < 10; i++) gaps.tap(rtp(65530 + i, 0xffffff00 + i * 960), 'toUpstream');
    gaps.tap(rtp(65540, 0xffffff00 + 15 * 960), 'toUpstream');
    gaps.tap(rtp(1, 5, 8), 'toClient'); // the other direction is not the sender's
    expect(gaps.longestMs(7, 48_000)).toBeCloseTo(120, 5);
    expect(gaps.longestMs(8, 48_000)).toBe(0);
  });
});
