// Without a loadable libopus or libcrypto the process still works (WASM Opus, node's crypto for SRTP, node's dgram to
// send, node's spawn for ffmpeg), and says so
// once at startup with the reasons.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { logNativeLibraries } from '../../src/cli/nativeLibrariesLog.js';

describe('logNativeLibraries', () => {
  it('warns, with the reasons, when Opus falls back to WASM and SRTP to node crypto', () => {
    // Read once per process and cached: set before the first use (each test file runs in its own worker).
    process.env.RTC_RECORD_LIBOPUS = '0';
    process.env.RTC_RECORD_SRTP = 'node';
    process.env.RTC_RECORD_SPAWN = 'node';
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    logNativeLibraries(pino({ level: 'info' }, sink));
    const entries = lines.map((l) => JSON.parse(l) as { level: number; msg: string; reason: string });
    expect(entries).toHaveLength(4);
    expect(entries.map((e) => e.level)).toEqual([40, 40, 30, 30]);
    expect(entries[0]!.msg).toMatch(/no system libopus, decoding with WASM/);
    expect(entries[0]!.reason).toBe('disabled (RTC_RECORD_LIBOPUS=0)');
    expect(entries[1]!.msg).toMatch(/srtp: AES-GCM through node's crypto/);
    expect(entries[1]!.reason).toBe('disabled (RTC_RECORD_SRTP=node)');
    // The in-place send path needs libcrypto's SRTP: without it, node's dgram, and why.
    expect(entries[2]!.msg).toMatch(/udp: forwarded RTP sent through node's dgram/);
    expect(entries[2]!.reason).toBe('disabled (RTC_RECORD_SRTP=node)');
    expect(entries[3]!.msg).toMatch(/ffmpeg: children started with node's spawn/);
    expect(entries[3]!.reason).toBe('disabled (RTC_RECORD_SPAWN=node)');
  });
});
