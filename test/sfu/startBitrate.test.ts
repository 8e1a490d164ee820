// The SFU's answer to a publishing browser tells it where to start its uplink estimate (x-google-start-bitrate).
import { describe, expect, it } from 'vitest';
import { withStartBitrate } from '../../src/sfu/startBitrate.js';

const ANSWER = [
  'v=0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 nack pli',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  '',
].join('\r\n');

describe('withStartBitrate', () => {
  it('adds the start bitrate to every video codec (an fmtp line for VP8, which has none), not to audio or RTX', () => {
    const lines = withStartBitrate(ANSWER, 2000).split('\r\n');
    expect(lines).toContain('a=fmtp:96 x-google-start-bitrate=2000');
    expect(lines.indexOf('a=fmtp:96 x-google-start-bitrate=2000')).toBe(lines.indexOf('a=rtpmap:96 VP8/90000') + 1);
    expect(lines).toContain('a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f;x-google-start-bitrate=2000');
    expect(lines).toContain('a=fmtp:111 minptime=10;useinbandfec=1');
    expect(lines).toContain('a=fmtp:97 apt=96');
    expect(lines.filter((l) => l.includes('x-google'))).toHaveLength(2);
    expect(withStartBitrate(ANSWER, 2000).endsWith('\r\n')).toBe(true);
  });

  it('leaves a start bitrate already there alone', () => {
    const once = withStartBitrate(ANSWER, 2000);
    expect(withStartBitrate(once, 800)).toBe(once);
  });
});
