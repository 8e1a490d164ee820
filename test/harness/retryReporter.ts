// Tests that passed only on their retry (the real project allows one: browsers and timers on a shared 2-core machine):
// each is named at the end of the run, with its first attempt's error, and written to .cache/retried.json for the
// closing line of `npm test` — a retry is a flaky test to look at, never hidden.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Reporter, TestCase } from 'vitest/node';

export interface RetriedTest {
  name: string;
  file: string;
  /** The failed attempts' errors (first line each), when vitest kept them. */
  errors: string[];
}

const RETRIED_FILE = join(process.cwd(), '.cache', 'retried.json');

export default class RetryReporter implements Reporter {
  private readonly retried: RetriedTest[] = [];

  onTestCaseResult(test: TestCase): void {
    if (!test.diagnostic()?.flaky) return;
    const errors = (test.result().errors ?? []).map((e) => String(e.message ?? e).split('\n')[0]!);
    this.retried.push({ name: test.fullName, file: test.module.relativeModuleId, errors });
  }

  onTestRunEnd(): void {
    mkdirSync(dirname(RETRIED_FILE), { recursive: true });
    writeFileSync(RETRIED_FILE, JSON.stringify(this.retried, null, 2));
    if (!this.retried.length) return;
    console.log(`\npassed only on a retry (${this.retried.length}):`);
    for (const t of this.retried) console.log(`  ${t.file} > ${t.name}${t.errors.length ? `\n    first attempt: ${t.errors.join(' | ')}` : ''}`);
  }
}
