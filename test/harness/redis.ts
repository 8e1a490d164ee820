// A throwaway real redis-server (Debian `redis-server`) on 127.0.0.1 for tests of everything that runs on Redis
// (the room registry, recording jobs). Configured entirely by arguments: no /etc/redis config, no RDB snapshots, an
// append-only file in its own temp dir, so restart() brings the same data back (a test can simulate a Redis restart).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNetworkIsolated } from './netns.js';
import { freePort, waitFor } from './util.js';

export const REDIS_SERVER_PATH = process.env.REDIS_SERVER_PATH ?? 'redis-server';

export interface StartRedisOptions {
  /** Keep data across restart() in an append-only file (fsync'd on every write). Default true. */
  appendonly?: boolean;
  /** Hard cap on the server's life even if stop() is never called. Default 900 s. */
  maxLifetimeSeconds?: number;
  /** Echo redis-server's log to stdout (also when env RTC_RECORD_REDIS_LOG=1). */
  log?: boolean;
  /** More `--name value` arguments for redis-server. */
  args?: string[];
}

export interface RedisServer {
  /** redis://127.0.0.1:port */
  url: string;
  port: number;
  /** The data directory (append-only file), kept across restart(). */
  dir: string;
  /** redis-server's log lines so far (all runs, the last 2000). */
  logs: string[];
  /** Idempotent: stops the server and removes its data directory. */
  stop(): Promise<void>;
  /** Stops (SIGTERM: the append-only file is flushed) and starts again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the server without removing its data (SIGKILL with hard: true, a crash); start() brings it back. */
  kill(opts?: { hard?: boolean }): Promise<void>;
  /** Starts it again after kill(), same port and data. */
  start(): Promise<void>;
}

const MAX_LOG_LINES = 2000;

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  assertNetworkIsolated('startRedis');
  const echo = opts.log ?? process.env.RTC_RECORD_REDIS_LOG === '1';
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'rtc-record-redis-'));
  const logs: string[] = [];
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', opts.appendonly === false ? 'no' : 'yes',
    '--appendfsync', 'always',
    '--daemonize', 'no',
    '--logfile', '',
    '--databases', '16',
    ...(opts.args ?? []),
  ];

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const onProcessExit = () => child?.kill('SIGKILL');
  process.on('exit', onProcessExit);

  const launch = async (): Promise<void> => {
    // `timeout` guarantees the server dies on its own even if the test process is killed hard.
    const c = spawn('timeout', ['--signal=TERM', '--kill-after=5', String(opts.maxLifetimeSeconds ?? 900), REDIS_SERVER_PATH, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    let gone = false;
    exited = new Promise<void>((resolve) =>
      c.once('exit', () => {
        gone = true;
        resolve();
      }),
    );
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        logs.push(line);
        if (echo) console.log(`[redis:${port}] ${line}`);
      }
      if (logs.length > MAX_LOG_LINES) logs.splice(0, logs.length - MAX_LOG_LINES);
    };
    c.stdout!.on('data', onData);
    c.stderr!.on('data', onData);
    c.once('error', (err) => logs.push(`spawn error: ${err.message}`));
    try {
      await waitFor(
        async () => {
          if (gone) throw new Error('redis-server exited');
          return ping(port);
        },
        { timeoutMs: 15_000, intervalMs: 50, description: `redis-server answering PING on 127.0.0.1:${port}` },
      );
    } catch (err) {
      c.kill('SIGKILL');
      await exited;
      throw new Error(`${(err as Error).message}\n--- redis-server log ---\n${logs.slice(-40).join('\n')}`, { cause: err });
    }
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    // `timeout` forwards TERM to redis-server (a clean shutdown); KILL would only kill `timeout`, so kill its child too.
    if (signal === 'SIGKILL' && c.pid) killChildrenOf(c.pid);
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await launch().catch(async (err) => {
    process.off('exit', onProcessExit);
    await rm(dir, { recursive: true, force: true });
    throw err;
  });

  let stopped: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    logs,
    stop: () =>
      (stopped ??= (async () => {
        await halt('SIGTERM');
        process.off('exit', onProcessExit);
        await rm(dir, { recursive: true, force: true });
      })()),
    restart: async () => {
      await halt('SIGTERM');
      await launch();
    },
    kill: ({ hard = false } = {}) => halt(hard ? 'SIGKILL' : 'SIGTERM'),
    start: () => launch(),
  };
}

/** One inline PING; true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      // "-LOADING" while the append-only file is replayed: not ready yet.
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

/** SIGKILL to the direct children of `pid` (redis-server under `timeout`), read from /proc. */
function killChildrenOf(pid: number): void {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const c of children) process.kill(Number(c), 'SIGKILL');
  } catch {
    // Already gone.
  }
}
