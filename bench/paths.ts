import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory above this file whose package.json is rtc-record's (works from src and build). */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'rtc-record') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the rtc-record repository root');
    dir = up;
  }
}

export const REPO_ROOT = findRepoRoot();
/** Encoded fixtures, recordings of the current run and the compiled bench live here (.cache/ is git-ignored). */
export const CACHE_DIR = join(REPO_ROOT, '.cache', 'bench');
export const FIXTURE_DIR = join(CACHE_DIR, 'fixtures');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
/** The CLI under test, exactly as users run it. */
export const CLI_BIN = join(REPO_ROOT, 'bin', 'rtc-record.js');
/** The node flags of a CLI's `#!/usr/bin/env -S node …` line: the runtime settings users of that checkout get. */
export function shebangNodeFlags(bin: string): string[] {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0]!;
  return (first.match(/^#!\S*env -S node(.*)$/)?.[1] ?? '').split(/\s+/).filter(Boolean);
}
/** The bench runs the CLI with this node (process.execPath) plus profiling flags, and still with its #! flags. */
export const CLI_NODE_FLAGS = shebangNodeFlags(CLI_BIN);
/** Compiled bench scripts run as their own processes (load generator, self-check load). */
export const BUILD_BENCH_DIR = dirname(fileURLToPath(import.meta.url));
