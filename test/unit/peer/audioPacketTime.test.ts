import { describe, expect, it } from 'vitest';
import { AUDIO_PACKET_TIME_MS, audioPacketTime, withAudioPacketTime } from '../../../src/peer/audioPacketTime.js';

const SDP = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'a=mid:0',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'a=mid:1',
  'a=rtpmap:96 VP8/90000',
  '',
].join('\r\n');

describe('audio packet time in our answer', () => {
  it('adds a=ptime to audio sections only, keeps everything else and the line endings', () => {
    const out = withAudioPacketTime(SDP, 60);
    const lines = out.split('\r\n');
    expect(lines.filter((l) => l.startsWith('a=ptime:'))).toEqual(['a=ptime:60']);
    // Inside the audio section, before the video section.
    expect(lines.indexOf('a=ptime:60')).toBeGreaterThan(lines.indexOf('m=audio 9 UDP/TLS/RTP/SAVPF 111'));
    expect(lines.indexOf('a=ptime:60')).toBeLessThan(lines.indexOf('m=video 9 UDP/TLS/RTP/SAVPF 96'));
    expect(out.replace('a=ptime:60\r\n', '')).toBe(SDP);
    expect(out.endsWith('\r\n')).toBe(true);
    expect(audioPacketTime(out)).toBe(60);
  });

  it('leaves a section that already has a ptime, and SDP without audio, alone', () => {
    const once = withAudioPacketTime(SDP);
    expect(withAudioPacketTime(once, 20)).toBe(once);
    const videoOnly = SDP.replace(/m=audio[\s\S]*?(?=m=video)/, '');
    expect(withAudioPacketTime(videoOnly)).toBe(videoOnly);
    expect(audioPacketTime(videoOnly)).toBeUndefined();
    expect(audioPacketTime(once)).toBe(AUDIO_PACKET_TIME_MS);
  });
});
