#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built by `npm run build`, run automatically by `npm ci` via `prepare`).
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(`rtc-record: ${err?.message ?? err}`);
  process.exit(1);
});
