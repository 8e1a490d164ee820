/**
 * Maps RTP timestamps of one participant's tracks onto the recording timeline (ms since the recording's origin, on our
 * clock). All tracks of one browser stamp RTCP sender reports from one NTP clock, so with sender reports every track's
 * RTP time converts to the sender's wall clock, and a single per-participant offset (sender clock → our clock, the
 * minimum seen "arrival − sender time", i.e. clock difference + the least network delay) puts them on our timeline:
 * audio and video of one participant keep the relative timing the browser captured them with.
 *
 * Until a track's first sender report it falls back to first-packet arrival (its own minimum "arrival − media time").
 *
 * The offset is measured on audio packets when the participant has audio: they leave the sender as soon as they are
 * captured, while video frames are paced out over tens of ms, and a sender whose reports stamp a video frame's send
 * time (werift does) would drag the minimum, and with it the audio, earlier in steps. The mapping still changes now
 * and then (first report, a better minimum); callers that need continuity (the audio mixer) slew to follow it.
 *
 * A sender report that contradicts the sender's earlier ones by more than DISTRUST_MS (a broken or stepped sender
 * clock) is distrusted: not followed, counted, and reported to `onDistrust`.
 */
export const DISTRUST_MS = 500;
/**
 * An audio track whose packets all arrive this much later than its mapping predicts, for STALL_WINDOW_MS of arrivals,
 * lost capture time: a stalled browser drops the audio it could not capture, so its RTP clock falls behind its wall
 * clock and its sender reports step (by 0.7-0.9 s after a 0.7 s SIGSTOP), but only at the next report, up to 5 s on.
 * Until then the mapping placed its audio that much too early: late for the mix, dropped (7 s of audio in one run).
 * The track's mapping is moved by the least lateness seen (never past the step). Network queues drain within a
 * window; a stall's lateness stays.
 */
const STALL_STEP_MS = 250;
const STALL_WINDOW_MS = 1500;
/** After this many distrusted reports in a row the sender's clock has stepped for good: it is believed (re-anchored). */
const DISTRUST_LIMIT = 3;

export type SenderReportVerdict = 'used' | 'distrusted' | 'ignored';

export class ParticipantClock {
  /** Sender wall clock → our clock, ms (min over the packets of the tracks with a sender report), per kind. */
  private readonly offsets: { audio?: number; video?: number } = {};
  private readonly tracks = new Map<number, TrackClock>();
  distrustedReports = 0;

  constructor(private readonly originMs: number) {}

  /** The clock of one RTP stream (keyed by SSRC). */
  track(ssrc: number, clockRate: number, kind: 'audio' | 'video' = 'audio'): TrackClock {
    let t = this.tracks.get(ssrc);
    if (!t) {
      t = new TrackClock(this, clockRate, this.originMs, kind);
      this.tracks.set(ssrc, t);
    }
    return t;
  }

  get senderOffsetMs(): number | undefined {
    return this.offsets.audio ?? this.offsets.video;
  }

  /** @internal The sender's clock stepped: offsets measured against its old clock no longer apply. */
  resetSenderOffset(): void {
    this.offsets.audio = this.offsets.video = undefined;
  }

  /** @internal */
  observeSenderOffset(kind: 'audio' | 'video', candidate: number): void {
    const current = this.offsets[kind];
    if (current === undefined || candidate < current) this.offsets[kind] = candidate;
  }
}

export class TrackClock {
  /** Extended (unwrapped) value of the last timestamp seen. */
  private lastExt: number | undefined;
  private firstExt = 0;
  private sr: { ext: number; ntpMs: number } | undefined;
  /** Distrusted reports in a row (reset by a trusted one). */
  private distrustRun = 0;
  /** Fallback before any sender report: arrival − media time since the first packet (min). */
  private arrivalBaseMs: number | undefined;
  /** Added to the sender report's mapping: lost capture time the arrivals showed before a report did (audio). */
  private stallMs = 0;
  /** Least lateness (arrival − where the mapping puts the packet) of the arrivals since `since`. */
  private lateness?: { since: number; min: number };
  /** Capture time lost by the sender, ms (followed before its reports said so). */
  stalledMs = 0;

  constructor(
    private readonly participant: ParticipantClock,
    readonly clockRate: number,
    private readonly originMs: number,
    private readonly kind: 'audio' | 'video',
  ) {}

  get hasSenderReport(): boolean {
    return this.sr !== undefined;
  }

