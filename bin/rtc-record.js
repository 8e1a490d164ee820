#!/usr/bin/env -S node --max-semi-space-size=8
// Thin launcher: the CLI lives in dist/ (built by `npm run build`, run automatically by `npm ci` via `prepare`).
//
// --max-semi-space-size=8 (MiB; V8's default grows to 16): the mixers hold ~1 s of packets, so V8 keeps a young
// generation larger than the old generation's headroom and then marks the old generation almost continuously (a full
// GC every ~2 s). Capped at 8, the audio-only recorder used 10 % less CPU; composite and tracks-only were unchanged
// (bench/README.md, "Profiling"). Run as `node bin/rtc-record.js`, the flag is not applied: pass it yourself.
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(`rtc-record: ${err?.message ?? err}`);
  process.exit(1);
});
