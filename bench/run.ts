/**
 * `npm run bench [-- --long] [-- --only tracks,composite] [-- --seconds N] [-- --keep]`
 *
 * Runs inside a private network namespace (loopback only; npm run bench goes through scripts/in-netns.mjs): a signaling
 * server, the real rtc-record CLI, a separate load-generator process of synthetic werift participants, and an
 * ffmpeg-only floor for the transcoding scenarios, all measured through /proc. Prints a table, writes
 * bench/results/latest.{json,md} plus a dated JSON, and exits non-zero when a goal is missed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, setPriority, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ffmpegVersion, resolveFfmpeg, SOURCE_LABELS } from '../src/media/ffmpeg/index.js';
import { audioFixture, participantFixtures, type ParticipantMediaSpec } from './fixtures.js';
import { runFloor } from './floor.js';
import { waitForQuiet } from './measure/procTree.js';
import { measurementSelfCheck, type SelfCheckResult } from './measure/selfCheck.js';
import { runOurs } from './ours.js';
import { judgeSwitches, parseLayerSwitches, parseSwitchesAsked } from './measure/layerSwitches.js';
import { CACHE_DIR, REPO_ROOT, RESULTS_DIR } from './paths.js';
import { startSignalingServer } from './cliProcess.js';
import { buildRows, markdownTable, textTable, type Row, type ScenarioResult } from './report.js';
import { audioEncoderArgs, videoEncoderArgs } from '../src/media/encoder/Mp4Encoder.js';
import { tileFitFilter } from '../src/media/video/VideoTileDecoder.js';
import { CAMERA_720P, COMPOSITE_OUTPUT, SCENARIOS, type Scenario } from './scenarios.js';
import { runSfuForwarding, SFU_PUBLISHERS_MAX, SFU_STEPS, sfuRows, type SfuResult } from './sfuForwarding.js';
import { MIX_40MS_FROM_LISTENERS } from '../src/sfu/RoomMix.js';
import { MCU_BURST_TONE, MCU_GOALS, MCU_SECONDS, MCU_TALKERS, MCU_WARMUP_SEC, mcuBudgetSec, mcuListenerSteps, mcuRows, runMcuAudio, type McuResult } from './mcuAudio.js';

/** The SFU forwarding part (`--only sfu`): its own window and warm-up unless --seconds / --warmup say otherwise. */
const SFU = 'sfu';
const SFU_SECONDS = 15;
const SFU_WARMUP_SEC = 8;
/** The MCU audio part (`--only mcu`; also in the default run): its own window and warm-up unless given. */
const MCU = 'mcu';

/**
 * Warm-up before the floor's window. Ours is longer (--warmup): with 5 s, ~0.02 of the recorder's 0.18 node cores in
 * the composite window were V8 still optimizing (traced with --trace-opt: compile time per 5 s fell from 600 ms to
 * under 10 ms over ~30 s), a one-off that a recording of any real length does not pay per second.
 */
const FLOOR_WARMUP_SEC = 5;

const USAGE = `usage: npm run bench [-- options]
  --seconds N     media seconds measured per scenario (default 25; --long's scenario is always 600)
  --only LIST     run only these scenarios (comma-separated or repeated): ${SCENARIOS.map((s) => s.name).join(', ')}, ${SFU}, ${MCU}
                  (${SFU}: the SFU forwarding benchmark, ${SFU_STEPS.length} load steps of ${SFU_WARMUP_SEC} + ${SFU_SECONDS} s, ~3 minutes;
                   ${MCU}: the server's live audio mix, ${MCU_TALKERS} talkers × ${mcuListenerSteps().join('/')} listeners, a forwarding reference and
                   the mix's latency, ~2 minutes)
  --long          also run the 10-minute composite (stop → MP4 ready, memory growth)
  --keep          keep the recordings and floor outputs under .cache/bench/runs/
  --warmup N      seconds between "all media flowing" and the start of our measurement window (default 20: V8 keeps
                  optimizing the recorder's hot paths for ~20 s); the floor (ffmpeg, nothing to warm up) always waits ${FLOOR_WARMUP_SEC} s
  --nice=N        run the measured processes at this nice value (e.g. --nice=-10, needs root) so a busy shared machine
                  disturbs real-time behaviour less; CPU-seconds are measured the same either way
  --wait-quiet N  before each measured run, wait up to N s for the machine to be quiet (< 0.4 core busy); default 0
  --participants N  override every scenario's participant count (exploration; goals are defined for the defaults)`;

