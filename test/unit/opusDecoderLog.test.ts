// Without a loadable libopus the process still decodes (WASM), and says so once at startup with the reason.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { logOpusDecoder } from '../../src/cli/opusDecoderLog.js';

describe('logOpusDecoder', () => {
  it('warns, with the reason, when Opus falls back to WASM', () => {
    // Read once per process and cached: set before the first libopus() call (each test file runs in its own worker).
    process.env.RTC_RECORD_LIBOPUS = '0';
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    logOpusDecoder(pino({ level: 'info' }, sink));
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as { level: number; msg: string; reason: string };
    expect(entry.level).toBe(40);
    expect(entry.msg).toMatch(/no system libopus, decoding with WASM/);
    expect(entry.reason).toBe('disabled (RTC_RECORD_LIBOPUS=0)');
  });
});
