import { defineConfig } from 'vitest/config';

/**
 * Tests that only compute (parsers, media cores with pre-encoded input, HTTP/signaling handlers, the recordings
 * service with stand-ins): two files at a time, before everything else.
 */
const COMPUTE = ['test/unit/media/**/*.test.ts', 'test/unit/*.test.ts', 'test/media/**/*.test.ts', 'test/http/**/*.test.ts', 'test/signaling/**/*.test.ts', 'test/bench/**/*.test.ts', 'test/recording/**/*.test.ts'];
/** In COMPUTE's folders, but timed: CPU budgets, real UDP relays and timers, Redis-backed jobs. */
const TIMED = ['test/media/**/*.cpu.test.ts', 'test/unit/impairmentRelay.test.ts', 'test/unit/redisHarness.test.ts', 'test/recording/jobs/**/*.test.ts'];
/** Real peers, browsers, servers, Redis, ffmpeg: one file at a time (a 2-core machine; e2e tests drive Chromium). */
const REAL = ['test/e2e/**/*.test.ts', 'test/sfu/**/*.test.ts', 'test/cluster/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/unit/peer/**/*.test.ts', ...TIMED];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The retry reporter names every test that passed only on its retry (see the real project).
    reporters: ['default', './test/harness/retryReporter.ts'],
    projects: [
      { extends: true, test: { name: 'compute', include: COMPUTE, exclude: TIMED, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      // After the compute group, so nothing else runs beside them.
      // One retry: six Chromiums, ffmpeg and the server share two cores with whatever else the machine runs, and a
      // timing check can miss once; a test that passes only on its retry is named at the end of the run.
      { extends: true, test: { name: 'real', include: REAL, fileParallelism: false, retry: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
