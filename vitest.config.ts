import { defineConfig } from 'vitest/config';

// E2E tests drive real Chromium + ffmpeg on a 2-core machine: run files one at a time so they do not starve each other.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
