#!/usr/bin/env -S node --max-semi-space-size=8 --single-threaded-gc
// Thin launcher: the CLI lives in dist/ (built by `npm run build`, run automatically by `npm ci` via `prepare`).
//
// --max-semi-space-size=8 (MiB; V8's default grows to 16): the mixers hold ~1 s of packets, so V8 keeps a young
// generation larger than the old generation's headroom and then marks the old generation almost continuously (a full
// GC every ~2 s). Capped at 8, the audio-only recorder used 10 % less CPU; composite and tracks-only were unchanged
// (bench/README.md, "Profiling").
// --single-threaded-gc: V8's four helper threads cost more in coordination than they took off the one busy thread
// here. Measured side by side (bench:ab, 3 rounds): audio-only −3.5 %, tracks-only −2.4 %, composite −1 %.
// Run as `node bin/rtc-record.js`, these flags are not applied: pass them yourself.
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(`rtc-record: ${err?.message ?? err}`);
  process.exit(1);
});
