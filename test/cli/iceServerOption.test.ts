import { describe, expect, it } from 'vitest';
import { iceServersFromEnv, parseIceServer } from '../../src/cli/iceServerOption.js';

describe('--ice-server', () => {
  it('parses STUN and TURN with inline, percent-encoded credentials', () => {
    expect(parseIceServer('stun:127.0.0.1:3478')).toEqual({ urls: 'stun:127.0.0.1:3478' });
    expect(parseIceServer('turn:al%40ice:p%3Ass@127.0.0.1:3478?transport=udp')).toEqual({
      urls: 'turn:127.0.0.1:3478?transport=udp',
      username: 'al@ice',
      credential: 'p:ss',
    });
  });

  it('refuses TURN without credentials and garbage', () => {
    expect(() => parseIceServer('turn:127.0.0.1:3478')).toThrow(/needs credentials/);
    expect(() => parseIceServer('http://x')).toThrow(/expected stun/);
  });

  it('reads RTC_RECORD_ICE_SERVERS as JSON', () => {
    expect(iceServersFromEnv({ RTC_RECORD_ICE_SERVERS: '[{"urls":"stun:127.0.0.1:1"}]' })).toEqual([{ urls: 'stun:127.0.0.1:1' }]);
    expect(() => iceServersFromEnv({ RTC_RECORD_ICE_SERVERS: '{' })).toThrow(/JSON array/);
    expect(iceServersFromEnv({})).toEqual([]);
  });
});
