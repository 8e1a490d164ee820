/**
 * Checks the process-tree CPU measurement against the kernel's own accounting before any figure is trusted: a known
 * load (selfCheckLoad: ffmpeg x264 jobs in a 3-level tree) is sampled like the recorder is, and the last sample is
 * compared with the CPU time the kernel reports for that whole tree when we reap it (our own cutime + cstime).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BUILD_BENCH_DIR } from '../paths.js';
import { cores, readProcStat, TreeSampler } from './procTree.js';

export interface SelfCheckResult {
  pass: boolean;
  /** CPU seconds of the tree according to the kernel (reaping parent's children time). */
  kernelCpuSec: number;
  /** CPU seconds according to our sampler's last sample. */
  sampledCpuSec: number;
  errorPct: number;
  /** Most processes seen at once (root, ffmpeg, middle node, its ffmpeg = 4). */
  maxProcesses: number;
  /** The last sample was taken with only the root alive: reaped descendants were counted through cutime/cstime. */
  countedReaped: boolean;
  peakCores: number;
  wallSec: number;
  note: string;
}

export async function measurementSelfCheck(): Promise<SelfCheckResult> {
  const before = readProcStat('self')!.childrenSec;
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(BUILD_BENCH_DIR, 'measure', 'selfCheckLoad.js'), '1'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const sampler = new TreeSampler(child.pid!, 200).start();
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  sampler.stop();
  // Node has reaped the child when 'exit' fires: its whole tree's CPU is now in our cutime/cstime.
  const kernelCpuSec = readProcStat('self')!.childrenSec - before;
  const last = sampler.last;
  const sampledCpuSec = last?.cpuSec ?? 0;
  const errorPct = kernelCpuSec > 0 ? (100 * (sampledCpuSec - kernelCpuSec)) / kernelCpuSec : 100;
  const maxProcesses = Math.max(0, ...sampler.samples.map((s) => s.processes));
  const countedReaped = last !== undefined && last.processes === 1 && (last.byComm['(exited)'] ?? 0) > 0.5 * sampledCpuSec;
  let peakCores = 0;
  for (let i = 1; i < sampler.samples.length; i++) peakCores = Math.max(peakCores, cores(sampler.samples[i - 1]!, sampler.samples[i]!));
  // The only CPU the sampler cannot see is what the root spends after its last sample (exiting): a few ticks.
  const withinTolerance = Math.abs(sampledCpuSec - kernelCpuSec) <= 0.05 + 0.03 * kernelCpuSec;
  const pass = code === 0 && withinTolerance && maxProcesses >= 4 && countedReaped;
  const note = pass
    ? `sampled ${sampledCpuSec.toFixed(2)} s vs kernel ${kernelCpuSec.toFixed(2)} s (${errorPct.toFixed(1)} %), ${maxProcesses} processes, reaped children counted`
    : `MISMATCH: exit ${code}, sampled ${sampledCpuSec.toFixed(2)} s vs kernel ${kernelCpuSec.toFixed(2)} s, max ${maxProcesses} processes, reaped counted: ${countedReaped}`;
  return { pass, kernelCpuSec, sampledCpuSec, errorPct, maxProcesses, countedReaped, peakCores, wallSec: (Date.now() - t0) / 1000, note };
}
