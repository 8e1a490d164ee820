/**
 * The SFU forwarding benchmark (issue #16): `rtc-record serve` alone in its process, werift publishers and subscribers
 * in a load generator process (no browsers). N publishers × M subscribers at 720p30 1.5 Mbit/s + Opus; per load step:
 * the server's cores over a steady window, packets forwarded per second (server counter and subscribers' count),
 * packets per second per core, forwarding delay (inside the SFU, sampled; and end to end, publisher send → subscriber
 * receive, one process and clock), loss. Then the same 4 × 4 room recorded through the in-process tap and by a
 * recorder peer (`rtc-record --room … --server …`): the recording's cost either way.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DELAY_BUCKETS_MS, histogramQuantile } from '../src/sfu/ForwardMeter.js';
import { CliProcess } from './cliProcess.js';
import type { ParticipantMediaSpec } from './fixtures.js';
import { SfuLoadGenerator } from './loadgen/sfuClient.js';
import type { SchedulerStats } from './loadgen/protocol.js';
import type { SfuWindowStats } from './loadgen/sfuProtocol.js';
import { sfuFloor, type SfuFloorResult } from './measure/sfuFloor.js';
import { cores, readSystemCpu, readUdpCounters, TreeSampler, type Sample } from './measure/procTree.js';
import type { Row, Verdict } from './report.js';

export interface SfuStep {
  name: string;
  publishers: number;
  subscribers: number;
  /** The room is also recorded (tracks only): in the server's process through the tap, or by a recorder peer. */
  recording?: 'tap' | 'peer';
}

/**
 * 4 × 4 first (the recording comparison's base, measured right before it), then heavier. Subscribers publish nothing,
 * so each gets every publisher: N × M × (~140 video + 50 audio) packets a second.
 */
export const SFU_STEPS: SfuStep[] = [
  { name: '4×4', publishers: 4, subscribers: 4 },
  { name: '4×4 + rec tap', publishers: 4, subscribers: 4, recording: 'tap' },
  { name: '4×4 + rec peer', publishers: 4, subscribers: 4, recording: 'peer' },
  { name: '4×8', publishers: 4, subscribers: 8 },
  { name: '6×10', publishers: 6, subscribers: 10 },
];
export const SFU_PUBLISHERS_MAX = Math.max(...SFU_STEPS.map((s) => s.publishers));

export const SFU_GOALS = {
  /** LiveKit (Go) ~56,000 outbound packets/s per vCPU at 85 % in its 150 × 150 video benchmark. */
  packetsPerCore: 30_000,
  /** Inside the SFU, loopback. */
  delayP99Ms: 10,
  lost: 0,
  /** The recording through the tap costs at most what it costs as a WebRTC peer. */
  tapVsPeer: 1,
} as const;

/**
 * The load generator runs below the server (nice +10, relative to the bench's own): its publisher thread and subscriber
 * threads outnumber the server's one main thread, and at 6×10 the machine is near full; at equal priority the server
 * lost its turn often enough that its receive queues held the publishers' packets for up to 1.6 s. The generator's own
 * lateness is reported (scheduler, event-loop lag) so a starved generator shows.
 */
export const GENERATOR_NICE = 10;

/** The server exactly as shipped (its --io-batch-ms default included), recording tracks only. */
// Every voice forwarded (no live mix, whatever the room size): this bench measures forwarding.
export const SFU_SERVE_FLAGS = ['--no-composite', '--room-audio', 'forward'];

