#!/usr/bin/env node
// `npm test`: install the system packages the suite needs (as root; see system-deps.mjs), build, run the whole suite
// inside a loopback-only network namespace, then print one plain closing line ("tests: N passed, N failed, N skipped")
// that any CI log reader understands. Extra args go to vitest.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSystemPackages } from './system-deps.mjs';

if (!ensureSystemPackages()) process.exit(1);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const report = join(root, '.cache', 'vitest-report.json');
const retriedFile = join(root, '.cache', 'retried.json');
mkdirSync(dirname(report), { recursive: true });
rmSync(report, { force: true });
rmSync(retriedFile, { force: true });

const build = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const run = spawnSync(
  process.execPath,
  [join(root, 'scripts', 'in-netns.mjs'), 'vitest', 'run', '--reporter=default', '--reporter=./test/harness/retryReporter.ts', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);

try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  let retried = [];
  try {
    retried = JSON.parse(readFileSync(retriedFile, 'utf8'));
  } catch {}
  const flaky = retried.length ? ` (${retried.length} of them only on a retry: ${retried.map((t) => t.name).join('; ')})` : '';
  console.log(`tests: ${r.numPassedTests} passed${flaky}, ${r.numFailedTests} failed, ${skipped} skipped`);
} catch {
  console.log('tests: 0 passed, 1 failed (no report: the run did not complete)');
}
process.exit(run.status ?? 1);
