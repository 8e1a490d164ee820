/**
 * One scenario against the real recorder: `rtc-record --room …` as its own process, a load generator process with N
 * synthetic participants, the recorder's process tree sampled every second, then SIGINT and a wait for the final output.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../src/recording/ManifestTypes.js';
import type { ParticipantMediaSpec } from './fixtures.js';
import { LoadGenerator } from './loadgen/client.js';
import type { ParticipantStats, SchedulerStats } from './loadgen/protocol.js';
import { mixContinuity, type MixContinuity } from './measure/continuity.js';
import { compositeFreezes, type TileFreezes } from './measure/freezes.js';
import type { LayerSwitchJudgement } from './measure/layerSwitches.js';
import { mp4Status, probe, type ProbeInfo } from './measure/output.js';
import { cores, coresByComm, median, readSystemCpu, readCpuPressureUs, readUdpCounters, snapshotAll, snapshotTree, topConsumers, TreeSampler, type Sample } from './measure/procTree.js';
import { CliProcess } from './cliProcess.js';
import type { OutputKind } from './scenarios.js';

export interface TrackPackets {
  participant: string;
  kind: 'audio' | 'video';
  ssrc: number;
  sent: number;
  received: number;
  lostReported: number;
  /** Sent but never counted as received. */
  missing: number;
  /**
   * Through an SFU: packets the publisher sent that the SFU never forwarded to the recorder, at the edges (before the
   * recorder's subscription to the track was negotiated, after it stopped); not loss, which the recorder's sequence
   * gaps (lostReported) count. The join → first packet time is issue 16's goal, measured by its tests.
   */
  notForwarded?: number;
  sentSpanSec: number;
  fileSec?: number;
  rtf?: number;
}