export interface SfuStepResult {
  step: SfuStep;
  error?: string;
  windowSec: number;
  serveCores: number;
  /** Peer mode: the recorder's process tree. */
  recorderCores?: number;
  generatorCores: number;
  machineBusyCores: number;
  /** Packets the server sent to subscribers per second (its counter; includes the recorder peer). */
  forwardedPerSec: number;
  /** Packets the synthetic subscribers received per second (distinct, sent inside the window). */
  receivedPerSec: number;
  packetsPerCore: number;
  /** Inside the SFU (its sampled histogram, over the window). */
  sfuDelay: { samples: number; p50Ms?: number; p99Ms?: number };
  /**
   * The server's event-loop lag over the window (prom-client's monitor, 10 ms resolution): how long a packet that
   * arrives waits in its socket before the server reads it, which the SFU's own histogram cannot see.
   */
  serverLoopLag: Scrape['loopLag'];
  /** Packet in → packet out, p99, estimated: server loop lag p99 + the SFU's p99 (an upper bound of the sum's p99). */
  delayP99EstimateMs: number;
  load: SfuWindowStats;
  /** The recording's packets received per second in the window (from its manifest). */
  recordingPacketsPerSec?: number;
  /** The kernel dropped datagrams (a receiver's socket buffer was full). */
  udpDrops: number;
  noisy?: string;
}

export interface SfuResult {
  steps: SfuStepResult[];
  serveArgs: string[];
  /** The floor per subscriber count, run before and after the steps (its figures: the mean of both). */
  floor: Record<number, SfuFloorResult & { runs: number[] }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** prom-client's default event-loop monitor resolution (collectDefaultMetrics' eventLoopMonitoringPrecision). */
const PROM_LAG_RESOLUTION_MS = 10;

interface Scrape {
  forwarded: number;
  /** The server's event-loop lag since the previous scrape (prom-client's default metrics reset it on each scrape), ms. */
  loopLag: { p50Ms: number; p99Ms: number; maxMs: number };
  /** Cumulative count per bucket bound (`le`), +Inf last. */
  buckets: number[];
}

async function scrape(httpUrl: string): Promise<Scrape> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const forwarded = Number(/^rtc_record_sfu_packets_forwarded_total (\S+)$/m.exec(text)?.[1] ?? NaN);
  const buckets = [...DELAY_BUCKETS_MS.map((ms) => String(ms / 1000)), '+Inf'].map((le) => Number(new RegExp(`^rtc_record_sfu_forward_delay_seconds_bucket\\{le="${le.replace('+', '\\+')}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN));
  // Node's monitor records the interval between its timer's ticks: minus prom-client's 10 ms resolution, the lag.
  const lag = (q: string) => Math.max(0, 1000 * Number(new RegExp(`^rtc_record_nodejs_eventloop_lag_${q}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) - PROM_LAG_RESOLUTION_MS);
  return { forwarded, buckets, loopLag: { p50Ms: lag('p50'), p99Ms: lag('p99'), maxMs: lag('max') } };
}

/** Window delay figures from two scrapes of the cumulative histogram. */
function windowDelay(a: Scrape, b: Scrape): SfuStepResult['sfuDelay'] {
  const cum = b.buckets.map((v, i) => v - a.buckets[i]!);
  const counts = cum.map((v, i) => (i === 0 ? v : v - cum[i - 1]!));
  const samples = cum[cum.length - 1]!;
  return { samples, p50Ms: histogramQuantile(0.5, DELAY_BUCKETS_MS, counts), p99Ms: histogramQuantile(0.99, DELAY_BUCKETS_MS, counts) };
}

/** Packets the recording received so far, as of its manifest's last write (the file's mtime; rewritten every ~2 s). */
function manifestPackets(path: string): { packets: number; atMs: number } | undefined {
  try {
    const atMs = statSync(path).mtimeMs;
    const m = JSON.parse(readFileSync(path, 'utf8')) as { tracks: { packetsReceived: number }[] };
    return { packets: m.tracks.reduce((a, t) => a + t.packetsReceived, 0), atMs };
  } catch {
    return undefined;
  }
}

