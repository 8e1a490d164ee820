/**
 * The MCU audio benchmark (`--only mcu`): an SFU room whose voices the server mixes live (`serve --room-audio mcu`:
 * the 3 loudest, one track back to every participant). `rtc-record serve` alone in its process, werift peers in a
 * load generator process (the SFU bench's, with `listen: 'mix'`), no browsers:
 *
 * - cost: one room, MCU_TALKERS talkers (Opus only, a distinct tone and level each) and listeners that publish nothing,
 *   stepped up (MCU_LISTENER_STEPS) in the same room; the server's cores per step, the slope per extra listener. Every
 *   listener must receive the mix at ~50 packets/s, and its last second must decode and not be silence, or the step's
 *   CPU figure does not count.
 * - reference: the same talkers and as many listeners as the first step in a forwarding room (`--room-audio forward`, its
 *   own server process): what sending every voice to every listener costs.
 * - latency: one talker sending silence then a tone burst, once a second; the first tone packet's send time against
 *   the arrival of the first mix packet whose decoded level jumps, both in the load generator (one clock).
 */
import { MIX_40MS_FROM_LISTENERS } from '../src/sfu/RoomMix.js';
import type { ParticipantMediaSpec } from './fixtures.js';
import { SfuLoadGenerator } from './loadgen/sfuClient.js';
import type { MixWindowStats, SfuGeneratorConfig } from './loadgen/sfuProtocol.js';
import { TreeSampler } from './measure/procTree.js';
import type { Row, Verdict } from './report.js';
import { cpuWindow, describeSfuStep, GENERATOR_NICE, runSfuStep, SFU_SERVE_FLAGS, windowNoise, withServe, type CpuWindow, type Serve, type SfuStepResult } from './sfuForwarding.js';

export const MCU_TALKERS = 10;
/** Listeners in the room at each step, added to the same room (BENCH_MCU_LISTENERS=10,30,50 overrides). */
export const MCU_LISTENER_STEPS = [10, 30, 50];
/** Tone bursts in the latency window (one a second). */
export const MCU_LATENCY_BURSTS = 12;
/** The latency talker's clip: a tone after silence, once a second (the clip loops). */
export const MCU_BURST_TONE = { freqHz: 440, amplitude: 0.5, onMs: 300, offMs: 700, seconds: MCU_LATENCY_BURSTS };
/** Per step, unless --warmup / --seconds say otherwise: audio has no keyframes to wait for, V8 has the most to warm. */
export const MCU_WARMUP_SEC = 8;
export const MCU_SECONDS = 10;

export const MCU_GOALS = {
  /** Server cores with MCU_TALKERS talkers and the largest listener step (50). */
  coresAtMax: 0.15,
  /** Server cores each further listener adds (slope of a fit over the steps). */
  coresPerListener: 0.002,
  /** Talker → listener through the server, p95 (werift peers: no browser jitter buffer or playout in it). */
  latencyP95Ms: 150,
  /** Bursts that must be heard for the latency figure to count. */
  latencyBursts: 10,
  /** Each listener gets 1000 ms of mix a second (50 packets of 20 ms, or 25 of 40); below this it does not count as receiving. */
  mixMsPerSec: 900,
  /** Of a listener's last 50 packets decoded afresh (none may fail): ms of audio they must give, and a level above silence. */
  sampleMs: 900,
  sampleLevelDb: -50,
} as const;

/** Listeners per load-generator thread: each gets only 50 small packets a second, so 10 share an event loop. */
const LISTENERS_PER_THREAD = 10;

export interface McuDelivery {
  /** Every listener got ≥ mixMsPerSec of mix a second, its sample decoded, was not silence, and no forwarded voice. */
  ok: boolean;
  receiving: number;
  expected: number;
  /** Ms of mix a second, the least and the most any listener got. */
  minMsPerSec: number;
  maxMsPerSec: number;
  /** Packets a second, the least and the most (50: 20 ms packets, 25: 40 ms). */
  minPerSec: number;
  maxPerSec: number;
  /** Quietest listener's sample level (dBFS). */
  minLevelDb: number;
  note: string;
}