  private extend(ts: number): number {
    if (this.lastExt === undefined) {
      this.lastExt = ts;
      this.firstExt = ts;
      return ts;
    }
    const ref = this.lastExt;
    let delta = (ts - (ref % 0x100000000) + 0x100000000) % 0x100000000;
    if (delta >= 0x80000000) delta -= 0x100000000;
    return ref + delta;
  }

  /** Every received packet: refines the offsets (call with its arrival time on our clock). */
  observe(rtpTimestamp: number, arrivalMs: number): void {
    const ext = this.extend(rtpTimestamp);
    if (ext > this.lastExt!) this.lastExt = ext;
    const mediaMs = ((ext - this.firstExt) * 1000) / this.clockRate;
    const base = arrivalMs - mediaMs;
    if (this.arrivalBaseMs === undefined || base < this.arrivalBaseMs) this.arrivalBaseMs = base;
    if (this.kind === 'audio') this.watchStall(ext, arrivalMs);
    if (this.sr) this.participant.observeSenderOffset(this.kind, arrivalMs - this.senderMs(ext));
  }

  /** See STALL_STEP_MS. */
  private watchStall(ext: number, arrivalMs: number): void {
    const late = arrivalMs - this.originMs - this.toTimelineExt(ext);
    if (late < 0 && this.stallMs > 0) {
      // Earlier than the corrected mapping allows: the lateness was the recorder's or the network's, not a stall.
      const undo = Math.min(this.stallMs, -late);
      this.stallMs -= undo;
      this.stalledMs -= undo;
    }
    const w = (this.lateness ??= { since: arrivalMs, min: late });
    w.min = Math.min(w.min, late);
    if (arrivalMs - w.since < STALL_WINDOW_MS) return;
    this.lateness = undefined;
    if (w.min <= STALL_STEP_MS) return;
    this.stalledMs += w.min;
    if (this.sr) this.stallMs += w.min;
    else this.arrivalBaseMs! += w.min;
  }

  /** An RTCP sender report for this stream (ntpMs: sender wall clock, Unix ms). */
  onSenderReport(rtpTimestamp: number, ntpMs: number, arrivalMs: number): SenderReportVerdict {
    if (this.lastExt === undefined) return 'ignored'; // no media yet: cannot place the report's timestamp
    const ext = this.extend(rtpTimestamp);
    // The report itself says where "now" is on the sender's clock: a valid (if pessimistic) offset sample too.
    const candidate = arrivalMs - ntpMs;
    const offset = this.participant.senderOffsetMs;
    // A stall the arrivals showed is no contradiction: the report confirms it (or says the sender's clock went on).
    const contradicts = this.sr
      ? Math.abs(ntpMs - this.senderMs(ext)) > DISTRUST_MS && Math.abs(ntpMs - this.senderMs(ext) + this.stallMs) > DISTRUST_MS
      : offset !== undefined && candidate < offset - DISTRUST_MS;
    if (contradicts && this.distrustRun < DISTRUST_LIMIT) {
      this.distrustRun++;
      this.participant.distrustedReports++;
      return 'distrusted';
    }
    if (contradicts) this.participant.resetSenderOffset();
    this.distrustRun = 0;
    this.sr = { ext, ntpMs };
    this.stallMs = 0;
    this.lateness = undefined;
    this.participant.observeSenderOffset(this.kind, candidate);
    return 'used';
  }

  /** Position of an RTP timestamp on the sender's own clock: ms since this track's first packet (unwrapped). */
  mediaMs(rtpTimestamp: number): number {
    return ((this.extend(rtpTimestamp) - this.firstExt) * 1000) / this.clockRate;
  }

  private senderMs(ext: number): number {
    return this.sr!.ntpMs + this.stallMs + ((ext - this.sr!.ext) * 1000) / this.clockRate;
  }

  /** Recording-timeline ms of an RTP timestamp already observed (or close to one). */
  toTimeline(rtpTimestamp: number): number {
    return this.toTimelineExt(this.extend(rtpTimestamp));
  }

  private toTimelineExt(ext: number): number {
    const offset = this.participant.senderOffsetMs;
    if (this.sr && offset !== undefined) return this.senderMs(ext) + offset - this.originMs;
    const mediaMs = ((ext - this.firstExt) * 1000) / this.clockRate;
    return mediaMs + (this.arrivalBaseMs ?? 0) - this.originMs;
  }
}