interface Options {
  seconds: number;
  warmup: number;
  only: string[];
  long: boolean;
  keep: boolean;
  participants?: number;
  nice?: number;
  waitQuiet: number;
  /** --seconds / --warmup given (else the SFU and MCU parts use their own shorter windows). */
  secondsGiven: boolean;
  warmupGiven: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      participants: { type: 'string' },
      nice: { type: 'string' },
      'wait-quiet': { type: 'string' },
      only: { type: 'string', multiple: true },
      long: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (name: string, v: string | undefined, dflt: number, min: number) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > 3600) throw new Error(`--${name} must be a number between ${min} and 3600, got ${v}`);
    return n;
  };
  const only = (values.only ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const name of only) if (name !== SFU && name !== MCU && !SCENARIOS.some((s) => s.name === name)) throw new Error(`unknown scenario ${name}; known: ${SCENARIOS.map((s) => s.name).join(', ')}, ${SFU}, ${MCU}`);
  const participants = values.participants === undefined ? undefined : Math.round(positive('participants', values.participants, 1, 1));
  let nice: number | undefined;
  if (values.nice !== undefined) {
    nice = Number(values.nice);
    if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new Error(`--nice must be an integer from -20 to 19, got ${values.nice}`);
  }
  return { secondsGiven: values.seconds !== undefined, warmupGiven: values.warmup !== undefined, nice, waitQuiet: positive('wait-quiet', values['wait-quiet'], 0, 0), seconds: positive('seconds', values.seconds, 25, 5), warmup: positive('warmup', values.warmup, 20, 0), only, long: values.long!, keep: values.keep!, participants };
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

async function machineInfo() {
  const cpuList = cpus();
  return {
    cores: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    // Which ffmpeg the recorder and the floor ran (they resolve it alike: FFMPEG_PATH, PATH, ffmpeg-static, bundled).
    ffmpeg: await ffmpegVersion().then(
      (version) => `${version} (${resolveFfmpeg().path}, ${SOURCE_LABELS[resolveFfmpeg().source]})`,
      () => 'unknown',
    ),
    kernel: release(),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    date: new Date().toISOString(),
    git: { commit: git(['rev-parse', '--short', 'HEAD']), dirty: (git(['status', '--porcelain']) ?? '') !== '' },
    netns: process.env.RTC_RECORD_NETNS === '1',
  };
}

const cleanups = new Set<() => void>();
function onInterrupt(sig: NodeJS.Signals): void {
  console.error(`\nbench: ${sig}: stopping child processes`);
  for (const c of cleanups) c();
  setTimeout(() => process.exit(130), 500).unref();
}

const log = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