export interface OursResult {
  recorderArgs: string[];
  dir?: string;
  windowSec: number;
  cores: number;
  coresByComm: Record<string, number>;
  cpuTotalSec: number;
  peakRssMB: number;
  steadyRssMB: number;
  /** Proportional set size (shared libraries counted once across the tree). */
  steadyPssMB: number;
  /** For runs longer than ~2 minutes: median RSS of the last 30 s vs. median RSS at 60–90 s after media started. */
  rssAt1MinMB?: number;
  rssEndMB?: number;
  rssGrowthPct?: number;
  rssTimeline: { t: number; mb: number }[];
  /**
   * Per second (t = seconds since the participants started joining): recorder cores, load generator cores, whole-machine busy cores, UDP
   * datagrams the kernel dropped (receive buffers full) — shows when and why a run went wrong.
   */
  timeline: { t: number; rec: number; gen: number; busy: number; drops: number }[];
  rtf: number;
  rtfNote: string;
  lostPackets: number;
  packets: { sent: number; received: number; lostReported: number; missing: number; tracksExpected: number; tracksInManifest: number };
  tracks: TrackPackets[];
  stopToExitSec: number;
  stopToReadySec: number;
  output?: { file: string; probe?: ProbeInfo; bytes: number };
  /** Composite video: frozen stretches per grid tile, from the output (after the first seconds of joining). */
  freezes?: TileFreezes;
  /** Wall time of the composite output's t = 0 (manifest composite.startedAtMs, else the CLI's start line). */
  outputStartMs?: number;
  /** Wall times the recorder ran: its start line, and SIGINT. */
  recordingSpanMs?: { fromMs: number; toMs: number };
  /** Simulcast layer switches the SFU made for the recorder and the frozen tiles at them (set by run.ts). */
  layerSwitches?: LayerSwitchJudgement;
  /** Mixed audio: each voice's talking time missing from the mix while it was mixed (against what it sent). */
  continuity?: MixContinuity;
  manifestState?: string;
  exitCode: number | null;
  /** Packets the manifest counts as lost inside the steady window (from manifest.json on disk, refreshed every ~2 s). */
  windowLostReported?: number;
  /** Connection state changes per participant (seconds after the first media, state), when any left "connected". */
  connectionTrouble: { participant: string; states: string[] }[];
  generator: {
    cores: number;
    scheduler: { whole: SchedulerStats; window: SchedulerStats };
    framesSkipped: number;
    pliReceived: number;
    keyframeJumps: number;
    nackedPackets: number;
  };
  /** All processes on the machine during the window (2 cores = saturated): how noisy the measurement was. */
  machineBusyCores: number;
  /** CPU used by everything else on the machine during the window (cores): noise from other work. */
  otherCores: number;
  /** Share of the window during which some runnable task waited for a CPU (Linux PSI), %. */
  cpuPressurePct?: number;
  /** Noise that makes real-time figures (loss, real-time factor) unreliable for this run, if any. */
  noisy?: string;
  /** The busiest other processes on the machine during the window (shared machine: other engineers' tests). */
  otherLoad: { comm: string; cores: number }[];
  /** UDP counters of the bench's network namespace during the window (RcvbufErrors: kernel drops, receiver too slow). */
  udpWindow: Record<string, number>;
  /** Same over the whole run (until the recorder exited). */
  udpTotal: Record<string, number>;
  joinToFlowingSec: number;
  warnings: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface OursOptions {
  serverUrl: string;
  room: string;
  media: ParticipantMediaSpec[];
  flags: string[];
  output: OutputKind;
  warmupSec: number;
  seconds: number;
  outRoot: string;
  /** The room is an SFU room (the recorder gets the SFU's streams, not the participants'). */
  viaSfu?: boolean;
  /** The composite's layout (the recorder's --layout): where the frozen-tile check looks. */
  layout?: 'grid' | 'speaker';
  /** Called with the child processes as they start, so the runner can kill them on Ctrl-C. */
  onProcess?: (kill: () => void) => void;
}

/**
 * The final composite: `recording.mp4` / `recording.m4a` (the fragmented `recording.part.*` written while recording
 * already has an empty moov, so only the final name counts; it appears by rename once finalized).
 */
function findOutput(dir: string, output: OutputKind): string | undefined {
  if (output === 'tracks') return undefined;
  const final = join(dir, `recording.${output}`);
  return existsSync(final) ? final : undefined;
}

export async function runOurs(opts: OursOptions): Promise<OursResult> {
  const warnings: string[] = [];
  const { media, seconds, warmupSec } = opts;
  const recorderArgs = ['--room', opts.room, '--server', opts.serverUrl, '--out', opts.outRoot, '--ice-address', '127.0.0.1', ...opts.flags];
  const lifetimeMs = (seconds + warmupSec + 240) * 1000;
  mkdirSync(opts.outRoot, { recursive: true });
  const recorder = new CliProcess(recorderArgs, lifetimeMs);
  opts.onProcess?.(() => recorder.kill('SIGKILL'));
  const sampler = new TreeSampler(recorder.pid, 1000, true).start();
  const udpStart = readUdpCounters();
  let timelineTimer: NodeJS.Timeout | undefined;
  let generator: LoadGenerator | undefined;
  try {
    const { match, line: startLine } = await recorder.waitForLine(/^recording room \S+ into (.+)$/, 30_000);
    const dir = match[1]!;

    generator = LoadGenerator.forRoom(opts.serverUrl, opts.room, media, lifetimeMs);
    const gen = generator;
    opts.onProcess?.(() => void gen.close());
    const genSampler = new TreeSampler(generator.pid).start();
    const joinStart = Date.now();
    const timeline: OursResult['timeline'] = [];
    let prevTick = { sys: readSystemCpu(), udp: readUdpCounters(), rec: sampler.last, gen: genSampler.last };
    timelineTimer = setInterval(() => {
      const tick = { sys: readSystemCpu(), udp: readUdpCounters(), rec: sampler.sampleNow(), gen: genSampler.sampleNow() };
      const dt = (tick.sys.atMs - prevTick.sys.atMs) / 1000;
      const c = (a: Sample | undefined, b: Sample | undefined) => (a && b && b.atMs > a.atMs ? cores(a, b) : 0);
      const r2 = (v: number) => Math.round(v * 100) / 100;
      timeline.push({
        t: Math.round((tick.sys.atMs - joinStart) / 1000),
        rec: r2(c(prevTick.rec, tick.rec)),
        gen: r2(c(prevTick.gen, tick.gen)),
        busy: r2(dt > 0 ? (tick.sys.busySec - prevTick.sys.busySec) / dt : 0),
        drops: (tick.udp.RcvbufErrors ?? 0) - (prevTick.udp.RcvbufErrors ?? 0),
      });
      prevTick = tick;
    }, 1000);
    await generator.wait('joined', 60_000);
    const flowing = await generator.wait('flowing', 90_000);
    const joinToFlowingSec = (flowing.allFlowingAtMs - joinStart) / 1000;
    const expectedTracks = media.reduce((n, m) => n + (m.video ? 1 : 0) + (m.audio ? 1 : 0), 0);

    // Steady window: after every participant is flowing and a warm-up (keyframes requested, encoders started).
    await sleep(warmupSec * 1000);
    const sys0 = readSystemCpu();
    const all0 = snapshotAll();
    const udp0 = readUdpCounters();
    const psi0 = readCpuPressureUs();
    const w0 = sampler.sampleNow();
    const g0 = genSampler.sampleNow();
    generator.mark();
    const m0 = readManifest(dir);
    if (!w0) throw new Error(`the recorder exited during warm-up; ${recorder.outputTail()}`);
    for (let left = seconds * 1000; left > 0 && recorder.running; left -= 1000) await sleep(Math.min(1000, left));
    const w1 = sampler.sampleNow();
    const g1 = genSampler.sampleNow();
    const sys1 = readSystemCpu();
    const all1 = snapshotAll();
    const udp1 = readUdpCounters();
    const psi1 = readCpuPressureUs();
    const m1 = readManifest(dir);
    const ours = new Set<number>([process.pid, ...(w1 ? snapshotPids(recorder.pid) : []), ...snapshotPids(generator.pid)]);
    const otherLoad = topConsumers(all0, all1, (sys1.atMs - sys0.atMs) / 1000, ours);
    if (!w1) throw new Error(`the recorder exited during the measurement; ${recorder.outputTail()}`);
    const stopped = await generator.stopMedia();
    genSampler.stop();
    // Let the last packets through the recorder's jitter buffers (video waits up to 300 ms for retransmissions).
    await sleep(1000);

    // Stop → final output ready: SIGINT, then poll for a finalized MP4 (moov) and for the process to exit.
    const stopAt = Date.now();
    recorder.kill('SIGINT');
    let moovAt: number | undefined;
    let outFile: string | undefined;
    const exitTimeout = (opts.output === 'tracks' ? 60 : 120) * 1000;
    let exitInfo: { code: number | null; atMs: number } | undefined;
    void recorder.exited.then((e) => (exitInfo = e));
    while (!exitInfo && Date.now() - stopAt < exitTimeout) {
      outFile ??= findOutput(dir, opts.output);
      if (outFile && moovAt === undefined && mp4Status(outFile).moov) moovAt = Date.now();
      await sleep(20);
    }
    if (!exitInfo) {
      warnings.push(`recorder did not exit ${exitTimeout / 1000} s after SIGINT; killed`);
      recorder.kill('SIGKILL');
      exitInfo = await recorder.exited;
    }
    sampler.stop();
    clearInterval(timelineTimer);
    outFile ??= findOutput(dir, opts.output);
    if (outFile && moovAt === undefined && mp4Status(outFile).moov) moovAt = exitInfo.atMs;
    const stopToExitSec = (exitInfo.atMs - stopAt) / 1000;
    let stopToReadySec = stopToExitSec;
    if (opts.output !== 'tracks') stopToReadySec = moovAt === undefined ? NaN : (Math.max(moovAt, exitInfo.atMs) - stopAt) / 1000;

    // Packets: what the generator sent vs what the manifest says the recorder received / lost (matched by SSRC).
    const manifest = readManifest(dir);
    if (!manifest) warnings.push('no readable manifest.json');
    const tracks = await trackPackets(stopped.participants, manifest, dir, opts.output === 'tracks', opts.viaSfu);
    const sum = (f: (t: TrackPackets) => number) => tracks.reduce((a, t) => a + f(t), 0);
    const packets = {
      sent: sum((t) => t.sent),
      received: sum((t) => t.received),
      lostReported: sum((t) => t.lostReported),
      missing: sum((t) => t.missing),
      tracksExpected: expectedTracks,
      tracksInManifest: manifest?.tracks.length ?? 0,
    };
    const connectionTrouble: OursResult['connectionTrouble'] = [];
    for (const p of stopped.participants) {
      const states = p.states.map((st) => {
        const [at, state] = st.split(':');
        return `${((Number(at) - flowing.firstMediaAtMs) / 1000).toFixed(1)}s ${state}`;
      });
      if (p.states.some((st) => /:(failed|disconnected|closed)$/.test(st))) {
        connectionTrouble.push({ participant: p.name, states });
        warnings.push(`${p.name}: connection to the recorder broke while sending (${states.join(', ')})`);
      }
    }
    for (const p of stopped.participants) {
      const got = tracks.filter((t) => t.participant === p.name).reduce((a, t) => a + t.received, 0);
      if (got === 0) {
        warnings.push(
          `the recorder received nothing from ${p.name} although its connection came up (` +
            `${p.receiverReports} receiver reports from the recorder)`,
        );
      }
    }
    if (packets.tracksInManifest < expectedTracks) warnings.push(`only ${packets.tracksInManifest} of ${expectedTracks} tracks in the manifest`);

    // Real-time factor.
    let rtf = NaN;
    let rtfNote = '';
    let output: OursResult['output'];
    let freezes: TileFreezes | undefined;
    let continuity: MixContinuity | undefined;
    let outputStartMs: number | undefined;
    if (opts.output === 'tracks') {
      const rtfs = tracks.map((t) => t.rtf ?? 0);
      rtf = rtfs.length ? Math.min(...rtfs) : NaN;
      rtfNote = `min over ${rtfs.length} tracks of file duration / wall span the track was sent (mean ${(rtfs.reduce((a, b) => a + b, 0) / Math.max(1, rtfs.length)).toFixed(3)})`;
    } else if (outFile) {
      const info = await probe(outFile);
      output = { file: outFile, probe: info, bytes: mp4Status(outFile).bytes };
      // The composite's timeline starts when the recording starts (manifest composite.startedAtMs when the recorder
      // reports it, else the CLI's "recording room … into" line), not at the first participant's media.
      const reported = (manifest as { composite?: { startedAtMs?: unknown } } | undefined)?.composite?.startedAtMs;
      const startMs = typeof reported === 'number' && reported > 0 && reported < stopAt ? reported : startLine.atMs;
      outputStartMs = startMs;
      const wall = (stopAt - startMs) / 1000;
      rtf = info?.durationSec !== undefined ? info.durationSec / wall : NaN;
      rtfNote = `${info?.durationSec?.toFixed(2) ?? '?'} s in ${outFile.split('/').pop()} / ${wall.toFixed(2)} s from recording start (${typeof reported === 'number' ? 'manifest composite.startedAtMs' : 'CLI start line'}) to SIGINT`;
      if (opts.output === 'mp4') freezes = await compositeFreezes(outFile, info, opts.media.filter((m) => m.video).length, opts.layout);
      const m = manifest as Manifest | undefined;
      // The generator starts participant i's clip at packet 7 i (bench/loadgen/main.ts: startOffset × 7).
      const voices = opts.media.flatMap((media, i) => {
        const sent = stopped.participants.find((p) => p.name === media.name)?.streams.find((st) => st.kind === 'audio');
        const id = m?.participants.find((p) => p.name === media.name)?.id;
        if (!media.audio || sent?.firstSentAtMs === undefined || id === undefined) return [];
        return [{ media, startPacket: 7 * i, offsetMs: sent.firstSentAtMs - startMs, participantId: id, untilMs: (sent.lastSentAtMs ?? stopAt) - startMs - 100 }];
      });
      if (voices.length) continuity = await mixContinuity(outFile, voices, { speakerTimeline: m?.speakerTimeline ?? [] });
    } else {
      rtfNote = `no recording.${opts.output} in ${dir}`;
      warnings.push(rtfNote);
    }

    // Memory: peak over the whole life; steady = median over the window; growth for long runs.
    const windowSamples = sampler.between(w0.atMs, w1.atMs);
    const mb = (b: number) => b / 2 ** 20;
    const t0 = flowing.firstMediaAtMs;
    const rssTimeline = sampler.samples.filter((_, i) => i % 5 === 0).map((s) => ({ t: Math.round((s.atMs - t0) / 1000), mb: Math.round(mb(s.rssBytes)) }));
    let rssAt1MinMB: number | undefined;
    let rssEndMB: number | undefined;
    let rssGrowthPct: number | undefined;
    if (w1.atMs - t0 >= 150_000) {
      const at = (from: number, to: number) => median(sampler.between(t0 + from * 1000, t0 + to * 1000).map((s: Sample) => s.rssBytes));
      rssAt1MinMB = mb(at(60, 90));
      rssEndMB = mb(median(sampler.between(w1.atMs - 30_000, w1.atMs).map((s) => s.rssBytes)));
      rssGrowthPct = (100 * (rssEndMB - rssAt1MinMB)) / rssAt1MinMB;
    }

    const streams = stopped.participants.flatMap((p) => p.streams);
    const windowSec = (w1.atMs - w0.atMs) / 1000;
    const sw = stopped.scheduler.window;
    if (sw.skipped > 0 || sw.lateOver20ms > 0.005 * sw.sends) warnings.push(`load generator fell behind in the window: ${sw.lateOver20ms} of ${sw.sends} sends > 20 ms late (max ${sw.lateMaxMs} ms, ${sw.skipped} frames/packets dropped): the machine was overloaded`);
    const lostIn = (m: Manifest | undefined) => m?.tracks.reduce((a, t) => a + t.packetsLost, 0);
    const l0 = lostIn(m0);
    const l1 = lostIn(m1);
    const machineBusyCores = (sys1.busySec - sys0.busySec) / ((sys1.atMs - sys0.atMs) / 1000);
    const recorderCores = cores(w0, w1);
    const generatorCores = g0 && g1 ? cores(g0, g1) : 0;
    const otherCores = Math.max(0, machineBusyCores - recorderCores - generatorCores);
    const noise: string[] = [];
    if (otherCores > 0.25) noise.push(`other work used ${otherCores.toFixed(2)} of the 2 cores`);
    if (sw.skipped > 0) noise.push(`the load generator was starved and dropped ${sw.skipped} frames/packets`);
    return {
      recorderArgs,
      dir,
      windowSec,
      cores: recorderCores,
      coresByComm: coresByComm(w0, w1),
      cpuTotalSec: sampler.last?.cpuSec ?? NaN,
      peakRssMB: mb(sampler.peakRssBytes),
      steadyRssMB: mb(median(windowSamples.map((s) => s.rssBytes))),
      steadyPssMB: mb(median(windowSamples.map((s) => s.pssBytes ?? NaN))),
      rssAt1MinMB,
      rssEndMB,
      rssGrowthPct,
      rssTimeline,
      timeline,
      rtf,
      rtfNote,
      freezes,
      outputStartMs,
      recordingSpanMs: { fromMs: startLine.atMs, toMs: stopAt },
      continuity,
      // Per track the larger of the recorder's own count (sequence gaps) and what never arrived at all (a tail or a
      // whole track lost is no gap); adding them would count a gap twice.
      lostPackets: sum((t) => Math.max(t.lostReported, t.missing)),
      packets,
      windowLostReported: l0 !== undefined && l1 !== undefined ? l1 - l0 : undefined,
      tracks,
      stopToExitSec,
      stopToReadySec,
      output,
      manifestState: manifest?.state,
      exitCode: exitInfo.code,
      generator: {
        cores: g0 && g1 ? generatorCores : NaN,
        scheduler: stopped.scheduler,
        framesSkipped: streams.reduce((a, s) => a + s.framesSkipped, 0),
        pliReceived: streams.reduce((a, s) => a + s.pliReceived, 0),
        keyframeJumps: streams.reduce((a, s) => a + s.keyframeJumps, 0),
        nackedPackets: streams.reduce((a, s) => a + s.nackedPackets, 0),
      },
      machineBusyCores,
      otherCores,
      cpuPressurePct: psi0 !== undefined && psi1 !== undefined ? (100 * (psi1 - psi0)) / 1000 / (sys1.atMs - sys0.atMs) : undefined,
      noisy: noise.length ? noise.join('; ') : undefined,
      otherLoad,
      connectionTrouble,
      udpWindow: diffCounters(udp0, udp1),
      udpTotal: diffCounters(udpStart, readUdpCounters()),
      joinToFlowingSec,
      warnings,
    };
  } finally {
    sampler.stop();
    clearInterval(timelineTimer);
    await generator?.close();
    if (recorder.running) {
      recorder.kill('SIGKILL');
      await recorder.exited;
    }
    // The recorder's own output, for diagnosis (kept with --keep).
    const text = (lines: { atMs: number; text: string }[]) => lines.map((l) => `${new Date(l.atMs).toISOString()} ${l.text}`).join('\n');
    writeFileSync(join(opts.outRoot, '..', 'recorder.log'), `$ rtc-record ${recorderArgs.join(' ')}\n--- stdout\n${text(recorder.stdout)}\n--- stderr\n${text(recorder.stderr)}\n`);
  }
}

function diffCounters(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]));
}

