// A throwaway coturn (Debian `turnserver`) on 127.0.0.1 for tests that force relayed ICE.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNetworkIsolated } from './netns.js';
import { freePort, waitFor } from './util.js';

export const TURNSERVER_PATH = process.env.TURNSERVER_PATH ?? 'turnserver';

export interface StartTurnServerOptions {
  username?: string;
  credential?: string;
  realm?: string;
  /** Hard cap on the server's life even if stop() is never called. Default 600 s. */
  maxLifetimeSeconds?: number;
  /** Echo coturn's log to stdout (also when env RTC_RECORD_TURN_LOG=1). */
  log?: boolean;
  /** coturn --verbose: logs each ALLOCATE/CREATE_PERMISSION/CHANNEL_BIND (not data). Default true. */
  verbose?: boolean;
}

export interface TurnServer {
  urls: string[];
  username: string;
  credential: string;
  realm: string;
  port: number;
  /** coturn's log lines so far (the last 5000). */
  logs: string[];
  /** Idempotent. */
  stop(): Promise<void>;
}

const MAX_LOG_LINES = 5000;

export async function startTurnServer(opts: StartTurnServerOptions = {}): Promise<TurnServer> {
  assertNetworkIsolated('startTurnServer');
  const username = opts.username ?? 'rtc-record';
  const credential = opts.credential ?? 'rtc-record-secret';
  const realm = opts.realm ?? 'rtc-record.test';
  const maxLifetime = opts.maxLifetimeSeconds ?? 600;
  const echo = opts.log ?? process.env.RTC_RECORD_TURN_LOG === '1';
  const port = await freePort();
  // coturn always opens a SQLite user DB and writes a pid file; keep both out of /var.
  const dir = await mkdtemp(join(tmpdir(), 'rtc-record-turn-'));

  const turnArgs = [
    '-n', // no config file: nothing from /etc/turnserver.conf
    '--no-cli',
    '--log-file=stdout',
    '--simple-log',
    `--pidfile=${join(dir, 'turnserver.pid')}`,
    `--userdb=${join(dir, 'turndb')}`,
    '--listening-ip=127.0.0.1',
    '--relay-ip=127.0.0.1',
    `--listening-port=${port}`,
    '--no-tls',
    '--no-dtls',
    '--no-rfc5780',
    '--lt-cred-mech',
    `--user=${username}:${credential}`,
    `--realm=${realm}`,
    '--fingerprint',
    // Both peers' relayed addresses are 127.0.0.1:*, and coturn refuses loopback peers by default.
    '--allow-loopback-peers',
    '--no-software-attribute',
  ];
  if (opts.verbose ?? true) turnArgs.push('--verbose');
  // `timeout` guarantees the server dies on its own even if the test process is killed hard.
  const child = spawn('timeout', ['--signal=TERM', '--kill-after=5', String(maxLifetime), TURNSERVER_PATH, ...turnArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  const logs: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      logs.push(line);
      if (echo) console.log(`[turn] ${line}`);
    }
    if (logs.length > MAX_LOG_LINES) logs.splice(0, logs.length - MAX_LOG_LINES);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.once('error', (err) => logs.push(`spawn error: ${err.message}`));
  // Last resort if the test process exits without calling stop().
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.off('exit', onExit);
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitPromise;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    await waitFor(
      async () => {
        if (exited) throw new Error('turnserver exited');
        return stunBindingOk(port);
      },
      { timeoutMs: 15_000, intervalMs: 100, description: `turnserver answering STUN on 127.0.0.1:${port}` },
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- turnserver log ---\n${logs.slice(-40).join('\n')}`, { cause: err });
  }

  return {
    urls: [`turn:127.0.0.1:${port}?transport=udp`],
    username,
    credential,
    realm,
    port,
    logs,
    stop,
  };
}

/** Sends one STUN Binding Request over UDP and resolves true if a success response arrives. */
export function stunBindingOk(port: number, host = '127.0.0.1', timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const txId = randomBytes(12);
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0); // Binding Request
    req.writeUInt16BE(0, 2); // no attributes
    req.writeUInt32BE(0x2112a442, 4); // magic cookie
    txId.copy(req, 8);
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('error', () => finish(false));
    sock.on('message', (msg) => {
      finish(msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(txId));
    });
    sock.send(req, port, host);
  });
}
