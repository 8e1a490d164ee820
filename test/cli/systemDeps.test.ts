// `npm test`'s own set-up (scripts/system-deps.mjs): what it does when system packages are missing, as root and not.
// (The apt-get install itself cannot run here: tests have no network.)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'system-deps.mjs');
const ALL = ['ffmpeg', 'chromium', 'coturn', 'iproute2', 'util-linux', 'redis-server'];

let nodeOnly: string;
beforeAll(() => {
  nodeOnly = join(mkdtempSync(join(tmpdir(), 'rtc-deps-')), 'bin');
  mkdirSync(nodeOnly);
  symlinkSync(process.execPath, join(nodeOnly, 'node'));
});

function run(env: NodeJS.ProcessEnv, asNobody = false): { status: number | null; out: string } {
  // Absolute paths: `env` may have a PATH without them.
  const argv = [process.execPath, SCRIPT];
  const r = asNobody
    ? spawnSync('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv], { env, encoding: 'utf8' })
    : spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('npm test set-up: system packages', () => {
  it('with everything installed: nothing to do', () => {
    expect(run(process.env)).toEqual({ status: 0, out: '' });
  });

  it('not root: names what is missing and prints the one command to run', () => {
    const { status, out } = run({ PATH: nodeOnly, CHROMIUM_PATH: '/nonexistent/chromium' }, true);
    expect(status).toBe(1);
    for (const pkg of ALL) expect(out).toContain(pkg);
    expect(out).toContain('sudo env "PATH=$PATH" npm test');
  });

  it('root without apt-get: says to install them by hand', () => {
    const { status, out } = run({ PATH: nodeOnly, CHROMIUM_PATH: '/nonexistent/chromium' });
    expect(status).toBe(1);
    expect(out).toMatch(/missing system packages: ffmpeg chromium coturn iproute2 util-linux redis-server, and no apt-get/);
  });
});