export interface McuStepResult extends Partial<CpuWindow> {
  listeners: number;
  error?: string;
  mix?: MixWindowStats;
  delivery?: McuDelivery;
  noisy?: string;
}

export interface McuLatency {
  error?: string;
  /** Bursts sent in the window, onsets the listener detected, and those matched with a burst (the delays). */
  sent: number;
  detected: number;
  delaysMs: number[];
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  mix?: MixWindowStats;
}

export interface McuResult {
  talkers: number;
  steps: McuStepResult[];
  /** Least-squares fit of server cores over listeners (steps without error), and each step-to-step slope. */
  slope?: { coresPerListener: number; interceptCores: number; between: { from: number; to: number; coresPerListener: number }[] };
  latency?: McuLatency;
  /** The same with 40 ms mix packets (`--mix-packet-ms 40`, what rooms of MIX_40MS_FROM_LISTENERS listeners or more get). */
  latency40?: McuLatency;
  forward?: SfuStepResult;
  serveArgs: { mcu?: string[]; mcu40?: string[]; forward?: string[] };
  errors: string[];
}

export interface McuOptions {
  talkers: ParticipantMediaSpec[];
  /** The latency talker (tone bursts after silence). */
  burst: ParticipantMediaSpec;
  warmupSec: number;
  seconds: number;
  workDir: string;
  log: (msg: string) => void;
  onProcess?: (kill: () => void) => void;
  listenerSteps?: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** BENCH_MCU_LISTENERS=10,30,50 (increasing: listeners are added to the same room). */
export function mcuListenerSteps(): number[] {
  const env = process.env.BENCH_MCU_LISTENERS?.split(',').map((x) => Number(x.trim())).filter((n) => Number.isInteger(n) && n > 0);
  if (!env?.length) return MCU_LISTENER_STEPS;
  return [...new Set(env)].sort((a, b) => a - b);
}

/** Seconds the MCU part takes, roughly (the run's budget). */
export function mcuBudgetSec(warmupSec: number, seconds: number, steps = mcuListenerSteps()): number {
  // Cost steps, the latency runs (20 and 40 ms packets), the forwarding reference.
  return 3 * 60 + steps.length * (warmupSec + seconds + 30) + 2 * (MCU_LATENCY_BURSTS + 30) + warmupSec + seconds + 60;
}

export async function runMcuAudio(opts: McuOptions): Promise<McuResult> {
  const listenerSteps = opts.listenerSteps ?? mcuListenerSteps();
  const result: McuResult = { talkers: opts.talkers.length, steps: [], serveArgs: {}, errors: [] };
  const fail = (what: string, err: unknown) => {
    const message = `${what}: ${(err as Error).message}`;
    result.errors.push(message);
    opts.log(`mcu ${message}`);
  };
  const lifetimeMs = mcuBudgetSec(opts.warmupSec, opts.seconds, listenerSteps) * 1000;
  try {
    await withServe(['--no-composite', '--room-audio', 'mcu'], { workDir: opts.workDir, logName: 'serve-mcu.log', lifetimeMs, onProcess: opts.onProcess }, async (serve) => {
      result.serveArgs.mcu = serve.args;
      await costSteps(serve, listenerSteps, opts, result).catch((err: unknown) => fail('cost', err));
      result.latency = await latency(serve, opts).catch((err: unknown) => {
        fail('latency', err);
        return { error: (err as Error).message, sent: 0, detected: 0, delaysMs: [], p50Ms: NaN, p95Ms: NaN, maxMs: NaN };
      });
    });
  } catch (err) {
    fail('serve --room-audio mcu', err);
  }
  try {
    await withServe(['--no-composite', '--room-audio', 'mcu', '--mix-packet-ms', '40'], { workDir: opts.workDir, logName: 'serve-mcu40.log', lifetimeMs: (MCU_LATENCY_BURSTS + 180) * 1000, onProcess: opts.onProcess }, async (serve) => {
      result.serveArgs.mcu40 = serve.args;
      result.latency40 = await latency(serve, opts, '40 ms packets').catch((err: unknown) => {
        fail('latency with 40 ms packets', err);
        return { error: (err as Error).message, sent: 0, detected: 0, delaysMs: [], p50Ms: NaN, p95Ms: NaN, maxMs: NaN };
      });
    });
  } catch (err) {
    fail('serve --mix-packet-ms 40', err);
  }
  result.slope = fitSlope(result.steps);
  if (result.slope) opts.log(`mcu: ${(result.slope.coresPerListener * 1000).toFixed(2)} millicores per extra listener (fit); between steps ${result.slope.between.map((b) => `${b.from}→${b.to} ${(b.coresPerListener * 1000).toFixed(2)}`).join(', ')}`);

  try {
    await withServe(SFU_SERVE_FLAGS, { workDir: opts.workDir, logName: 'serve-forward.log', lifetimeMs: (opts.warmupSec + opts.seconds + 180) * 1000, onProcess: opts.onProcess }, async (serve) => {
      result.serveArgs.forward = serve.args;
      // As many listeners as the first step: the mix's cost beside forwarding's at the same size (10 × 10 = 100 voices).
      const step = { name: `${opts.talkers.length}×${listenerSteps[0]} forwarded`, publishers: opts.talkers.length, subscribers: listenerSteps[0]! };
      opts.log(`mcu reference: the same ${step.publishers} talkers and ${step.subscribers} listeners, every voice forwarded (--room-audio forward)…`);
      const r = await runSfuStep(step, 'mcu-forward', { media: opts.talkers, warmupSec: opts.warmupSec, seconds: opts.seconds, workDir: opts.workDir, log: opts.log, onProcess: opts.onProcess, serve });
      result.forward = r;
      if (!r.error) opts.log(`mcu reference ${step.name}: ${describeSfuStep(r)}`);
    });
  } catch (err) {
    fail('serve --room-audio forward', err);
  }
  return result;
}

/** Talkers publish Opus only, no video. */
function talkersConfig(serve: Serve, room: string, talkers: ParticipantMediaSpec[], rest: Partial<SfuGeneratorConfig> & { subscribers: number; maxLifetimeMs: number }): SfuGeneratorConfig {
  return {
    serverUrl: serve.wsUrl,
    room,
    publishers: talkers.map((t) => ({ name: t.name, audioPath: t.audio?.path })),
    joinIntervalMs: 150,
    connectTimeoutMs: 90_000,
    nice: GENERATOR_NICE,
    listen: 'mix',
    subscribersPerThread: LISTENERS_PER_THREAD,
    ...rest,
  };
}

async function costSteps(serve: Serve, listenerSteps: number[], opts: McuOptions, result: McuResult): Promise<void> {
  const serveSampler = new TreeSampler(serve.pid, 1000);
  const gen = new SfuLoadGenerator(talkersConfig(serve, 'mcu', opts.talkers, { subscribers: listenerSteps[0]!, maxLifetimeMs: mcuBudgetSec(opts.warmupSec, opts.seconds, listenerSteps) * 1000 }));
  opts.onProcess?.(() => void gen.close());
  const genSampler = new TreeSampler(gen.pid, 1000);
  try {
    opts.log(`mcu: ${opts.talkers.length} talkers join, then ${listenerSteps[0]} listeners…`);
    await gen.wait('published', 60_000);
    await gen.wait('flowing', 90_000);
    let listeners = listenerSteps[0]!;
    for (const step of listenerSteps) {
      try {
        if (step > listeners) {
          opts.log(`mcu: ${step - listeners} more listeners join (${step} in all)…`);
          await gen.addSubscribers(step - listeners, 90_000);
          listeners = step;
        }
        await sleep(opts.warmupSec * 1000);
        const end = cpuWindow({ serve: serveSampler, generator: genSampler });
        gen.mark();
        await sleep(opts.seconds * 1000);
        const w = end();
        const mix = await gen.mixWindow();
        const r: McuStepResult = { listeners: step, ...w, mix, delivery: delivery(step, mix), noisy: windowNoise(w, mix.scheduler) };
        result.steps.push(r);
        opts.log(
          `mcu ${opts.talkers.length} talkers × ${step} listeners: server ${w.serveCores.toFixed(3)} cores; ${r.delivery!.note}; generator ${w.generatorCores.toFixed(2)} cores (threads' loop lag p99 ${mix.generatorLoopDelay.p99Ms.toFixed(1)} ms, talkers' send lateness p99 ${mix.scheduler.lateP99Ms} ms), machine ${w.machineBusyCores.toFixed(2)} busy, udp drops ${w.udpDrops}${r.noisy ? `; NOISY: ${r.noisy}` : ''}`,
        );
      } catch (err) {
        result.steps.push({ listeners: step, error: (err as Error).message });
        opts.log(`mcu ${step} listeners failed: ${(err as Error).message}`);
        break; // the room is in an unknown state: the larger steps would not measure what they say
      }
    }
  } finally {
    await gen.close();
  }
}

/** Whether every one of `expected` listeners received the mix, decodable and not silent. */
export function delivery(expected: number, mix: MixWindowStats): McuDelivery {
  const g = MCU_GOALS;
  const good = mix.listeners.filter((l) => l.msPerSec >= g.mixMsPerSec && l.sample.failed === 0 && l.sample.ms >= g.sampleMs && l.sample.levelDb > g.sampleLevelDb && l.unexpected === 0);
  const perSec = mix.listeners.map((l) => l.perSec);
  const msPerSec = mix.listeners.map((l) => l.msPerSec);
  const minMsPerSec = msPerSec.length ? Math.min(...msPerSec) : 0;
  const maxMsPerSec = msPerSec.length ? Math.max(...msPerSec) : 0;
  const levels = mix.listeners.map((l) => l.sample.levelDb);
  const minPerSec = perSec.length ? Math.min(...perSec) : 0;
  const maxPerSec = perSec.length ? Math.max(...perSec) : 0;
  const minLevelDb = levels.length ? Math.min(...levels) : -Infinity;
  const gaps = mix.listeners.reduce((a, l) => a + l.gaps, 0);
  const unexpected = mix.listeners.reduce((a, l) => a + l.unexpected, 0);
  const failed = mix.listeners.reduce((a, l) => a + l.sample.failed, 0);
  const sampleMs = mix.listeners.map((l) => l.sample.ms);
  const note =
    `${good.length}/${expected} listeners receive the mix: ${minMsPerSec.toFixed(0)}–${maxMsPerSec.toFixed(0)} ms a second in ${minPerSec.toFixed(1)}–${maxPerSec.toFixed(1)} packets/s, last 50 packets decoded to ${sampleMs.length ? Math.min(...sampleMs) : 0}–${sampleMs.length ? Math.max(...sampleMs) : 0} ms` +
    `${failed ? ` (${failed} failed)` : ''}, level ${Number.isFinite(minLevelDb) ? minLevelDb.toFixed(1) : '−∞'}…${levels.length ? Math.max(...levels).toFixed(1) : '−∞'} dBFS` +
    `${gaps ? `, ${gaps} mix packets missing` : ''}${unexpected ? `, ${unexpected} packets of forwarded voices` : ''}${mix.listeners.length !== expected ? `, ${mix.listeners.length} listeners reported` : ''}`;
  return { ok: mix.listeners.length === expected && good.length === expected, receiving: good.length, expected, minMsPerSec, maxMsPerSec, minPerSec, maxPerSec, minLevelDb, note };
}

/** Least squares of server cores over listener counts. */
function fitSlope(steps: McuStepResult[]): McuResult['slope'] {
  const ok = steps.filter((s) => !s.error && s.serveCores !== undefined);
  if (ok.length < 2) return undefined;
  const n = ok.length;
  const mx = ok.reduce((a, s) => a + s.listeners, 0) / n;
  const my = ok.reduce((a, s) => a + s.serveCores!, 0) / n;
  const sxy = ok.reduce((a, s) => a + (s.listeners - mx) * (s.serveCores! - my), 0);
  const sxx = ok.reduce((a, s) => a + (s.listeners - mx) ** 2, 0);
  const coresPerListener = sxy / sxx;
  const between = ok.slice(1).map((s, i) => ({ from: ok[i]!.listeners, to: s.listeners, coresPerListener: (s.serveCores! - ok[i]!.serveCores!) / (s.listeners - ok[i]!.listeners) }));
  return { coresPerListener, interceptCores: my - coresPerListener * mx, between };
}

/** Nearest-rank quantile of sorted values. */
function quantile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]! : NaN;
}