async function main(): Promise<number> {
  const opts = parseOptions();
  if (opts.nice !== undefined) {
    // Inherited by every process started from here on (recorder, load generator, ffmpeg floor, server).
    setPriority(opts.nice);
    log(`running at nice ${opts.nice}`);
  }
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does)');
  if (process.env.RTC_RECORD_NETNS !== '1') log('WARNING: not inside a private network namespace (use `npm run bench`)');

  const selected = SCENARIOS.filter((s) => (opts.only.length > 0 ? opts.only.includes(s.name) : !s.long || opts.long));
  const sfuSelected = opts.only.length === 0 || opts.only.includes(SFU);
  const sfuSeconds = opts.secondsGiven ? opts.seconds : SFU_SECONDS;
  const sfuWarmup = opts.warmupGiven ? opts.warmup : SFU_WARMUP_SEC;
  const mcuSelected = opts.only.length === 0 || opts.only.includes(MCU);
  const mcuSeconds = opts.secondsGiven ? opts.seconds : MCU_SECONDS;
  const mcuWarmup = opts.warmupGiven ? opts.warmup : MCU_WARMUP_SEC;
  // Hard cap on the whole run: every step below is bounded too, this is the last resort.
  const budgetSec =
    180 +
    selected.reduce((a, s) => a + (s.seconds ?? opts.seconds) * 2 + 300 + 2 * opts.waitQuiet, 0) +
    (sfuSelected ? SFU_STEPS.length * (sfuSeconds + sfuWarmup + 60) + opts.waitQuiet : 0) +
    (mcuSelected ? mcuBudgetSec(mcuWarmup, mcuSeconds) + opts.waitQuiet : 0);
  setTimeout(() => {
    console.error(`bench: run exceeded its ${budgetSec} s budget; aborting`);
    onInterrupt('SIGTERM');
  }, budgetSec * 1000).unref();

  const machine = await machineInfo();
  log(`${machine.cores} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}, ffmpeg ${machine.ffmpeg}, load ${machine.loadAverageAtStart.join(' ')}`);

  log('measurement self-check: sampling a known ffmpeg load tree against the kernel’s accounting…');
  const selfCheck: SelfCheckResult = await measurementSelfCheck();
  log(`self-check ${selfCheck.pass ? 'ok' : 'FAILED'}: ${selfCheck.note}`);

  const media = new Map<Scenario['name'], ParticipantMediaSpec[]>();
  for (const s of selected) {
    log(`fixtures for ${s.name} (encoded once, cached in .cache/bench/fixtures)…`);
    media.set(s.name, await participantFixtures({ ...s.participants, count: opts.participants ?? s.participants.count }));
  }

  const sfuMedia = sfuSelected ? await participantFixtures({ count: SFU_PUBLISHERS_MAX, video: CAMERA_720P, audio: { seconds: 20 } }) : [];
  // MCU talkers: the audio scenario's voices (a distinct tone and level each); the latency talker: tone bursts after silence.
  const mcuTalkers = mcuSelected ? await participantFixtures({ count: MCU_TALKERS, audio: { seconds: 20 } }) : [];
  const mcuBurst: ParticipantMediaSpec | undefined = mcuSelected ? { name: 'bench burst', audio: await audioFixture(MCU_BURST_TONE) } : undefined;

  const runDir = join(CACHE_DIR, 'runs', machine.date.replace(/[:.]/g, '-'));
  mkdirSync(runDir, { recursive: true });
  const server = selected.some((s) => s.roomMode !== 'sfu') ? await startSignalingServer() : undefined;
  if (server) cleanups.add(() => server.process.kill('SIGKILL'));
  const sfuServer = selected.some((s) => s.roomMode === 'sfu' && !s.layerSwitches) ? await startSignalingServer('sfu') : undefined;
  if (sfuServer) cleanups.add(() => sfuServer.process.kill('SIGKILL'));
  const results: ScenarioResult[] = [];
  let sfu: SfuResult | undefined;
  let mcu: McuResult | undefined;
  const noisy: string[] = [];
  try {
    for (const s of selected) {
      const seconds = s.seconds ?? opts.seconds;
      const m = media.get(s.name)!;
      const workDir = join(runDir, s.name);
      mkdirSync(workDir, { recursive: true });
      const r: Omit<ScenarioResult, 'rows' | 'pass'> = {
        name: s.name,
        title: s.title,
        participants: m.length,
        tracks: m.reduce((n, p) => n + (p.video ? 1 : 0) + (p.audio ? 1 : 0), 0),
        seconds,
      };
      log(`── ${s.title}: ${seconds} s measured${opts.participants !== undefined ? ` (participants overridden: ${m.length})` : ''}`);
      const quiet = async () => {
        if (opts.waitQuiet <= 0) return;
        const q = await waitForQuiet(opts.waitQuiet);
        log(`${q.quiet ? 'machine quiet' : 'machine still busy'} (${q.busyCores.toFixed(2)} cores) after waiting ${q.waitedSec.toFixed(0)} s`);
      };
      // The floor runs before and after ours and counts as the mean of both: this shared machine's speed drifts by
      // 20 % and more within minutes, and bracketing ours cancels most of that drift out of the ratio.
      const floorRun = async (which: string) => {
        if (!s.floor) return;
        await quiet();
        log(`floor (${which}): ffmpeg -re doing the same ${s.floor === 'composite' ? 'decode + xstack + x264 + amix + AAC' : 'amix + AAC'} work…`);
        try {
          const run = await runFloor(s.floor, m, {
            warmupSec: FLOOR_WARMUP_SEC,
            seconds,
            workDir,
            onStart: (p) => cleanups.add(() => void p.stop({ graceMs: 1000 })),
          });
          if (run.error) r.floorError = run.error;
          log(`floor (${which}): ${run.cores.toFixed(2)} cores, rtf ${run.rtf.toFixed(3)}${run.freezes ? `, tiles frozen ${run.freezes.perMinute.toFixed(1)} s/min` : ''}${run.continuity ? `, audio missing ${run.continuity.worstMissingPct.toFixed(2)} %` : ''}${run.error ? `, ERROR ${run.error}` : ''}`);
          r.floorRuns = [...(r.floorRuns ?? []), run];
          r.floor = { ...r.floorRuns[0]!, cores: r.floorRuns.reduce((sum, x) => sum + x.cores, 0) / r.floorRuns.length };
        } catch (err) {
          r.floorError = (err as Error).message;
          log(`floor failed: ${r.floorError}`);
        }
      };
      await floorRun('before');
      r.recorderFlags = s.recorderFlags;
      await quiet();
      log(`ours: rtc-record ${s.recorderFlags.join(' ')} with ${m.length} synthetic participants…`);
      // Layer switches are counted from the SFU's debug lines: a server of its own for this scenario, at debug level.
      const switchServer = s.layerSwitches ? await startSignalingServer('sfu', 'debug') : undefined;
      if (switchServer) cleanups.add(() => switchServer.process.kill('SIGKILL'));
      try {
        r.ours = await runOurs({
          serverUrl: (switchServer ?? (s.roomMode === 'sfu' ? sfuServer : server))!.wsUrl,
          viaSfu: s.roomMode === 'sfu',
          layout: s.layout,
          room: `bench-${s.name}`,
          media: m,
          flags: s.recorderFlags,
          output: s.output,
          warmupSec: opts.warmup,
          seconds,
          outRoot: join(workDir, 'recordings'),
          onProcess: (kill) => cleanups.add(kill),
        });
        const o = r.ours;
        if (switchServer && o.recordingSpanMs && o.outputStartMs !== undefined) {
          const switches = parseLayerSwitches(switchServer.process.stderr, o.recordingSpanMs.fromMs, o.recordingSpanMs.toMs, o.outputStartMs);
          o.layerSwitches = judgeSwitches(switches, o.freezes, parseSwitchesAsked(switchServer.process.stderr, o.recordingSpanMs.fromMs, o.recordingSpanMs.toMs));
          const ls = o.layerSwitches;
          log(`ours: ${ls.count} layer switches in the judged output (${ls.total} in all, ${ls.asked ?? '?'} asked: ${Object.entries(ls.byDirection).map(([d, n]) => `${d} ${n}`).join(', ') || 'none'}; at ${switches.map((x) => `${x.outputSec.toFixed(1)} s ${x.from.replace('bench ', '')} ${x.fromLayer}→${x.toLayer}${x.waitedMs !== undefined ? ` ${x.waitedMs} ms` : ''}`).join(', ')}); longest frozen tile within ±${ls.marginSec} s of one: ${ls.longestFreezeSec?.toFixed(2) ?? '—'} s (${ls.freezesAtSwitches} stretches; longest overall ${o.freezes?.longestSec.toFixed(2) ?? '—'} s)`);
        }
        log(`ours: ${o.cores.toFixed(2)} cores (${Object.entries(o.coresByComm).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}), rtf ${o.rtf.toFixed(3)}, lost ${o.lostPackets}/${o.packets.sent}${o.tracks.some((t) => t.notForwarded) ? ` (through the SFU, not forwarded at the edges: ${o.tracks.filter((t) => t.notForwarded).map((t) => `${t.participant} ${t.kind} ${t.notForwarded}`).join(', ')})` : ''}, stop→ready ${o.stopToReadySec.toFixed(2)} s, ${o.freezes ? `tiles frozen ${o.freezes.perMinute.toFixed(1)} s/min, ` : ''}${o.continuity ? `audio missing ${o.continuity.worstMissingPct.toFixed(2)} % (longest hole ${o.continuity.longestHoleMs} ms; ${o.continuity.voices.map((v) => `${v.id} ${v.missingCells}/${v.judgedCells}`).join(', ')}), ` : ''}generator ${o.generator.cores.toFixed(2)} cores, other work ${o.otherCores.toFixed(2)} cores, CPU pressure ${o.cpuPressurePct?.toFixed(0) ?? '?'} %`);
        for (const w of o.warnings) log(`ours: warning: ${w}`);
        if (o.udpWindow.RcvbufErrors) log(`ours: the kernel dropped ${o.udpWindow.RcvbufErrors} datagrams in the window: receive buffers full (a receiver did not read in time)`);
        if (o.noisy) log(`ours: NOISY RUN: ${o.noisy}, CPU pressure ${o.cpuPressurePct?.toFixed(0) ?? '?'} % (busiest others: ${o.otherLoad.map((x) => `${x.comm} ${x.cores.toFixed(2)}`).join(', ')}); loss and real-time figures are not trustworthy — rerun on a quiet machine (--wait-quiet) or with --nice=-10`);
        if (o.exitCode !== 0) r.error = `rtc-record exited with code ${o.exitCode}`;
      } catch (err) {
        r.error = (err as Error).message;
        log(`ours failed: ${r.error}`);
      } finally {
        if (switchServer) {
          switchServer.process.kill('SIGTERM');
          if (opts.keep) writeFileSync(join(workDir, 'sfu.log'), switchServer.process.stderr.map((l) => l.text).join('\n'));
        }
      }
      if (r.ours) await floorRun('after');
      const rows = buildRows(s, r);
      results.push({ ...r, rows, pass: rows.every((row) => !row.result.startsWith('FAIL')) });
      if (r.ours?.noisy) noisy.push(`${s.name}: ${r.ours.noisy}`);
    }
    if (sfuSelected) {
      if (opts.waitQuiet > 0) {
        const q = await waitForQuiet(opts.waitQuiet);
        log(`${q.quiet ? 'machine quiet' : 'machine still busy'} (${q.busyCores.toFixed(2)} cores) after waiting ${q.waitedSec.toFixed(0)} s`);
      }
      log(`── SFU forwarding: rtc-record serve alone in its process, werift publishers × subscribers in a load generator; ${sfuWarmup} s warm-up + ${sfuSeconds} s measured per step`);
      const workDir = join(runDir, SFU);
      mkdirSync(workDir, { recursive: true });
      sfu = await runSfuForwarding({ media: sfuMedia, warmupSec: sfuWarmup, seconds: sfuSeconds, workDir, log, onProcess: (kill) => cleanups.add(kill) });
    }
    if (mcuSelected) {
      if (opts.waitQuiet > 0) {
        const q = await waitForQuiet(opts.waitQuiet);
        log(`${q.quiet ? 'machine quiet' : 'machine still busy'} (${q.busyCores.toFixed(2)} cores) after waiting ${q.waitedSec.toFixed(0)} s`);
      }
      log(`── MCU audio: rtc-record serve --room-audio mcu alone in its process, ${MCU_TALKERS} werift talkers × ${mcuListenerSteps().join(', ')} listeners in one room, then a forwarding reference and the latency; ${mcuWarmup} s warm-up + ${mcuSeconds} s measured per step`);
      const workDir = join(runDir, MCU);
      mkdirSync(workDir, { recursive: true });
      mcu = await runMcuAudio({ talkers: mcuTalkers, burst: mcuBurst!, warmupSec: mcuWarmup, seconds: mcuSeconds, workDir, log, onProcess: (kill) => cleanups.add(kill) });
    }
  } finally {
    if (sfuServer) sfuServer.process.kill('SIGTERM');
    if (server) {
      server.process.kill('SIGTERM');
      const kill = setTimeout(() => server.process.kill('SIGKILL'), 5000);
      await server.process.exited;
      clearTimeout(kill);
    }
    if (!opts.keep) rmSync(runDir, { recursive: true, force: true });
  }
  const sfuTable = sfu ? sfuRows(sfu) : [];
  const mcuTable = mcu ? mcuRows(mcu) : [];

  const allRows: Row[] = [
    {
      scenario: 'self-check',
      metric: 'tree CPU sampled vs kernel',
      ours: `${selfCheck.sampledCpuSec.toFixed(2)} s`,
      floor: `${selfCheck.kernelCpuSec.toFixed(2)} s`,
      ratio: `${(selfCheck.sampledCpuSec / selfCheck.kernelCpuSec).toFixed(3)}×`,
      goal: '±3 %',
      result: selfCheck.pass ? 'pass' : 'FAIL',
      values: { ours: selfCheck.sampledCpuSec, floor: selfCheck.kernelCpuSec },
    },
    ...results.flatMap((r) => r.rows),
    ...sfuTable,
    ...mcuTable,
  ];
  const pass = selfCheck.pass && results.every((r) => r.pass) && [...sfuTable, ...mcuTable].every((row) => !row.result.startsWith('FAIL'));
  console.log('');
  console.log(textTable(allRows));
  console.log('');
  const notes = [
    ...(results.length === 0
      ? []
      : [
    `ours = rtc-record process tree (node + every ffmpeg child, exited ones included), steady window of ${opts.seconds} s (long: 600 s) after a ${opts.warmup} s warm-up (V8 optimizing); floor = one ffmpeg -re doing the same transcoding from the same files (${FLOOR_WARMUP_SEC} s warm-up), run before and after ours (CPU: the mean${results.filter((x) => x.floorRuns?.length).map((x) => `; ${x.name} ${x.floorRuns!.map((f) => f.cores.toFixed(2)).join(' / ')}`).join('')}); ratio = ours / floor.`,
    `floor settings (the recorder's own): decoders and filters one thread each; 2x2 tiles ${tileFitFilter(COMPOSITE_OUTPUT.width / 2, COMPOSITE_OUTPUT.height / 2)}; ${COMPOSITE_OUTPUT.width}x${COMPOSITE_OUTPUT.height}@${COMPOSITE_OUTPUT.fps} ${videoEncoderArgs(COMPOSITE_OUTPUT).join(' ')}; ${audioEncoderArgs({ sampleRate: 48_000, channels: 1 }).join(' ')}.`,
        ]),
    `machine: ${machine.cores} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}, ffmpeg ${machine.ffmpeg}, ${machine.date}${machine.git.commit ? `, commit ${machine.git.commit}${machine.git.dirty ? ' (dirty)' : ''}` : ''}.`,
  ];
  if (sfu) {
    notes.push(
      `sfu = \`rtc-record ${sfu.serveArgs.join(' ')}\` alone in its process (its default --io-batch-ms), measured over ${sfuSeconds} s after ${sfuWarmup} s; N publishers × M subscribers (werift, one load generator process), 720p30 ~1.5 Mbit/s VP8 + Opus each; subscribers publish nothing and get every publisher. Packets/s per core = the server's forwarded-packet counter / its cores (receiving, decrypting, encrypting, sending; all included). Delay in the SFU: 1 packet in 16 per track, werift's receiver hands it over → the subscriber's sender has sent it; end to end: publisher's send → subscriber's receive, one process and clock (includes both werift stacks, the kernel and the server's I/O batching). Loss: packets sent in the window × subscribers − distinct ones received.`,
    );
  }
  if (mcu) {
    notes.push(
      `mcu = \`rtc-record ${mcu.serveArgs.mcu?.join(' ') ?? 'serve … --room-audio mcu'}\` alone in its process, measured over ${mcuSeconds} s after ${mcuWarmup} s per step; one room, ${mcu.talkers} werift talkers (Opus only, a distinct tone and level each, 180 ms on / 70 ms off) and listeners that publish nothing, added to the same room step by step; each listener gets one track, the server's mix of the 3 loudest. A step counts only when every listener received ≥ ${MCU_GOALS.mixMsPerSec} ms of mix a second and its last 50 packets decode (opus-decoder) above ${MCU_GOALS.sampleLevelDb} dBFS. The server sends 20 ms packets below ${MIX_40MS_FROM_LISTENERS} listeners and 40 ms ones from there (\`--mix-packet-ms auto\`). Per extra listener: least-squares slope of the server's cores over the steps. Reference: the same talkers, every voice forwarded to ${mcu.forward?.step.subscribers ?? '?'} listeners (\`--room-audio forward\`, its own server process). Latency: one talker, silence then a ${MCU_BURST_TONE.freqHz} Hz burst every ${MCU_BURST_TONE.onMs + MCU_BURST_TONE.offMs} ms, one listener decoding the mix as it arrives; first tone packet sent → first mix packet whose level jumps (> −30 dBFS after 100 ms below −45) received, in one process and clock. It includes the server's jitter buffer, mix tick and Opus encode, both werift stacks and loopback; not a browser's jitter buffer, decoder and audio output (add those for mouth-to-ear).`,
    );
  }
  if (noisy.length) notes.push(`NOISY: ${noisy.join('. ')}. CPU-seconds stay valid; packet loss and real-time factor are not trustworthy in such a run.`);
  for (const n of notes) console.log(n);

  const json = { version: 1, pass, machine, options: opts, selfCheck, compositeOutput: COMPOSITE_OUTPUT, scenarios: results, sfu, mcu, rows: allRows };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const text = `${JSON.stringify(json, null, 2)}\n`;
  const dated = join(RESULTS_DIR, `${machine.date.slice(0, 19).replace(/:/g, '-')}Z.json`);
  writeFileSync(dated, text);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), text);
  const md = [
    `### Benchmark (${machine.date.slice(0, 10)}, ${opts.only.length ? `only ${opts.only.join(', ')}` : opts.long ? 'with --long' : 'default run'}): ${pass ? 'all goals met' : 'goals missed'}`,
    '',
    markdownTable(allRows),
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  writeFileSync(join(RESULTS_DIR, 'latest.md'), md);
  log(`results: ${dated.replace(`${REPO_ROOT}/`, '')}, bench/results/latest.json, bench/results/latest.md`);
  log(pass ? 'all goals met' : 'GOALS MISSED');
  return pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`bench: ${err.message}`);
    for (const c of cleanups) c();
    process.exit(2);
  },
);
