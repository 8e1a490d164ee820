#!/usr/bin/env node
// The system packages the test suite needs (Debian/Ubuntu names) and their set-up, run first by `npm test`:
// as root, installs whatever is missing with apt-get; otherwise prints the one command that does it and fails.
// Run alone (`node scripts/system-deps.mjs`) it only does the set-up.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Package → how to tell it is installed. */
const NEEDS = [
  // The tests analyse recordings with the system ffmpeg and ffprobe (the bundled ffmpeg has no ffprobe).
  ['ffmpeg', () => onPath('ffmpeg') && onPath('ffprobe')],
  ['chromium', () => existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')],
  ['coturn', () => onPath(process.env.TURNSERVER_PATH ?? 'turnserver')],
  // scripts/in-netns.mjs: `unshare -n`, then `ip link set lo up`.
  ['iproute2', () => onPath('ip')],
  ['util-linux', () => onPath('unshare')],
  // Participant names on the mixed video are drawn with DejaVu Sans.
  ['fonts-dejavu-core', () => existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')],
  ['redis-server', () => onPath('redis-server')],
  // Opus decoding (and FEC) through the system libopus (src/media/audio/libopus.ts); ffmpeg depends on it too.
  ['libopus0', () => ['/usr/lib/x86_64-linux-gnu/libopus.so.0', '/usr/lib/aarch64-linux-gnu/libopus.so.0', '/usr/lib/libopus.so.0'].some((f) => existsSync(f))],
  // SRTP's AES-GCM through the system libcrypto (src/peer/srtp/libcrypto.ts); most systems have it already.
  ['libssl3', () => ['/usr/lib/x86_64-linux-gnu/libcrypto.so.3', '/usr/lib/aarch64-linux-gnu/libcrypto.so.3', '/usr/lib/libcrypto.so.3'].some((f) => existsSync(f))],
];

export function missingPackages() {
  return NEEDS.filter(([, installed]) => !installed()).map(([pkg]) => pkg);
}

/** True when everything is there (installed now if need be); false after saying what to do. */
export function ensureSystemPackages() {
  const missing = missingPackages();
  if (missing.length === 0) return true;
  if (process.getuid?.() !== 0) {
    console.error(`npm test: missing system packages: ${missing.join(' ')}. Run the tests as root once; they install them first:`);
    console.error('  sudo env "PATH=$PATH" npm test');
    return false;
  }
  if (!onPath('apt-get')) {
    console.error(`npm test: missing system packages: ${missing.join(' ')}, and no apt-get to install them: install them by hand.`);
    return false;
  }
  console.log(`npm test: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...missing]]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) {
      console.error(`npm test: apt-get ${args[0]} failed (exit ${r.status ?? r.signal})`);
      return false;
    }
  }
  const still = missingPackages();
  if (still.length) console.error(`npm test: still missing after apt-get install: ${still.join(' ')}`);
  return still.length === 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(ensureSystemPackages() ? 0 : 1);