function snapshotPids(root: number): number[] {
  return snapshotTree(root)?.members.map((m) => m.pid) ?? [];
}

function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

async function trackPackets(participants: ParticipantStats[], manifest: Manifest | undefined, dir: string, probeFiles: boolean, viaSfu = false): Promise<TrackPackets[]> {
  const out: TrackPackets[] = [];
  for (const p of participants) {
    for (const s of p.streams) {
      // Through an SFU the recorder sees the SFU's SSRCs: tracks are matched by participant and kind. Of a simulcast
      // video only one layer at a time reaches the recorder, so its packets cannot be matched against what was sent:
      // the manifest's own loss count (sequence gaps) stands alone, for the first layer's entry only.
      const firstOfKind = p.streams.find((x) => x.kind === s.kind) === s;
      if (viaSfu && !firstOfKind) continue;
      const entries = manifest?.tracks.filter((t) => (viaSfu ? t.participantName === p.name && t.kind === s.kind : t.ssrc === s.ssrc)) ?? [];
      const received = entries.reduce((a, t) => a + t.packetsReceived, 0);
      const unmatched = viaSfu && p.streams.filter((x) => x.kind === s.kind).length > 1;
      const lostReported = entries.reduce((a, e) => a + e.packetsLost, 0);
      const frameSec = s.kind === 'audio' ? 0.02 : s.framesSent > 0 ? s.mediaSeconds / s.framesSent : 0;
      const sentSpanSec = s.firstSentAtMs !== undefined && s.lastSentAtMs !== undefined ? (s.lastSentAtMs - s.firstSentAtMs) / 1000 + frameSec : 0;
      const t: TrackPackets = {
        participant: p.name,
        kind: s.kind,
        ssrc: s.ssrc,
        sent: unmatched ? received : s.packetsSent,
        received,
        lostReported,
        missing: unmatched || viaSfu ? 0 : Math.max(0, s.packetsSent - received),
        sentSpanSec,
      };
      if (viaSfu && !unmatched) t.notForwarded = Math.max(0, s.packetsSent - received - lostReported);
      if (probeFiles && entries.length > 0) {
        let fileSec = 0;
        for (const e of entries) if (e.file) fileSec += (await probe(join(dir, e.file)))?.durationSec ?? 0;
        t.fileSec = fileSec;
        t.rtf = sentSpanSec > 0 ? fileSec / sentSpanSec : undefined;
      }
      out.push(t);
    }
  }
  return out;
}
