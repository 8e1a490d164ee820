/**
 * A diagnostic for the MCU part (not part of `npm run bench`): `rtc-record serve --room-audio mcu` with the MCU
 * bench's talkers and a given number of listeners (0 by default), its CPU over consecutive windows, nothing else.
 * Run inside the bench's namespace:
 *   node scripts/in-netns.mjs node .cache/bench/build/bench/measure/mcuProbe.js [listeners] [warmupSec] [windowSec] [windows]
 * BENCH_CPU_PROF_DIR / BENCH_NODE_FLAGS / BENCH_SFU_SERVE_FLAGS work as for the bench (a CPU profile of the whole run).
 * Prints the server's pid once media flows (for `perf record -p`).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { participantFixtures } from '../fixtures.js';
import { SfuLoadGenerator } from '../loadgen/sfuClient.js';
import { MCU_TALKERS } from '../mcuAudio.js';
import { GENERATOR_NICE, withServe } from '../sfuForwarding.js';
import { CLK_TCK, cores, TreeSampler } from './procTree.js';

const [listeners = 0, warmupSec = 10, windowSec = 10, windows = 3] = process.argv.slice(2).map(Number);
/** CPU seconds (user, system) of each thread of `pid`, by thread name (threads of one name summed). */
function threads(pid: number): Map<string, { user: number; sys: number }> {
  const out = new Map<string, { user: number; sys: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = `${stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))}${tid === String(pid) ? "[main]" : ""}`;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const t = out.get(comm) ?? { user: 0, sys: 0 };
      t.user += Number(f[11]) / CLK_TCK;
      t.sys += Number(f[12]) / CLK_TCK;
      out.set(comm, t);
    } catch {
      // the thread exited
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => console.log(`${new Date().toISOString()} ${m}`);

const talkers = await participantFixtures({ count: MCU_TALKERS, audio: { seconds: 20 } });
const workDir = mkdtempSync(join(tmpdir(), 'mcu-probe-'));
const lifetimeMs = (warmupSec + windowSec * windows + 120) * 1000;
await withServe(['--no-composite', '--room-audio', 'mcu'], { workDir, logName: 'serve.log', lifetimeMs }, async (serve) => {
  const gen = new SfuLoadGenerator({
    serverUrl: serve.wsUrl,
    room: 'mcu',
    publishers: talkers.map((t) => ({ name: t.name, audioPath: t.audio?.path })),
    joinIntervalMs: 150,
    connectTimeoutMs: 90_000,
    nice: GENERATOR_NICE,
    listen: 'mix',
    subscribersPerThread: 10,
    subscribers: listeners,
    maxLifetimeMs: lifetimeMs,
  });
  try {
    await gen.wait('published', 60_000);
    await gen.wait('flowing', 90_000);
    log(`flowing: ${talkers.length} talkers, ${listeners} listeners; serve pid ${serve.pid}; warm-up ${warmupSec} s`);
    await sleep(warmupSec * 1000);
    const sampler = new TreeSampler(serve.pid, 1000);
    const all: number[] = [];
    for (let i = 0; i < windows; i++) {
      const a = sampler.sampleNow()!;
      const ta = threads(serve.pid);
      await sleep(windowSec * 1000);
      const b = sampler.sampleNow()!;
      const tb = threads(serve.pid);
      const dt = (b.atMs - a.atMs) / 1000;
      const perThread = [...tb]
        .map(([name, t]) => ({ name, user: (t.user - (ta.get(name)?.user ?? 0)) / dt, sys: (t.sys - (ta.get(name)?.sys ?? 0)) / dt }))
        .filter((t) => t.user + t.sys > 0.0005)
        .sort((x, y) => y.user + y.sys - (x.user + x.sys))
        .map((t) => `${t.name} ${t.user.toFixed(3)}u+${t.sys.toFixed(3)}s`)
        .join(', ');
      all.push(cores(a, b));
      log(`window ${i + 1}: server ${cores(a, b).toFixed(3)} cores (${b.processes} processes; threads: ${perThread})`);
    }
    log(`server cores: ${all.map((c) => c.toFixed(3)).join(' ')}; mean ${(all.reduce((x, y) => x + y, 0) / all.length).toFixed(3)}`);
  } finally {
    await gen.close();
  }
});
log(`serve log: ${join(workDir, 'serve.log')}`);
