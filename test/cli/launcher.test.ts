// bin/rtc-record.js is run through its #! line (as the installed `rtc-record` command is): the node flags there must
// reach the process that records (see the comment in bin/rtc-record.js for why they exist).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliProcess } from '../harness/cli.js';

describe('bin/rtc-record.js launcher', () => {
  it('runs the CLI under node with the flags of its #! line, as one process (signals reach the CLI itself)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rtc-launcher-'));
    const cli = new CliProcess(['serve', '--port', '0', '--host', '127.0.0.1', '--out', out, '--log-level', 'info']);
    try {
      await cli.waitForLine(/listening on http:\/\/127\.0\.0\.1:\d+/);
      // pino writes to stderr: the process says which Opus decoder it uses (the WASM fallback: test/unit/nativeLibrariesLog).
      expect(cli.stderr.join('\n')).toMatch(/opus: decoding with the system libopus/);
      const argv = readFileSync(`/proc/${cli.pid}/cmdline`, 'utf8').split('\0');
      expect(argv).toContain('--max-semi-space-size=8');
      expect(argv).toContain('--single-threaded-gc');
      expect(argv.some((a) => a.endsWith('bin/rtc-record.js'))).toBe(true);
      cli.kill('SIGTERM');
      expect(await cli.exited).toEqual({ code: 0, signal: null });
    } finally {
      cli.kill('SIGKILL');
    }
  });
});
