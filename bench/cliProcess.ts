/** The real `rtc-record` CLI (built dist/, through bin/rtc-record.js) as a child process, its output timestamped. */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_BIN, CLI_NODE_FLAGS } from './paths.js';

export interface Line {
  atMs: number;
  text: string;
}

export class CliProcess {
  readonly stdout: Line[] = [];
  readonly stderr: Line[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  private readonly child: ChildProcess;
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null };

  constructor(
    readonly args: string[],
    /** SIGKILL after this long whatever happens, so no run can leave a recorder behind. */
    maxLifetimeMs: number,
    /** Another checkout's CLI and node flags (bench:ab); default this checkout's, with its #! flags. */
    launch: { bin: string; nodeFlags: string[] } = { bin: CLI_BIN, nodeFlags: CLI_NODE_FLAGS },
    /** Its log level (RTC_RECORD_LOG_LEVEL; default the bench's own, else warn). */
    logLevel?: string,
  ) {
    // BENCH_CPU_PROF_DIR=dir: the recorder writes a V8 CPU profile there on exit (open it in Chrome DevTools).
    const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF_DIR] : [];
    // BENCH_NODE_FLAGS="--trace-gc …": extra node flags for the recorder (with --keep, its output is in recorder.log).
    profile.push(...(process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []));
    this.child = spawn(process.execPath, [...launch.nodeFlags, ...profile, launch.bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RTC_RECORD_LOG_LEVEL: logLevel ?? process.env.RTC_RECORD_LOG_LEVEL ?? 'warn' } });
    collect(this.child.stdout!, this.stdout);
    collect(this.child.stderr!, this.stderr);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve({ code, signal, atMs: Date.now() });
      }),
    );
    const guard = setTimeout(() => this.child.kill('SIGKILL'), maxLifetimeMs);
    guard.unref();
    void this.exited.then(() => clearTimeout(guard));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** The first stdout line matching `re` (waits for it), or an error carrying the output when the CLI exits or times out. */
  async waitForLine(re: RegExp, timeoutMs: number): Promise<{ line: Line; match: RegExpExecArray }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.stdout) {
        const match = re.exec(line.text);
        if (match) return { line, match };
      }
      if (!this.running || Date.now() > deadline) {
        throw new Error(`rtc-record: no line matching ${re} (${this.running ? 'timeout' : `exit ${this.exitInfo?.code ?? this.exitInfo?.signal}`}); ${this.outputTail()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  outputTail(lines = 8): string {
    const tail = (xs: Line[]) => xs.slice(-lines).map((l) => l.text).join('\n');
    return `stdout:\n${tail(this.stdout)}\nstderr:\n${tail(this.stderr)}`;
  }
}

function collect(stream: NodeJS.ReadableStream, into: Line[]): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    const atMs = Date.now();
    for (const text of parts) into.push({ atMs, text });
  });
  stream.on('end', () => {
    if (buf) into.push({ atMs: Date.now(), text: buf });
  });
}

/**
 * `rtc-record serve` on a free loopback port: the signaling server the recorder and the participants join through.
 * Mesh rooms (`--room-mode p2p`): the recording scenarios measure the recorder as the participants' peer, each sending
 * to it directly. In an SFU room (serve's default since ecfdc5d) their media reaches the recorder through the SFU under
 * SSRCs the SFU chose, and the loss check, which matches by SSRC, counted every packet as lost.
 */
export async function startSignalingServer(mode: 'p2p' | 'sfu' = 'p2p', logLevel?: string): Promise<{ wsUrl: string; process: CliProcess }> {
  // SFU rooms forward (the simulcast scenario): the recorder still joins over WebRTC, so the SFU's CPU is not the recorder's.
  const p = new CliProcess(['serve', '--port', '0', '--host', '127.0.0.1', '--room-mode', mode], 6 * 3600_000, undefined, logLevel);
  const { match } = await p.waitForLine(/listening on http:\/\/([\d.]+:\d+)/, 20_000);
  return { wsUrl: `ws://${match[1]}`, process: p };
}
