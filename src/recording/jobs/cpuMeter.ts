import { readFileSync } from 'node:fs';

// CPU of this process and every descendant (the recorders' ffmpeg children), from /proc: what a worker really uses,
// advertised beside what its jobs are expected to cost. Linux only; elsewhere it reads 0 and admission goes by the
// expected costs alone.

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function ticksOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return tasks ? tasks.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** Total CPU ticks of `root` and its descendants. */
export function treeTicks(root = process.pid): number {
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    total += ticksOf(pid);
    stack.push(...childrenOf(pid));
  }
  return total;
}

/** Cores used between successive `sample()` calls (a child that exited meanwhile is not counted: a slight underread). */
export class CpuMeter {
  private lastTicks = treeTicks();
  private lastAt = Date.now();
  cores = 0;

  sample(): number {
    const ticks = treeTicks();
    const now = Date.now();
    const seconds = (now - this.lastAt) / 1000;
    if (seconds > 0.2) {
      this.cores = Math.max(0, (ticks - this.lastTicks) / TICKS_PER_SECOND / seconds);
      this.lastTicks = ticks;
      this.lastAt = now;
    }
    return this.cores;
  }
}