async function latency(serve: Serve, opts: McuOptions, label = '20 ms packets'): Promise<McuLatency> {
  const periodMs = MCU_BURST_TONE.onMs + MCU_BURST_TONE.offMs;
  const gen = new SfuLoadGenerator(talkersConfig(serve, 'mcu-latency', [opts.burst], { subscribers: 1, subscribersPerThread: 1, onsets: true, maxLifetimeMs: MCU_LATENCY_BURSTS * periodMs + 180_000 }));
  opts.onProcess?.(() => void gen.close());
  try {
    opts.log(`mcu latency (${label}): one talker (silence, then a ${MCU_BURST_TONE.freqHz} Hz burst every ${periodMs} ms) and one listener decoding the mix, ${MCU_LATENCY_BURSTS} bursts…`);
    await gen.wait('published', 60_000);
    await gen.wait('flowing', 90_000);
    await sleep(2000);
    gen.mark();
    await sleep(MCU_LATENCY_BURSTS * periodMs + periodMs / 2);
    const mix = await gen.mixWindow();
    const o = mix.onsets ?? { sent: 0, detected: 0, delaysMs: [], unmatched: 0 };
    const sorted = [...o.delaysMs].sort((a, b) => a - b);
    const r: McuLatency = { sent: o.sent, detected: o.detected, delaysMs: o.delaysMs, p50Ms: quantile(sorted, 0.5), p95Ms: quantile(sorted, 0.95), maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN, mix };
    opts.log(`mcu latency (${label}): ${sorted.length} of ${o.sent} bursts heard (${o.detected} onsets detected, ${o.unmatched} unmatched): p50 ${r.p50Ms.toFixed(1)} p95 ${r.p95Ms.toFixed(1)} max ${r.maxMs.toFixed(1)} ms; listener ${mix.listeners[0]?.perSec.toFixed(1) ?? '?'} packets/s`);
    return r;
  } finally {
    await gen.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Rows

const fmt = (v: number | undefined, digits = 0) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

/** The table rows of the MCU part. */
export function mcuRows(result: McuResult): Row[] {
  const rows: Row[] = [];
  const g = MCU_GOALS;
  const row = (scenario: string, metric: string, ours: string, goal: string, verdict: Verdict, values: Row['values'], floor = '—', ratio = '—'): Row => ({ scenario, metric, ours, floor, ratio, goal, result: verdict, values });
  const T = result.talkers;
  for (const s of result.steps) {
    const name = `mcu ${T}×${s.listeners}`;
    if (s.error || !s.delivery) {
      rows.push(row(name, 'talkers × listeners', `error: ${s.error ?? 'no figures'}`, '', 'FAIL', {}));
      continue;
    }
    rows.push(row(name, 'server CPU (cores)', fmt(s.serveCores, 3), '', 'info', { ours: s.serveCores }));
    rows.push(row(name, `listeners receiving the mix (≥ ${g.mixMsPerSec} ms a second, last 50 packets decode, not silent)`, `${s.delivery.receiving}/${s.delivery.expected} (${fmt(s.delivery.minMsPerSec)}–${fmt(s.delivery.maxMsPerSec)} ms/s in ${fmt(s.delivery.minPerSec, 1)}–${fmt(s.delivery.maxPerSec, 1)} packets/s, ≥ ${fmt(s.delivery.minLevelDb, 1)} dBFS)`, 'all', s.delivery.ok ? 'pass' : 'FAIL', { ours: s.delivery.receiving, floor: s.delivery.expected }));
    rows.push(row(name, 'load generator / whole machine busy (cores)', `${fmt(s.generatorCores, 2)} / ${fmt(s.machineBusyCores, 2)}`, '', 'info', { ours: s.generatorCores, floor: s.machineBusyCores }));
  }
  const measured = result.steps.filter((s) => !s.error && s.delivery);
  const delivered = measured.every((s) => s.delivery!.ok);
  // A CPU figure over listeners that got nothing is cheap, not good: it fails as "load not delivered".
  const cpuVerdict = (ok: boolean, load: boolean): Verdict => (!load ? 'FAIL (load not delivered)' : ok ? 'pass' : 'FAIL');
  const top = measured[measured.length - 1];
  const maxStep = Math.max(...mcuListenerSteps());
  if (top && top.listeners === maxStep) {
    rows.push(row('mcu', `server CPU, ${T} talkers × ${top.listeners} listeners (cores)`, fmt(top.serveCores, 3), `≤ ${g.coresAtMax}`, cpuVerdict(top.serveCores! <= g.coresAtMax, top.delivery!.ok), { ours: top.serveCores }));
  } else {
    rows.push(row('mcu', `server CPU, ${T} talkers × ${maxStep} listeners (cores)`, 'not measured (a step failed)', `≤ ${g.coresAtMax}`, 'FAIL', {}));
  }
  if (result.slope && measured.length === result.steps.length) {
    const s = result.slope;
    rows.push(row('mcu', `server CPU per extra listener (cores; fit over ${measured.map((x) => x.listeners).join(', ')}; between steps ${s.between.map((b) => fmt(b.coresPerListener, 4)).join(', ')})`, fmt(s.coresPerListener, 4), `≤ ${g.coresPerListener}`, cpuVerdict(s.coresPerListener <= g.coresPerListener, delivered), { ours: s.coresPerListener }));
  } else {
    rows.push(row('mcu', 'server CPU per extra listener (cores)', 'not measured (a step failed)', `≤ ${g.coresPerListener}`, 'FAIL', {}));
  }

  const f = result.forward;
  const fname = `mcu ref ${T}×${f?.step.subscribers ?? '?'} forwarded`;
  if (!f || f.error) {
    rows.push(row(fname, 'every voice forwarded', `error: ${f?.error ?? 'not run'}`, '', 'FAIL', {}));
  } else {
    const same = measured.find((s) => s.listeners === f.step.subscribers);
    const lostShare = f.load.expected ? f.load.lost / f.load.expected : 1;
    const ratio = same ? f.serveCores / same.serveCores! : undefined;
    rows.push(row(fname, `server CPU, ${T * f.step.subscribers} voices forwarded (cores) vs the mix to as many listeners`, fmt(f.serveCores, 3), '', lostShare > 0.01 ? 'FAIL (load not delivered)' : 'info', { ours: f.serveCores, floor: same?.serveCores, ratio }, fmt(same?.serveCores, 3), ratio === undefined ? '—' : `${ratio.toFixed(1)}×`));
    rows.push(row(fname, 'forwarded packets/s (server / listeners); packets lost', `${fmt(f.forwardedPerSec)} / ${fmt(f.receivedPerSec)}; ${f.load.lost} of ${f.load.expected}`, '', 'info', { ours: f.forwardedPerSec }));
  }

  for (const [name, l] of [['mcu latency', result.latency], ['mcu latency 40 ms', result.latency40]] as const) {
    if (!l || l.error) {
      rows.push(row(name, 'talker → listener through the server', `error: ${l?.error ?? 'not run'}`, `p95 ≤ ${g.latencyP95Ms} ms`, 'FAIL', {}));
      continue;
    }
    const heard = l.delaysMs.length;
    const verdict: Verdict = heard < g.latencyBursts ? 'FAIL (load not delivered)' : l.p95Ms <= g.latencyP95Ms ? 'pass' : 'FAIL';
    const packets = name === 'mcu latency' ? `20 ms packets, rooms under ${MIX_40MS_FROM_LISTENERS} listeners` : `40 ms packets, rooms of ${MIX_40MS_FROM_LISTENERS} listeners or more`;
    rows.push(row(name, `talker → listener through the server p50 / p95 (ms; ${packets}): first tone packet sent → first mix packet with the onset received (werift peers, no browser buffers)`, `${fmt(l.p50Ms, 1)} / ${fmt(l.p95Ms, 1)}`, `p95 ≤ ${g.latencyP95Ms} ms`, verdict, { ours: l.p95Ms, floor: l.p50Ms }));
    rows.push(row(name, 'tone bursts heard / sent', `${heard} / ${l.sent}`, `≥ ${g.latencyBursts}`, heard >= g.latencyBursts ? 'pass' : 'FAIL', { ours: heard, floor: l.sent }));
  }
  for (const e of result.errors) if (!rows.some((r) => r.ours.includes(e))) rows.push(row('mcu', 'error', e, '', 'FAIL', {}));
  return rows;
}
