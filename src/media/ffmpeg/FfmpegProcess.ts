import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { RtcRecordError } from '../../errors.js';
import { logger as defaultLogger, type Logger } from '../../logger.js';
import { resolveFfmpeg, resolveFfprobe } from './ffmpegBinary.js';
import { watchPipeTransfer } from './pipeTransfers.js';
import { ProgressParser, type FfmpegProgress } from './progress.js';
import type { StderrLineSocket } from './StderrLineSocket.js';
import { spawnChild, type Child } from './spawnChild.js';

export type { FfmpegProgress };

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Clean exit (code 0) or any exit after stop() was called. */
  expected: boolean;
  /** stop() had to escalate to SIGKILL: the output may be unfinalized. */
  forced: boolean;
}

export interface FfmpegProcessEvents {
  exit: [FfmpegExit];
  progress: [FfmpegProgress];
  /** FFMPEG_DIED on unexpected exit, FFMPEG_NOT_FOUND when the binary cannot be started. */
  error: [RtcRecordError];
  /** Every non-progress stderr line (already logged at debug). */
  stderr: [string];
}

export interface FfmpegProcessOptions {
  logger?: Logger;
  /** Shown in logs and error messages, e.g. "mix room-1". */
  label?: string;
  /** Which tool to run (default ffmpeg). */
  tool?: 'ffmpeg' | 'ffprobe';
  /** Bypass binary resolution. */
  binaryPath?: string;
  /** Prepend `-progress pipe:2 -nostats` so progress arrives as parseable blocks. */
  progress?: boolean;
  /**
   * Pipe stdout (raw frames/PCM out); default 'ignore' so an unread pipe can't stall ffmpeg. A socket (see
   * openReadSocket) becomes the child's stdout as is and is closed here once the child has its copy.
   */
  stdout?: 'pipe' | 'ignore' | Socket;
  /** Number of extra writable pipes at fd 3, 4, … (use as `-i pipe:3` …) for multi-input feeds. */
  extraInputs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How many stderr lines to keep for error messages (default 50). */
  stderrTailLines?: number;
  /**
   * Read stderr through this socket instead of a pipe (see StderrLineSocket): for per-frame report lines (showinfo),
   * which its byte filter takes before they become strings. It is closed here once the child has its copy.
   */
  stderr?: StderrLineSocket;
}

export interface StopOptions {
  /** Total time before SIGKILL (default 5000 ms). */
  graceMs?: number;
  /** When to send SIGINT (ffmpeg still writes the trailer on SIGINT); default graceMs / 2. */
  sigintAfterMs?: number;
}

/** Stream errors that only mean "ffmpeg is gone / not reading"; never worth crashing over. */
const BENIGN_PIPE_ERRORS = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END', 'EOF']);

/** True when an ffmpeg input reads stdin, in which case EOF (not 'q') is the graceful stop. */
function readsStdin(args: readonly string[]): boolean {
  return args.some((a, i) => i > 0 && args[i - 1] === '-i' && (a === '-' || a === 'pipe:' || a === 'pipe:0'));
}

/**
 * The one place ffmpeg/ffprobe get spawned. Wraps a child process with typed events, stderr logging
 * and tail, progress parsing, unexpected-death detection and a graceful stop.
 *
 * 'error' follows EventEmitter convention only when someone listens: without a listener the death
 * is logged at error level instead of throwing, so a dying encoder cannot take the recorder down.
 */
export class FfmpegProcess extends EventEmitter<FfmpegProcessEvents> {
  readonly args: readonly string[];
  readonly binaryPath: string;
  readonly label: string;
  readonly stdin: Writable;
  readonly stdout: Readable | null;
  /** Writable ends of fds 3, 4, … (see options.extraInputs). */
  readonly extraInputs: readonly Writable[];
  /** Resolves once on exit (never rejects). */
  readonly exited: Promise<FfmpegExit>;

  private readonly child: Child;
  private readonly log: Logger;
  private readonly tail: string[] = [];
  private readonly tailMax: number;
  private readonly parser = new ProgressParser();
  private stopping: Promise<FfmpegExit> | null = null;
  private forced = false;
  private exitInfo: FfmpegExit | null = null;
  private latestProgress: FfmpegProgress | null = null;
  private resolveExited!: (e: FfmpegExit) => void;
  private timers: NodeJS.Timeout[] = [];

