import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/rtc-record.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Compiles src/ to dist/ (tsc): the CLI runs from dist/, and a test of it must run the current source. Skipped when
 * dist/ is already built from the current source (`npm test` builds it just before vitest; six files call this, and
 * each tsc run cost 7-15 s of a loaded CI machine): see distIsFresh.
 */
export function buildDist(): void {
  if (distIsFresh()) return;
  execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${ROOT}tsconfig.json`], { stdio: 'inherit' });
}

/** True when every src/ .ts file has a dist/ .js at least as new as it, and tsconfig.json is older than them all. */
export function distIsFresh(root = ROOT): boolean {
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  let oldestOut = Infinity;
  const walk = (dir: string): boolean => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!walk(path)) return false;
        continue;
      }
      if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
      const out = join(dist, relative(src, path)).replace(/\.ts$/, '.js');
      let outMs: number;
      try {
        outMs = statSync(out).mtimeMs;
      } catch {
        return false;
      }
      if (outMs < statSync(path).mtimeMs) return false;
      oldestOut = Math.min(oldestOut, outMs);
    }
    return true;
  };
  try {
    return walk(src) && oldestOut !== Infinity && statSync(join(root, 'tsconfig.json')).mtimeMs <= oldestOut;
  } catch {
    return false;
  }
}

/**
 * For a test file that runs `rtc-record serve`: dist/ is built before its tests, and the returned list's cleanups
 * (servers, browsers) run after each test, last added first.
 */
export function serveTestLifecycle(): Array<() => Promise<unknown> | unknown> {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  beforeAll(buildDist, 120_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}

/** The real `rtc-record` CLI (built dist/) as a child process, with its output collected line by line. */
export class CliProcess {
  readonly stdout: string[] = [];
  /** When each stdout line arrived (epoch ms), same order. */
  readonly stdoutTimes: number[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  /**
   * `wrap` runs the CLI through another command that ends by exec'ing it (e.g. `unshare -m sh -c '…; exec "$@"'`), so
   * the pid, signals and exit status are still the CLI's own.
   */
  /** `detached`: in a session (and so a scheduling autogroup) of its own, which favourProcess can favour. */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, wrap?: { command: string; prefix: string[] }, opts: { detached?: boolean } = {}) {
    // Executed directly, like the installed command: its #! line brings the node flags users run with.
    const argv = [BIN, ...args];
    this.child = spawn(wrap ? wrap.command : argv[0]!, wrap ? [...wrap.prefix, ...argv] : argv.slice(1), {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: opts.detached,
    });
    this.collect(this.child.stdout!, this.stdout, this.stdoutTimes);
    this.collect(this.child.stderr!, this.stderr);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    // Never outlive the test run.
    const guard = setTimeout(() => this.child.kill('SIGKILL'), 10 * 60_000);
    guard.unref();
    void this.exited.then(() => clearTimeout(guard));
  }

  get pid(): number {
    return this.child.pid!;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Resolves with the first stdout line matching `re`. */
  async waitForLine(re: RegExp, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.stdout.find((l) => re.test(l));
      if (line) return line;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no line matching ${re} (exit ${this.child.exitCode}); stdout:\n${this.stdout.join('\n')}\nstderr:\n${this.stderr.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * When the first stdout line matching `re` arrived (epoch ms). "stopping…" says when the CLI handled a stop signal:
   * on a starved machine that can be seconds after the signal was sent, and the recording ends then, not at the kill.
   */
  lineArrivedAt(re: RegExp): number | undefined {
    const i = this.stdout.findIndex((l) => re.test(l));
    return i < 0 ? undefined : this.stdoutTimes[i];
  }

  private collect(stream: NodeJS.ReadableStream, into: string[], times?: number[]): void {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      into.push(...lines);
      times?.push(...lines.map(() => Date.now()));
    });
    stream.on('end', () => {
      if (!buf) return;
      into.push(buf);
      times?.push(Date.now());
    });
  }
}
