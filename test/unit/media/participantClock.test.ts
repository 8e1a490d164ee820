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

  it('measures the offset on audio: paced video (reports stamped at send time) does not drag the audio earlier', () => {
    const pc = new ParticipantClock(origin);
    const audio = pc.track(1, 48_000, 'audio');
    const video = pc.track(2, 90_000, 'video');
    const t0 = origin + 1000;
    audio.observe(0, t0 + 5);
    audio.onSenderReport(0, t0 + SENDER_AHEAD, t0 + 5);
    // A keyframe paced out for 120 ms: the sender's report pairs its capture timestamp with the send time.
    video.observe(0, t0 + 125);
    video.onSenderReport(0, t0 + SENDER_AHEAD + 120, t0 + 125);
    video.observe(9000, t0 + 100 + 8); // a small frame 100 ms later, sent at once: "arrived 112 ms early"
    expect(pc.senderOffsetMs).toBe(-SENDER_AHEAD + 5);
    expect(audio.toTimeline(48_000)).toBeCloseTo(2005, 6);
  });

  it('distrusts a sender report that contradicts the earlier ones by more than 0.5 s, until the sender insists', () => {
    const pc = new ParticipantClock(origin);
    const a = pc.track(1, 48_000);
    const t0 = origin + 1000;
    a.observe(0, t0 + 10);
    expect(a.onSenderReport(0, t0 + SENDER_AHEAD, t0 + 10)).toBe('used');
    a.observe(48_000, t0 + 1010);
    // One second later a report claims the sender's clock is 3 s further on: broken, not followed.
    expect(a.onSenderReport(48_000, t0 + SENDER_AHEAD + 4000, t0 + 1010)).toBe('distrusted');
    expect(a.toTimeline(48_000)).toBeCloseTo(2010, 6);
    expect(pc.distrustedReports).toBe(1);
    // A small disagreement (sender clock drift, 40 ms) is fine.
    a.observe(96_000, t0 + 2010);
    expect(a.onSenderReport(96_000, t0 + SENDER_AHEAD + 2040, t0 + 2010)).toBe('used');
    // A clock that stepped for good: after three distrusted reports it is believed, and measured afresh.
    for (let i = 0; i < 3; i++) expect(a.onSenderReport(96_000, t0 + SENDER_AHEAD + 9000, t0 + 2010)).toBe('distrusted');
    expect(a.onSenderReport(96_000, t0 + SENDER_AHEAD + 9000, t0 + 2010)).toBe('used');
    expect(a.toTimeline(96_000)).toBeCloseTo(3010, 6);
  });

  it("follows a stalled sender's audio (capture time lost) before its next report says so, and the report is believed", () => {
    const pc = new ParticipantClock(origin);
    const audio = pc.track(1, 48_000, 'audio');
    const video = pc.track(2, 90_000, 'video');
    const t0 = origin + 1000;
    // 20 ms packets, 20 ms network delay; the sender's reports at 0 s.
    let ts = 0;
    let at = t0;
    const send = (n: number) => {
      for (let i = 0; i < n; i++, ts += 960, at += 20) audio.observe(ts, at + 20);
    };
    audio.observe(0, t0 + 20);
    audio.onSenderReport(0, t0 + SENDER_AHEAD, t0 + 20);
    video.observe(0, t0 + 35);
    video.onSenderReport(0, t0 + SENDER_AHEAD, t0 + 35);
    send(100); // 2 s
    expect(audio.toTimeline(ts)).toBeCloseTo(at + 20 - origin, 6);
    // The sender stalls 700 ms: no audio is captured meanwhile, so its RTP clock falls 700 ms behind.
    at += 700;
    send(100);
    // Placed by the arrivals (never later than they came), not 700 ms early (late for the mix).
    const placed = audio.toTimeline(ts) - (at + 20 - origin);
    expect(placed).toBeGreaterThan(-40);
    expect(placed).toBeLessThanOrEqual(0);
    expect(audio.stalledMs).toBeGreaterThan(650);
    // Video was not stalled (its timestamps follow capture time): untouched.
    expect(video.toTimeline(90_000)).toBeCloseTo(1000 + 1000 + 20, 0);
    // The next report confirms the step (0.7 s against the last report: beyond the distrust limit, but what we saw).
    expect(audio.onSenderReport(ts, at + SENDER_AHEAD, at + 20)).toBe('used');
    expect(audio.toTimeline(ts)).toBeCloseTo(at + 20 - origin, 6);
  });

  it('a recorder (or network) that was busy for a while is no stall: what it moved, the next arrivals move back', () => {
    const pc = new ParticipantClock(origin);
    const audio = pc.track(1, 48_000, 'audio');
    const t0 = origin + 1000;
    let ts = 0;
    let at = t0;
    audio.observe(0, t0 + 20);
    audio.onSenderReport(0, t0 + SENDER_AHEAD, t0 + 20);
    const send = (n: number, delay: number) => {
      for (let i = 0; i < n; i++, ts += 960, at += 20) audio.observe(ts, at + delay);
    };
    send(50, 20);
    send(100, 320); // every packet 300 ms later for 2 s
    send(50, 20); // then on time again
    expect(audio.toTimeline(ts)).toBeCloseTo(at + 20 - origin, 0);
    expect(audio.stalledMs).toBe(0);
  });
});