  constructor(args: readonly string[], opts: FfmpegProcessOptions = {}) {
    super();
    const tool = opts.tool ?? 'ffmpeg';
    this.binaryPath = opts.binaryPath ?? (tool === 'ffmpeg' ? resolveFfmpeg() : resolveFfprobe()).path;
    const prefix = tool === 'ffmpeg' ? ['-hide_banner', ...(opts.progress ? ['-nostats', '-progress', 'pipe:2'] : [])] : ['-hide_banner'];
    this.args = [...prefix, ...args];
    this.label = opts.label ?? tool;
    this.log = (opts.logger ?? defaultLogger).child({ ffmpeg: this.label });
    this.tailMax = opts.stderrTailLines ?? 50;
    this.exited = new Promise((r) => (this.resolveExited = r));

    const extra = opts.extraInputs ?? 0;
    this.child = spawnChild(this.binaryPath, this.args, ['pipe', opts.stdout ?? 'ignore', opts.stderr?.childEnd ?? 'pipe', ...Array<'pipe'>(extra).fill('pipe')], {
      cwd: opts.cwd,
      env: opts.env,
    });
    if (typeof opts.stdout === 'object') opts.stdout.destroy();
    opts.stderr?.childEnd.destroy();
    this.log.debug({ pid: this.child.pid, cmd: this.binaryPath, args: this.args }, 'ffmpeg spawned');

    this.stdin = this.child.stdin!;
    this.stdout = typeof opts.stdout === 'object' ? null : (this.child.stdout ?? null);
    this.extraInputs = Array.from({ length: extra }, (_, i) => this.child.stdio[3 + i] as Writable);
    for (const w of [this.stdin, ...this.extraInputs]) w.on('error', (err) => this.onPipeError(err));
    // Input still queued (a raw frame is bigger than the pipe): the event loop must stay awake to feed it.
    const inputs = [this.stdin, ...this.extraInputs];
    const unwatch = watchPipeTransfer(() => inputs.some((w) => w.writableLength > 0));
    void this.exited.then(unwatch);
    this.stdout?.on('error', (err) => this.log.debug({ err }, 'ffmpeg stdout error'));

    if (opts.stderr) opts.stderr.setLineHandler((line) => this.onStderrLine(line));
    else this.wireStderr();
    this.wireExit(opts.stderr?.closed);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  get lastProgress(): FfmpegProgress | null {
    return this.latestProgress;
  }

  /** The last stderr log lines (progress output excluded), oldest first. */
  stderrTail(): string[] {
    return [...this.tail];
  }

  /**
   * Writes to stdin (or extra input `index`, 0-based). Returns false when the pipe is closed (chunk
   * dropped) or when backpressure says wait for 'drain' — check `inputOpen` to tell them apart.
   */
  write(chunk: Uint8Array | string, index?: number): boolean {
    return this.openInput(index)?.write(chunk) ?? false;
  }

  /**
   * Writes several chunks (e.g. a frame header and its payload) with one system call (writev): every write to a pipe
   * may wake ffmpeg, and those wake-ups cost more than the bytes. `onWritten` runs once all are written.
   */
  writeAll(chunks: readonly Uint8Array[], index?: number, onWritten?: () => void): boolean {
    const w = this.openInput(index);
    if (!w) return false;
    w.cork();
    let ok = true;
    chunks.forEach((c, i) => {
      ok = (i === chunks.length - 1 && onWritten ? w.write(c, () => onWritten()) : w.write(c)) && ok;
    });
    w.uncork();
    return ok;
  }

  /** stdin (or extra input `index`) while it can still be written to. */
  private openInput(index?: number): Writable | undefined {
    const w = index === undefined ? this.stdin : this.extraInputs[index];
    return w && w.writable && this.running ? w : undefined;
  }

  get inputOpen(): boolean {
    return this.running && this.stdin.writable;
  }

  /**
   * Graceful stop: EOF on input pipes (or 'q' when stdin is not an input), SIGINT after
   * sigintAfterMs, SIGKILL after graceMs. Resolves with the exit; repeated calls share it.
   */
  stop(opts: StopOptions = {}): Promise<FfmpegExit> {
    if (!this.running) return this.exited;
    if (this.stopping) return this.stopping;
    const graceMs = opts.graceMs ?? 5000;
    const sigintAfterMs = Math.min(opts.sigintAfterMs ?? graceMs / 2, graceMs);
    this.log.debug({ graceMs }, 'stopping ffmpeg');
    this.stopping = this.exited;

    if (!readsStdin(this.args) && this.stdin.writable) this.stdin.write('q');
    if (this.stdin.writable) this.stdin.end();
    for (const w of this.extraInputs) if (w.writable) w.end();

    const later = (ms: number, fn: () => void): void => {
      const t = setTimeout(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    later(sigintAfterMs, () => this.signal('SIGINT'));
    later(graceMs, () => {
      if (!this.running) return;
      this.forced = true;
      this.log.warn({ graceMs }, 'ffmpeg did not exit in time; sending SIGKILL');
      this.signal('SIGKILL');
    });
    return this.stopping;
  }

  private signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      this.child.kill(sig);
    } catch (err) {
      this.log.debug({ err, sig }, 'kill failed');
    }
  }

  private onPipeError(err: NodeJS.ErrnoException): void {
    if (err.code && BENIGN_PIPE_ERRORS.has(err.code)) this.log.debug({ code: err.code }, 'ffmpeg input pipe closed');
    else this.log.warn({ err }, 'ffmpeg input pipe error');
  }

  private wireStderr(): void {
    const stderr = this.child.stderr!;
    stderr.setEncoding('utf8');
    let carry = '';
    // The stats line ends in \r (rewritten in place), so split on either terminator.
    stderr.on('data', (chunk: string) => {
      const parts = (carry + chunk).split(/\r\n|\r|\n/);
      carry = parts.pop() ?? '';
      for (const line of parts) this.onStderrLine(line);
    });
    stderr.on('end', () => {
      if (carry) this.onStderrLine(carry);
      carry = '';
    });
    stderr.on('error', (err) => this.log.debug({ err }, 'ffmpeg stderr error'));
  }

  private onStderrLine(raw: string): void {
    const line = raw.trimEnd();
    if (!line) return;
    const { isProgress, progress } = this.parser.feed(line);
    if (progress) {
      this.latestProgress = progress;
      this.emit('progress', progress);
    }
    if (isProgress) return;
    this.log.debug({ line }, 'ffmpeg stderr');
    this.tail.push(line);
    if (this.tail.length > this.tailMax) this.tail.shift();
    this.emit('stderr', line);
  }

  /** `stderrClosed`: when stderr is a socket of ours, its end (otherwise the pipe's). */
  private wireExit(stderrClosed?: Promise<void>): void {
    let spawnError: NodeJS.ErrnoException | null = null;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let stderrEnded = false;

    const finish = (): void => {
      if (this.exitInfo || (!exit && !spawnError)) return;
      for (const t of this.timers) clearTimeout(t);
      const code = exit?.code ?? null;
      const signal = exit?.signal ?? null;
      const info: FfmpegExit = {
        code,
        signal,
        expected: !spawnError && (this.stopping !== null || (code === 0 && signal === null)),
        forced: this.forced,
      };
      this.exitInfo = info;
      this.log.debug({ ...info, pid: this.child.pid }, 'ffmpeg exited');
      if (spawnError) {
        const notFound = spawnError.code === 'ENOENT' || spawnError.code === 'EACCES';
        this.raise(
          new RtcRecordError(
            notFound ? 'FFMPEG_NOT_FOUND' : 'FFMPEG_DIED',
            `${this.label}: cannot start ${this.binaryPath}: ${spawnError.message}`,
            { cause: spawnError },
          ),
        );
      } else if (!info.expected) {
        const how = signal ? `signal ${signal}` : `code ${code}`;
        const tail = this.tail.length ? `; last stderr:\n${this.tail.join('\n')}` : '; no stderr output';
        this.raise(new RtcRecordError('FFMPEG_DIED', `${this.label} exited unexpectedly with ${how}${tail}`));
      }
      this.emit('exit', info);
      this.resolveExited(info);
    };

    this.child.on('error', (err: NodeJS.ErrnoException) => {
      // 'error' also fires for failed kill()s on a live process; only a missing pid means no process.
      if (this.child.pid !== undefined) {
        this.log.debug({ err }, 'ffmpeg child error');
        return;
      }
      spawnError = err;
      finish();
    });
    this.child.on('exit', (code, signal) => {
      exit = { code, signal };
      if (stderrEnded) finish();
      // stderr normally ends right after exit; don't hang if something else holds it open.
      else setTimeout(finish, 1000).unref();
    });
    const onStderrClosed = (): void => {
      stderrEnded = true;
      if (exit) finish();
    };
    if (stderrClosed) void stderrClosed.then(onStderrClosed);
    else this.child.stderr!.on('close', onStderrClosed);
  }

  private raise(err: RtcRecordError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.log.error({ err }, 'ffmpeg failed (no error listener)');
  }
}

export interface RunOptions {
  /** Kill and reject after this long (default: no timeout). */
  timeoutMs?: number;
  logger?: Logger;
  label?: string;
  /** Written to stdin, then closed. Use `-i pipe:0` in args. */
  input?: Uint8Array;
  /** Reject on non-zero exit (default true). */
  check?: boolean;
  binaryPath?: string;
  cwd?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  /** All non-progress stderr lines joined with \n. */
  stderr: string;
}

function run(tool: 'ffmpeg' | 'ffprobe', args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // Without input, -nostdin keeps one-shot jobs from reading keystrokes off our stdin pipe.
    const fullArgs = tool === 'ffmpeg' && !opts.input ? ['-nostdin', ...args] : [...args];
    let proc: FfmpegProcess;
    try {
      proc = new FfmpegProcess(fullArgs, {
        tool,
        stdout: 'pipe',
        logger: opts.logger,
        label: opts.label,
        binaryPath: opts.binaryPath,
        cwd: opts.cwd,
        stderrTailLines: 20,
      });
    } catch (err) {
      reject(err);
      return;
    }
    const out: Buffer[] = [];
    const errLines: string[] = [];
    let failure: RtcRecordError | null = null;
    let timedOut = false;
    proc.stdout!.on('data', (b: Buffer) => out.push(b));
    proc.on('stderr', (l) => errLines.push(l));
    proc.on('error', (e) => (failure = e));

    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            void proc.stop({ graceMs: 500, sigintAfterMs: 0 });
          }, opts.timeoutMs);

    if (opts.input) proc.write(opts.input);
    proc.stdin.end();

    proc.exited.then((exit) => {
      clearTimeout(timer);
      // stdout 'end' can trail 'exit'; wait for it so no bytes are lost.
      const done = (): void => {
        const result: RunResult = { code: exit.code, signal: exit.signal, stdout: Buffer.concat(out), stderr: errLines.join('\n') };
        if (timedOut) {
          reject(new RtcRecordError('FFMPEG_DIED', `${proc.label} timed out after ${opts.timeoutMs} ms: ${args.join(' ')}\n${proc.stderrTail().join('\n')}`));
        } else if (failure?.code === 'FFMPEG_NOT_FOUND' || (failure && opts.check !== false)) {
          reject(failure);
        } else resolve(result);
      };
      if (proc.stdout!.readableEnded || proc.stdout!.destroyed) done();
      else {
        proc.stdout!.once('close', done);
      }
    }, reject);
  });
}

