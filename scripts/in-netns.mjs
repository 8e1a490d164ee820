#!/usr/bin/env node
// Usage: node scripts/in-netns.mjs <cmd> [args...]
//
// Runs <cmd> inside a fresh, private network namespace where only `lo` exists and is up, so tests
// (browsers, TURN, the recorder) can never reach a non-loopback address. <cmd> is looked up in
// node_modules/.bin first, so `node scripts/in-netns.mjs vitest run` works.
//
// Env:
//   RTC_RECORD_NETNS=1     already inside such a namespace (set for the child): run <cmd> directly.
//   RTC_RECORD_NO_NETNS=1  if a namespace cannot be created (not root), run directly with a warning
//                          instead of failing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [cmd, ...args] = process.argv.slice(2);

if (!cmd) {
  console.error('usage: node scripts/in-netns.mjs <cmd> [args...]');
  process.exit(2);
}

function resolveCommand(name) {
  if (name.includes('/')) return name;
  for (const base of [process.cwd(), repoRoot]) {
    const candidate = join(base, 'node_modules', '.bin', name);
    if (existsSync(candidate)) return candidate;
  }
  return name; // let PATH resolve it
}

// Creating the namespace and raising lo is checked once up front, so a failure here is reported as
// such and never confused with the command's own exit code.
function canCreateNetns() {
  const probe = spawnSync('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'up'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10_000,
    encoding: 'utf8',
  });
  if (probe.error) return { ok: false, reason: probe.error.message };
  if (probe.status !== 0) return { ok: false, reason: (probe.stderr || '').trim() || `exit ${probe.status}` };
  return { ok: true, reason: '' };
}

const resolved = resolveCommand(cmd);
const env = { ...process.env };
let file;
let fileArgs;

if (process.env.RTC_RECORD_NETNS === '1') {
  [file, fileArgs] = [resolved, args];
} else {
  const { ok, reason } = canCreateNetns();
  if (ok) {
    env.RTC_RECORD_NETNS = '1';
    // unshare and sh both exec, so the spawned pid ends up being <cmd> itself and receives our
    // forwarded signals directly.
    file = 'unshare';
    fileArgs = ['-n', '--', 'sh', '-c', 'ip link set lo up || exit 125; exec "$0" "$@"', resolved, ...args];
  } else if (process.env.RTC_RECORD_NO_NETNS === '1') {
    console.warn(
      `in-netns: WARNING: cannot create a network namespace (${reason}); RTC_RECORD_NO_NETNS=1 so running ` +
        'WITHOUT network isolation.',
    );
    [file, fileArgs] = [resolved, args];
  } else {
    console.error(
      `in-netns: cannot create a private network namespace (${reason}).\n` +
        'Tests must run isolated on loopback: run as root (or with CAP_SYS_ADMIN), ' +
        'or set RTC_RECORD_NO_NETNS=1 to run without isolation at your own risk.',
    );
    process.exit(1);
  }
}

const child = spawn(file, fileArgs, { stdio: 'inherit', env });

const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const handlers = new Map();
for (const sig of forwarded) {
  const h = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  handlers.set(sig, h);
  process.on(sig, h);
}

child.on('error', (err) => {
  console.error(`in-netns: failed to start ${file}: ${err.message}`);
  process.exit(127);
});

child.on('exit', (code, signal) => {
  for (const [sig, h] of handlers) process.off(sig, h);
  if (signal) {
    // Die by the same signal so callers see the real cause; fall back to the shell convention.
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 1)), 1000).unref();
    return;
  }
  process.exit(code ?? 1);
});
