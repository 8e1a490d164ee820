import { describe, expect, it } from 'vitest';
import { ParticipantClock } from '../../../src/media/rtp/ParticipantClock.js';

// A sender whose wall clock runs 5 s ahead of ours; the network adds 20 ms (audio) / 35 ms (video, paced) of delay.
const SENDER_AHEAD = 5000;
const origin = 1_000_000;

describe('ParticipantClock', () => {
  it('before any sender report: first-packet arrival, then media time from RTP timestamps', () => {
    const pc = new ParticipantClock(origin);
    const a = pc.track(1, 48_000);
    a.observe(1000, origin + 100);
    a.observe(1000 + 960, origin + 125); // arrived late: does not move the mapping
    expect(a.toTimeline(1000)).toBe(100);
    expect(a.toTimeline(1000 + 960)).toBe(120);
    expect(a.hasSenderReport).toBe(false);
  });

  it('with sender reports puts audio and video of one participant on one timeline (captured-together stays together)', () => {
    const pc = new ParticipantClock(origin);
    const audio = pc.track(1, 48_000);
    const video = pc.track(2, 90_000);
    // Both captured at our time origin + 2000 (sender clock + 5000); RTP bases are arbitrary.
    const captured = origin + 2000;
    const aTs = 123_456;
    const vTs = 4_000_000_000; // near the 32-bit wrap
    audio.observe(aTs, captured + 20);
    video.observe(vTs, captured + 35);
    audio.onSenderReport(aTs, captured + SENDER_AHEAD, captured + 20);
    video.onSenderReport(vTs, captured + SENDER_AHEAD, captured + 36);
    // Offset = sender→ours with the least delay seen (the audio's 20 ms).
    expect(pc.senderOffsetMs).toBe(-SENDER_AHEAD + 20);
    expect(audio.toTimeline(aTs)).toBeCloseTo(2020, 6);
    expect(video.toTimeline(vTs)).toBeCloseTo(2020, 6);
    // One second later on both (video across the RTP timestamp wrap).
    const vLater = (vTs + 90_000) % 0x100000000;
    video.observe(vLater, captured + 1000 + 35);
    expect(video.toTimeline(vLater)).toBeCloseTo(3020, 6);
    expect(audio.toTimeline(aTs + 48_000)).toBeCloseTo(3020, 6);
  });
});