/** One-shot ffmpeg job (remux, decode to stdout, …). Rejects with FFMPEG_DIED on failure or timeout. */
export function runFfmpeg(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ffmpeg', args, opts);
}

/**
 * Runs ffprobe. With `-print_format json` / `-of json` in args the parsed JSON is returned,
 * otherwise stdout as a string.
 */
export async function runFfprobe(args: readonly string[], opts: RunOptions = {}): Promise<unknown> {
  const res = await run('ffprobe', args, opts);
  const text = res.stdout.toString('utf8');
  const json = args.some(
    (a, i) => i > 0 && ['-print_format', '-of', '-output_format'].includes(args[i - 1]!) && a.startsWith('json'),
  );
  if (!json) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RtcRecordError('INTERNAL', `ffprobe printed invalid JSON for ${args.join(' ')}`, { cause: err });
  }
}

/**
 * Runs a short ffmpeg query (`-encoders`, `-h long`, …) to completion synchronously and returns its stdout: for the
 * start-up capability probe, whose answers the argument builders need synchronously. FFMPEG_NOT_FOUND when it fails.
 */
export function queryFfmpegSync(binaryPath: string, args: readonly string[]): string {
  const res = spawnSync(binaryPath, ['-hide_banner', ...args], { encoding: 'utf8', timeout: 10_000, maxBuffer: 16 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.error || res.status !== 0) {
    const why = res.error?.message ?? (res.stderr.trim().split('\n').pop() || `exit ${res.status ?? res.signal}`);
    throw new RtcRecordError('FFMPEG_NOT_FOUND', `could not run ${binaryPath} ${args.join(' ')}: ${why}`, { cause: res.error });
  }
  return res.stdout;
}
