import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { isMainThread } from 'node:worker_threads';
import { posixSpawn, type ChildFd, type ChildStatus, type PosixSpawn } from '../../native/posixSpawn.js';

/** A child's fd: a pipe to us, /dev/null, or one of our sockets handed over as is. */
export type StdioSpec = 'pipe' | 'ignore' | net.Socket;

/** What FfmpegProcess uses of a child process ('exit' (code, signal) and 'error' events); node's ChildProcess has it. */
export interface Child extends EventEmitter {
  readonly pid?: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly stdio: ReadonlyArray<Readable | Writable | null | undefined>;
  kill(signal?: NodeJS.Signals): boolean;
}

/**
 * Starts `file` with posix_spawn where it can (see src/native/posixSpawn.ts: ~1 ms on the event loop instead of node's
 * 20-130 ms fork), with node's spawn otherwise (not Linux, RTC_RECORD_SPAWN=node, a `cwd`, a worker thread: signals,
 * SIGCHLD among them, reach only the main thread).
 */
export function spawnChild(file: string, args: readonly string[], stdio: readonly StdioSpec[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const posix = opts.cwd === undefined && isMainThread ? posixSpawn() : undefined;
  if (!posix) return spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: [...stdio], windowsHide: true });
  return new PosixChild(posix, file, args, stdio, opts.env ?? process.env);
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

class PosixChild extends EventEmitter implements Child {
  readonly pid: number | undefined;
  readonly stdio: ReadonlyArray<Readable | Writable | null>;
  private ended = false;

  constructor(posix: PosixSpawn, file: string, args: readonly string[], stdio: readonly StdioSpec[], env: NodeJS.ProcessEnv) {
    super();
    const fds: ChildFd[] = [];
    const childEnds: number[] = [];
    const ours: Array<net.Socket | null> = [];
    let pid: number | undefined;
    try {
      stdio.forEach((spec, i) => {
        if (spec === 'ignore') {
          fds.push('null');
          ours.push(null);
        } else if (spec === 'pipe') {
          const [readEnd, writeEnd] = posix.pipe();
          // stdin and the extra inputs (fd 3, 4, …) are read by the child; stdout and stderr written.
          const childReads = i === 0 || i >= 3;
          childEnds.push(childReads ? readEnd : writeEnd);
          fds.push({ dup: childReads ? readEnd : writeEnd });
          ours.push(childReads ? new net.Socket({ fd: writeEnd, readable: false, writable: true }) : new net.Socket({ fd: readEnd, readable: true, writable: false }));
        } else {
          fds.push({ dup: socketFd(spec) });
          ours.push(null);
        }
      });
      const envList = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
      pid = posix.spawn(file, [file, ...args], envList, fds);
    } catch (err) {
      for (const s of ours) s?.destroy();
      // As node's spawn: no pid, and the failure as an 'error' event once the caller has listened.
      process.nextTick(() => this.emit('error', err));
    } finally {
      for (const fd of childEnds) posix.close(fd);
    }
    this.pid = pid;
    this.stdio = ours;
    if (pid !== undefined) reaper(posix).watch(pid, (status) => this.onEnd(status));
  }

  get stdin(): Writable | null {
    return (this.stdio[0] as Writable | null) ?? null;
  }

  get stdout(): Readable | null {
    return (this.stdio[1] as Readable | null) ?? null;
  }

  get stderr(): Readable | null {
    return (this.stdio[2] as Readable | null) ?? null;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.pid === undefined || this.ended) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  private onEnd(status: ChildStatus): void {
    this.ended = true;
    this.emit('exit', status.code, status.signal === null ? null : (SIGNAL_NAMES.get(status.signal) ?? null));
  }
}

/** The fd under a net.Socket (a pipe or Unix socket of ours). */
function socketFd(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('spawn: a stdio socket without a file descriptor');
  return fd;
}

/**
 * Reaps our posix_spawn children: libuv waits only for its own (by pid), so ours are collected on each SIGCHLD, and
 * once a second in case a signal was missed. The timer keeps the process alive while a child runs, as node's own
 * child handles do.
 */
class Reaper {
  private readonly children = new Map<number, (status: ChildStatus) => void>();
  private timer?: NodeJS.Timeout;
  private readonly onSignal = () => this.reapAll();

  constructor(private readonly posix: PosixSpawn) {}

  watch(pid: number, onEnd: (status: ChildStatus) => void): void {
    this.children.set(pid, onEnd);
    if (!this.timer) {
      process.on('SIGCHLD', this.onSignal);
      this.timer = setInterval(() => this.reapAll(), 1000);
    }
    // It may have ended before the listener was there (after the caller has listened to the child).
    process.nextTick(() => this.reapAll());
  }

  private reapAll(): void {
    for (const [pid, onEnd] of this.children) {
      const status = this.posix.reap(pid);
      if (!status) continue;
      this.children.delete(pid);
      onEnd(status);
    }
    if (this.children.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      process.off('SIGCHLD', this.onSignal);
    }
  }
}

let shared: Reaper | undefined;
function reaper(posix: PosixSpawn): Reaper {
  return (shared ??= new Reaper(posix));
}