async function api(httpUrl: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${httpUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export interface SfuOptions {
  media: ParticipantMediaSpec[];
  warmupSec: number;
  seconds: number;
  workDir: string;
  log: (msg: string) => void;
  onProcess?: (kill: () => void) => void;
  steps?: SfuStep[];
}

/** `rtc-record serve` as the SFU benches run it (alone in its process, on loopback), writing into `<workDir>/recordings`. */
export interface Serve {
  args: string[];
  pid: number;
  httpUrl: string;
  wsUrl: string;
  out: string;
}

/**
 * Runs `fn` against a fresh `rtc-record serve <flags>` (plus BENCH_SFU_SERVE_FLAGS, e.g. "--io-batch-ms 0", for
 * exploring), then stops it (SIGTERM, so BENCH_CPU_PROF_DIR's profile is written) and keeps its output in
 * `<workDir>/<logName>`.
 */
export async function withServe<T>(
  flags: string[],
  opts: { workDir: string; logName: string; lifetimeMs: number; onProcess?: (kill: () => void) => void },
  fn: (serve: Serve) => Promise<T>,
): Promise<T> {
  const out = join(opts.workDir, 'recordings');
  mkdirSync(out, { recursive: true });
  const extra = process.env.BENCH_SFU_SERVE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--out', out, ...flags, ...extra];
  const serve = new CliProcess(args, opts.lifetimeMs);
  opts.onProcess?.(() => serve.kill('SIGKILL'));
  try {
    const { match } = await serve.waitForLine(/listening on (http:\/\/[\d.]+:\d+)/, 20_000);
    const httpUrl = match[1]!;
    return await fn({ args, pid: serve.pid, httpUrl, wsUrl: httpUrl.replace(/^http/, 'ws'), out });
  } finally {
    serve.kill('SIGTERM');
    const kill = setTimeout(() => serve.kill('SIGKILL'), 10_000);
    await serve.exited;
    clearTimeout(kill);
    // The server's own output, for diagnosis (kept with --keep; BENCH_NODE_FLAGS=--trace-gc lands here too).
    const text = (lines: { atMs: number; text: string }[]) => lines.map((l) => `${new Date(l.atMs).toISOString()} ${l.text}`).join('\n');
    writeFileSync(join(opts.workDir, opts.logName), `$ rtc-record ${args.join(' ')}\n--- stdout\n${text(serve.stdout)}\n--- stderr\n${text(serve.stderr)}\n`);
  }
}

/** One measured window's CPU: the server, the load generator (and a recorder peer), the whole machine. */
export interface CpuWindow {
  windowSec: number;
  serveCores: number;
  recorderCores?: number;
  generatorCores: number;
  machineBusyCores: number;
  /** The kernel dropped datagrams (a receiver's socket buffer was full). */
  udpDrops: number;
}

/** Starts a window over these process trees; the returned function ends it. */
export function cpuWindow(trees: { serve: TreeSampler; generator: TreeSampler; recorder?: TreeSampler }): () => CpuWindow {
  const s0 = trees.serve.sampleNow();
  const r0 = trees.recorder?.sampleNow();
  const g0 = trees.generator.sampleNow();
  const sys0 = readSystemCpu();
  const udp0 = readUdpCounters();
  return () => {
    const s1 = trees.serve.sampleNow();
    const r1 = trees.recorder?.sampleNow();
    const g1 = trees.generator.sampleNow();
    const sys1 = readSystemCpu();
    const udp1 = readUdpCounters();
    if (!s0 || !s1) throw new Error(`rtc-record serve exited during the window`);
    const c = (a?: Sample, b?: Sample) => (a && b ? cores(a, b) : NaN);
    const windowSec = (sys1.atMs - sys0.atMs) / 1000;
    return {
      windowSec,
      serveCores: c(s0, s1),
      recorderCores: trees.recorder ? c(r0, r1) : undefined,
      generatorCores: c(g0, g1),
      machineBusyCores: (sys1.busySec - sys0.busySec) / windowSec,
      udpDrops: (udp1.RcvbufErrors ?? 0) - (udp0.RcvbufErrors ?? 0),
    };
  };
}

/** Why a window's real-time figures (loss, delay) are not trustworthy, if they are not: other work, a full machine, a starved generator. */
export function windowNoise(w: CpuWindow, scheduler: SchedulerStats): string | undefined {
  const noise: string[] = [];
  const otherCores = w.machineBusyCores - w.serveCores - w.generatorCores - (w.recorderCores ?? 0);
  if (otherCores > 0.25) noise.push(`other work used ${otherCores.toFixed(2)} cores`);
  if (w.machineBusyCores > 1.85) noise.push(`the machine was saturated (${w.machineBusyCores.toFixed(2)} of 2 cores busy)`);
  if (scheduler.skipped > 0) noise.push(`the load generator was starved and dropped ${scheduler.skipped} frames/packets`);
  return noise.length ? noise.join('; ') : undefined;
}

export async function runSfuForwarding(opts: SfuOptions): Promise<SfuResult> {
  // BENCH_SFU_STEPS=4x4,tap,peer,6x10: only these steps (exploring, profiling).
  const only = process.env.BENCH_SFU_STEPS?.split(',').map((x) => x.trim()).filter(Boolean);
  const key = (st: SfuStep) => (st.recording ?? st.name.replace('×', 'x'));
  const steps = opts.steps ?? (only?.length ? SFU_STEPS.filter((st) => only.includes(key(st))) : SFU_STEPS);
  let serveArgs: string[] = [];
  const results: SfuStepResult[] = [];
  const floor: SfuResult['floor'] = {};
  const floorRun = async (which: string) => {
    for (const m of [...new Set(steps.map((st) => st.subscribers))]) {
      try {
        const f = await sfuFloor(m);
        const prev = floor[m];
        const runs = [...(prev?.runs ?? []), f.usPerPacket];
        const us = runs.reduce((a, b) => a + b, 0) / runs.length;
        floor[m] = { ...f, usPerPacket: us, packetsPerCore: 1e6 / us, plainUsPerPacket: prev ? (prev.plainUsPerPacket + f.plainUsPerPacket) / 2 : f.plainUsPerPacket, runs };
        opts.log(`sfu floor (${which}), ${m} subscribers: ${f.usPerPacket.toFixed(2)} µs CPU per forwarded packet (${f.packetsPerCore.toFixed(0)} per core); without SRTP ${f.plainUsPerPacket.toFixed(2)} µs`);
      } catch (err) {
        opts.log(`sfu floor failed: ${(err as Error).message}`);
      }
    }
  };
  await floorRun('before');
  const lifetimeMs = (steps.length * (opts.seconds + opts.warmupSec + 120) + 60) * 1000;
  await withServe(SFU_SERVE_FLAGS, { workDir: opts.workDir, logName: 'serve.log', lifetimeMs, onProcess: opts.onProcess }, async (serve) => {
    serveArgs = serve.args;
    for (const [i, step] of steps.entries()) {
      opts.log(`sfu ${step.name}: ${step.publishers} publishers × ${step.subscribers} subscribers${step.recording ? `, recorded (${step.recording})` : ''}…`);
      const r = await runSfuStep(step, `sfu-${i + 1}`, { ...opts, serve });
      results.push(r);
      if (!r.error) opts.log(`sfu ${step.name}: ${describeSfuStep(r)}`);
    }
  });
  await floorRun('after');
  return { steps: results, serveArgs, floor };
}

/** A step's figures as one log line. */
export function describeSfuStep(r: SfuStepResult): string {
  return (
    `server ${r.serveCores.toFixed(3)} cores${r.recorderCores !== undefined ? ` + recorder ${r.recorderCores.toFixed(3)}` : ''}, ${r.forwardedPerSec.toFixed(0)} pkt/s forwarded → ${r.packetsPerCore.toFixed(0)} pkt/s per core; ` +
    `delay in SFU p50 ${r.sfuDelay.p50Ms?.toFixed(2) ?? '?'} p99 ${r.sfuDelay.p99Ms?.toFixed(2) ?? '?'} ms, server loop lag p99 ${r.serverLoopLag.p99Ms.toFixed(1)} max ${r.serverLoopLag.maxMs.toFixed(1)} ms, end to end p50 ${r.load.endToEnd.p50Ms.toFixed(1)} p99 ${r.load.endToEnd.p99Ms.toFixed(1)} max ${r.load.endToEnd.maxMs.toFixed(1)} ms (subscriber threads' loop lag p99 ${r.load.generatorLoopDelay.p99Ms.toFixed(1)} ms, publishers' send lateness p99 ${r.load.scheduler.lateP99Ms} ms); ` +
    `lost ${r.load.lost} of ${r.load.expected} (unmatched ${r.load.unmatched}); generator ${r.generatorCores.toFixed(2)} cores, machine ${r.machineBusyCores.toFixed(2)} busy, udp drops ${r.udpDrops}` +
    `${r.recordingPacketsPerSec !== undefined ? `, recording got ${r.recordingPacketsPerSec.toFixed(0)} pkt/s` : ''}${r.noisy ? `; NOISY: ${r.noisy}` : ''}`
  );
}

/** One step against a running server; a failure is logged and returned as the step's `error`, never thrown. */
export async function runSfuStep(step: SfuStep, room: string, ctx: SfuOptions & { serve: Serve }): Promise<SfuStepResult> {
  try {
    return await runStep(step, room, ctx);
  } catch (err) {
    ctx.log(`sfu ${step.name} failed: ${(err as Error).message}`);
    return { step, error: (err as Error).message } as SfuStepResult;
  }
}

async function runStep(step: SfuStep, room: string, ctx: SfuOptions & { serve: Serve }): Promise<SfuStepResult> {
  const { httpUrl, wsUrl, out } = ctx.serve;
  const lifetimeMs = (ctx.seconds + ctx.warmupSec + 120) * 1000;
  const serveSampler = new TreeSampler(ctx.serve.pid, 1000);
  let recorder: CliProcess | undefined;
  let recSampler: TreeSampler | undefined;
  let recordingId: string | undefined;
  const gen = new SfuLoadGenerator({
    serverUrl: wsUrl,
    room,
    publishers: ctx.media.slice(0, step.publishers).map((m) => ({ name: m.name, videoPath: m.video?.path, audioPath: m.audio?.path })),
    subscribers: step.subscribers,
    joinIntervalMs: 150,
    connectTimeoutMs: 60_000,
    maxLifetimeMs: lifetimeMs,
    nice: GENERATOR_NICE,
  });
  ctx.onProcess?.(() => void gen.close());
  const genSampler = new TreeSampler(gen.pid, 1000);
  try {
    await gen.wait('published', 60_000);
    let recordingManifest: (() => ReturnType<typeof manifestPackets>) | undefined;
    if (step.recording === 'tap') {
      const rec = await api(httpUrl, '/api/recordings', { room, composite: false });
      recordingId = String(rec.id);
      recordingManifest = () => manifestPackets(join(out, room, recordingId!, 'manifest.json'));
    } else if (step.recording === 'peer') {
      recorder = new CliProcess(['--room', room, '--server', wsUrl, '--out', out, '--ice-address', '127.0.0.1', '--no-composite'], lifetimeMs);
      ctx.onProcess?.(() => recorder?.kill('SIGKILL'));
      const { match } = await recorder.waitForLine(/^recording room \S+ into (.+)$/, 30_000);
      const dir = match[1]!;
      recordingManifest = () => manifestPackets(join(dir, 'manifest.json'));
      recSampler = new TreeSampler(recorder.pid, 1000);
    }
    await gen.wait('flowing', 90_000);
    await sleep(ctx.warmupSec * 1000);

    const end = cpuWindow({ serve: serveSampler, generator: genSampler, recorder: recSampler });
    const m0 = await scrape(httpUrl);
    const rec0 = recordingManifest?.();
    gen.mark();
    await sleep(ctx.seconds * 1000);
    const w = end();
    const m1 = await scrape(httpUrl);
    const rec1 = recordingManifest?.();
    const { stats: load } = await gen.stopMedia();
    const forwardedPerSec = (m1.forwarded - m0.forwarded) / w.windowSec;
    const recordingPacketsPerSec = rec0 && rec1 && rec1.atMs > rec0.atMs ? (rec1.packets - rec0.packets) / ((rec1.atMs - rec0.atMs) / 1000) : undefined;
    return {
      step,
      ...w,
      forwardedPerSec,
      receivedPerSec: load.received / load.windowSec,
      packetsPerCore: forwardedPerSec / w.serveCores,
      sfuDelay: windowDelay(m0, m1),
      serverLoopLag: m1.loopLag,
      delayP99EstimateMs: m1.loopLag.p99Ms + (windowDelay(m0, m1).p99Ms ?? NaN),
      load,
      recordingPacketsPerSec,
      noisy: windowNoise(w, load.scheduler),
    };
  } finally {
    await gen.close();
    if (recordingId) await api(httpUrl, `/api/recordings/${recordingId}/stop`, {}).catch((err: Error) => ctx.log(`sfu: stopping the tap recording: ${err.message}`));
    if (recorder?.running) {
      recorder.kill('SIGINT');
      const kill = setTimeout(() => recorder!.kill('SIGKILL'), 20_000);
      await recorder.exited;
      clearTimeout(kill);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Rows

const fmt = (v: number | undefined, digits = 0) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

/** The table rows of the SFU part; `pass` false when a goal is missed. */
export function sfuRows(result: SfuResult): Row[] {
  const rows: Row[] = [];
  const row = (scenario: string, metric: string, ours: string, goal: string, result: Verdict, values: Row['values'], floor = '—', ratio = '—'): Row => ({ scenario, metric, ours, floor, ratio, goal, result, values });
  const verdict = (ok: boolean, r: SfuStepResult, realTime: boolean): Verdict => (ok ? 'pass' : realTime && r.noisy ? 'FAIL (noisy run)' : 'FAIL');
  for (const r of result.steps) {
    const name = `sfu ${r.step.name}`;
    if (r.error) {
      rows.push(row(name, 'forwarding', `error: ${r.error}`, '', 'FAIL', {}));
      continue;
    }
    const plain = !r.step.recording;
    if (plain) {
      const f = result.floor[r.step.subscribers];
      const ratio = f ? r.packetsPerCore / f.packetsPerCore : undefined;
      rows.push(row(name, 'forwarded packets/s per server core', fmt(r.packetsPerCore), `≥ ${SFU_GOALS.packetsPerCore.toLocaleString('en')}`, verdict(r.packetsPerCore >= SFU_GOALS.packetsPerCore, r, false), { ours: r.packetsPerCore, floor: f?.packetsPerCore, ratio }, fmt(f?.packetsPerCore), ratio === undefined ? '—' : `${ratio.toFixed(2)}×`));
      rows.push(row(name, 'server cores per 1,000 forwarded packets/s', fmt((1000 * r.serveCores) / r.forwardedPerSec, 3), '', 'info', { ours: (1000 * r.serveCores) / r.forwardedPerSec, floor: f ? f.usPerPacket / 1000 : undefined }, f ? (f.usPerPacket / 1000).toFixed(3) : '—'));
      if (f) rows.push(row(name, 'floor: µs CPU per forwarded packet, with SRTP / without', `${f.usPerPacket.toFixed(2)} / ${f.plainUsPerPacket.toFixed(2)}`, '', 'info', { ours: f.usPerPacket, floor: f.plainUsPerPacket }));
      rows.push(row(name, 'delay packet in → out p99 (ms): server loop lag p99 + SFU p99', fmt(r.delayP99EstimateMs, 1), `≤ ${SFU_GOALS.delayP99Ms} ms`, verdict(r.delayP99EstimateMs <= SFU_GOALS.delayP99Ms, r, true), { ours: r.delayP99EstimateMs }));
      rows.push(row(name, 'forwarding delay in the SFU p50 / p99 (ms), from hand-over', `${fmt(r.sfuDelay.p50Ms, 2)} / ${fmt(r.sfuDelay.p99Ms, 2)}`, '', 'info', { ours: r.sfuDelay.p99Ms }));
      rows.push(row(name, "server's event-loop lag p50 / p99 / max (ms)", `${fmt(r.serverLoopLag.p50Ms, 1)} / ${fmt(r.serverLoopLag.p99Ms, 1)} / ${fmt(r.serverLoopLag.maxMs, 1)}`, '', 'info', { ours: r.serverLoopLag.p99Ms }));
      rows.push(row(name, 'end to end p50 / p99 / max (ms), publisher → subscriber', `${fmt(r.load.endToEnd.p50Ms, 1)} / ${fmt(r.load.endToEnd.p99Ms, 1)} / ${fmt(r.load.endToEnd.maxMs, 1)}`, '', 'info', { ours: r.load.endToEnd.p99Ms }));
      rows.push(row(name, "load generator's event-loop lag p50 / p99 (ms)", `${fmt(r.load.generatorLoopDelay.p50Ms, 1)} / ${fmt(r.load.generatorLoopDelay.p99Ms, 1)}`, '', 'info', { ours: r.load.generatorLoopDelay.p99Ms }));
      rows.push(row(name, 'packets lost (subscribers)', `${r.load.lost} of ${r.load.expected}`, '0', verdict(r.load.lost <= SFU_GOALS.lost, r, true), { ours: r.load.lost }));
    }
    rows.push(row(name, 'server CPU (cores)', fmt(r.serveCores, 3), '', 'info', { ours: r.serveCores }));
    rows.push(row(name, 'forwarded packets/s (server / subscribers)', `${fmt(r.forwardedPerSec)} / ${fmt(r.receivedPerSec)}`, '', 'info', { ours: r.forwardedPerSec }));
    if (r.recorderCores !== undefined) rows.push(row(name, 'recorder peer CPU (cores)', fmt(r.recorderCores, 3), '', 'info', { ours: r.recorderCores }));
    if (r.recordingPacketsPerSec !== undefined) rows.push(row(name, 'recording received packets/s', fmt(r.recordingPacketsPerSec), '', 'info', { ours: r.recordingPacketsPerSec }));
    rows.push(row(name, 'load generator CPU (cores)', fmt(r.generatorCores, 2), '', 'info', { ours: r.generatorCores }));
    rows.push(row(name, 'whole machine busy (cores of 2)', fmt(r.machineBusyCores, 2), '', 'info', { ours: r.machineBusyCores }));
  }
  // The recording's cost: tap = server with the tap − server alone; peer = server forwarding to the recorder too −
  // server alone + the recorder's process. The verdict compares the totals (same base), which noise affects less.
  const base = result.steps.find((r) => !r.error && r.step.publishers === 4 && r.step.subscribers === 4 && !r.step.recording);
  const tap = result.steps.find((r) => !r.error && r.step.recording === 'tap');
  const peer = result.steps.find((r) => !r.error && r.step.recording === 'peer');
  if (tap && peer) {
    const tapTotal = tap.serveCores;
    const peerTotal = peer.serveCores + (peer.recorderCores ?? NaN);
    const ratio = tapTotal / peerTotal;
    rows.push(row('sfu recording', 'CPU with the recording: tap (server) vs peer (server + recorder)', fmt(tapTotal, 3), `ratio ≤ ${SFU_GOALS.tapVsPeer}`, ratio <= SFU_GOALS.tapVsPeer ? 'pass' : 'FAIL', { ours: tapTotal, floor: peerTotal, ratio }, fmt(peerTotal, 3), `${ratio.toFixed(2)}×`));
    if (base) {
      const tapCost = tap.serveCores - base.serveCores;
      const peerCost = peer.serveCores - base.serveCores + (peer.recorderCores ?? NaN);
      rows.push(row('sfu recording', "the recording's own cost: tap vs peer (cores, minus the 4×4 server alone)", fmt(tapCost, 3), '', 'info', { ours: tapCost, floor: peerCost, ratio: tapCost / peerCost }, fmt(peerCost, 3), `${(tapCost / peerCost).toFixed(2)}×`));
    }
  } else {
    rows.push(row('sfu recording', 'tap vs peer', 'not measured (a step failed)', `ratio ≤ ${SFU_GOALS.tapVsPeer}`, 'FAIL', {}));
  }
  return rows;
}
