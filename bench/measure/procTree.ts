/**
 * CPU and memory of a process and all its descendants, from /proc (Linux).
 *
 * CPU of the tree = Σ over live members of (utime + stime + cutime + cstime). A descendant's own time moves into its
 * parent's cutime/cstime when the parent reaps it, so children that exited (ffmpeg runs that ended) keep counting and
 * nothing is counted twice. RSS = Σ over live members of resident pages; PSS = Σ of their proportional set sizes (a page
 * shared by n processes counts 1/n in each: the tree's real share of memory, shared libraries counted once).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function getconf(name: string, fallback: number): number {
  try {
    const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 5000 }).trim());
    return Number.isFinite(v) && v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

export const CLK_TCK = getconf('CLK_TCK', 100);
export const PAGE_SIZE = getconf('PAGESIZE', 4096);

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Own CPU (utime + stime), seconds. */
  selfSec: number;
  /** CPU of reaped children (cutime + cstime), seconds. */
  childrenSec: number;
  rssBytes: number;
}

/** Parses /proc/<pid>/stat; undefined when the process is gone. comm may contain spaces and parentheses. */
export function readProcStat(pid: number | 'self'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  const num = (n: number) => Number(f[n - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: f[0]!,
    ppid: num(4),
    selfSec: (num(14) + num(15)) / CLK_TCK,
    childrenSec: (num(16) + num(17)) / CLK_TCK,
    rssBytes: num(24) * PAGE_SIZE,
  };
}

export interface TreeSnapshot {
  atMs: number;
  /** Total CPU seconds of the tree since the root started, including reaped descendants. */
  cpuSec: number;
  rssBytes: number;
  /** Only when asked for (each process's smaps_rollup read: kernel work a pid list does not need). */
  pssBytes?: number;
  members: ProcStat[];
}

/** Proportional set size of a process from /proc/<pid>/smaps_rollup (0 when gone or unreadable). */
export function readPssBytes(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** One pass over /proc: the root and every process whose parent chain leads to it. */
export function snapshotTree(rootPid: number, withPss = false): TreeSnapshot | undefined {
  const atMs = Date.now();
  const root = readProcStat(rootPid);
  if (!root) return undefined;
  const byParent = new Map<number, ProcStat[]>();
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (pid === rootPid) continue;
    const st = readProcStat(pid);
    if (!st) continue;
    const list = byParent.get(st.ppid);
    if (list) list.push(st);
    else byParent.set(st.ppid, [st]);
  }
  const members: ProcStat[] = [root];
  for (let i = 0; i < members.length; i++) members.push(...(byParent.get(members[i]!.pid) ?? []));
  let cpuSec = 0;
  let rssBytes = 0;
  for (const m of members) {
    cpuSec += m.selfSec + m.childrenSec;
    rssBytes += m.rssBytes;
  }
  const pssBytes = withPss ? members.reduce((sum, m) => sum + readPssBytes(m.pid), 0) : undefined;
  return { atMs, cpuSec, rssBytes, pssBytes, members };
}

export interface Sample {
  atMs: number;
  cpuSec: number;
  rssBytes: number;
  pssBytes?: number;
  /** Live processes in the tree. */
  processes: number;
  /** Own CPU seconds of live members by command name (node, ffmpeg…); reaped descendants under "(exited)". */
  byComm: Record<string, number>;
}

function toSample(s: TreeSnapshot): Sample {
  const byComm: Record<string, number> = { '(exited)': 0 };
  for (const m of s.members) {
    byComm[m.comm] = (byComm[m.comm] ?? 0) + m.selfSec;
    byComm['(exited)']! += m.childrenSec;
  }
  return { atMs: s.atMs, cpuSec: s.cpuSec, rssBytes: s.rssBytes, pssBytes: s.pssBytes, processes: s.members.length, byComm };
}

/** Samples a process tree on a timer (default every second) until the root exits or stop() is called. */
export class TreeSampler {
  readonly samples: Sample[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    readonly rootPid: number,
    private readonly intervalMs = 1000,
    /** Also measure PSS (see TreeSnapshot.pssBytes). */
    private readonly withPss = false,
  ) {}

  start(): this {
    this.sampleNow();
    this.timer = setInterval(() => this.sampleNow(), this.intervalMs);
    return this;
  }

  /** Takes a sample now (also used to mark window edges precisely); undefined once the root is gone. */
  sampleNow(): Sample | undefined {
    const snap = snapshotTree(this.rootPid, this.withPss);
    if (!snap) {
      this.stop();
      return undefined;
    }
    const s = toSample(snap);
    this.samples.push(s);
    return s;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get last(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  get peakRssBytes(): number {
    return this.samples.reduce((m, s) => Math.max(m, s.rssBytes), 0);
  }

  between(fromMs: number, toMs: number): Sample[] {
    return this.samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs);
  }
}

/** Average cores used between two samples. */
export function cores(a: Sample, b: Sample): number {
  const dt = (b.atMs - a.atMs) / 1000;
  return dt > 0 ? (b.cpuSec - a.cpuSec) / dt : 0;
}

/**
 * Per-command cores between two samples: a breakdown for the report, approximate when processes exit inside the window
 * (their time moves to "(exited)" and their own entry shrinks; shrinking entries are left out).
 */
export function coresByComm(a: Sample, b: Sample): Record<string, number> {
  const dt = (b.atMs - a.atMs) / 1000;
  const out: Record<string, number> = {};
  if (dt <= 0) return out;
  for (const [comm, sec] of Object.entries(b.byComm)) {
    const d = sec - (a.byComm[comm] ?? 0);
    if (d > 0.005 * dt) out[comm] = d / dt;
  }
  return out;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Whole-machine CPU from /proc/stat: busy and total jiffies over all cores (to see how noisy the machine was). */
export function readSystemCpu(): { busySec: number; totalSec: number; atMs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  // guest/guest_nice (8, 9) are already included in user/nice.
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busySec: (total - idle) / CLK_TCK, totalSec: total / CLK_TCK, atMs: Date.now() };
}

/** Own CPU seconds of every process on the machine (pid → comm, seconds), to find who else was busy. */
export function snapshotAll(): Map<number, { comm: string; sec: number; ppid: number }> {
  const out = new Map<number, { comm: string; sec: number; ppid: number }>();
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const st = readProcStat(Number(name));
    // Own time only: a parent's cutime jumps when it reaps a long-lived child, which would misname the load.
    if (st) out.set(st.pid, { comm: st.comm, sec: st.selfSec, ppid: st.ppid });
  }
  return out;
}

/** The busiest processes between two snapshots, except those in `exclude` (our own trees). */
export function topConsumers(
  a: Map<number, { comm: string; sec: number }>,
  b: Map<number, { comm: string; sec: number }>,
  seconds: number,
  exclude: Set<number>,
  n = 5,
): { comm: string; cores: number }[] {
  const byComm = new Map<string, number>();
  for (const [pid, v] of b) {
    if (exclude.has(pid)) continue;
    const d = v.sec - (a.get(pid)?.sec ?? 0);
    if (d > 0) byComm.set(v.comm, (byComm.get(v.comm) ?? 0) + d);
  }
  return [...byComm.entries()]
    .map(([comm, sec]) => ({ comm, cores: Math.round((sec / seconds) * 100) / 100 }))
    .sort((x, y) => y.cores - x.cores)
    .slice(0, n);
}

/**
 * UDP counters of this network namespace (/proc/net/snmp): inside the bench's private namespace they count only our
 * traffic, so RcvbufErrors = datagrams the kernel dropped because a receiver (the recorder) did not read fast enough.
 */
export function readUdpCounters(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const keys = lines[0]!.split(/\s+/).slice(1);
    const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
    return Object.fromEntries(keys.map((k, i) => [k, vals[i]!]));
  } catch {
    return {};
  }
}

/** Total µs some task waited for a CPU (/proc/pressure/cpu "some" total), or undefined without PSI. */
export function readCpuPressureUs(): number | undefined {
  try {
    const m = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Waits (at most maxWaitSec) until the machine is quiet: whole-machine CPU below `belowCores` over a 2 s sample.
 * Returns how long it waited and the load it last saw.
 */
export async function waitForQuiet(maxWaitSec: number, belowCores = 0.4): Promise<{ waitedSec: number; busyCores: number; quiet: boolean }> {
  const start = Date.now();
  for (;;) {
    const a = readSystemCpu();
    await new Promise((r) => setTimeout(r, 2000));
    const b = readSystemCpu();
    const busyCores = (b.busySec - a.busySec) / ((b.atMs - a.atMs) / 1000);
    const waitedSec = (Date.now() - start) / 1000;
    if (busyCores < belowCores || waitedSec >= maxWaitSec) return { waitedSec, busyCores, quiet: busyCores < belowCores };
  }
}
