/**
 * Maps RTP timestamps of one participant's tracks onto the recording timeline (ms since the recording's origin, on our
 * clock). All tracks of one browser stamp RTCP sender reports from one NTP clock, so with sender reports every track's
 * RTP time converts to the sender's wall clock, and a single per-participant offset (sender clock → our clock, the
 * minimum seen "arrival − sender time", i.e. clock difference + the least network delay) puts them on our timeline:
 * audio and video of one participant keep the relative timing the browser captured them with.
 *
 * Until a track's first sender report it falls back to first-packet arrival (its own minimum "arrival − media time").
 */
export class ParticipantClock {
  /** Sender wall clock → our clock, ms (min over all packets of all tracks with a sender report). */
  private offsetMs: number | undefined;
  private readonly tracks = new Map<number, TrackClock>();

  constructor(private readonly originMs: number) {}

  /** The clock of one RTP stream (keyed by SSRC). */
  track(ssrc: number, clockRate: number): TrackClock {
    let t = this.tracks.get(ssrc);
    if (!t) {
      t = new TrackClock(this, clockRate, this.originMs);
      this.tracks.set(ssrc, t);
    }
    return t;
  }

  get senderOffsetMs(): number | undefined {
    return this.offsetMs;
  }

  /** @internal */
  observeSenderOffset(candidate: number): void {
    if (this.offsetMs === undefined || candidate < this.offsetMs) this.offsetMs = candidate;
  }
}

export class TrackClock {
  /** Extended (unwrapped) value of the last timestamp seen. */
  private lastExt: number | undefined;
  private firstExt = 0;
  private sr: { ext: number; ntpMs: number } | undefined;
  /** Fallback before any sender report: arrival − media time since the first packet (min). */
  private arrivalBaseMs: number | undefined;

  constructor(
    private readonly participant: ParticipantClock,
    readonly clockRate: number,
    private readonly originMs: number,
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
    if (this.sr) this.participant.observeSenderOffset(arrivalMs - this.senderMs(ext));
  }

  /** An RTCP sender report for this stream (ntpMs: sender wall clock, Unix ms). */
  onSenderReport(rtpTimestamp: number, ntpMs: number, arrivalMs: number): void {
    if (this.lastExt === undefined) return; // no media yet: cannot place the report's timestamp
    this.sr = { ext: this.extend(rtpTimestamp), ntpMs };
    // The report itself says where "now" is on the sender's clock: a valid (if pessimistic) offset sample too.
    this.participant.observeSenderOffset(arrivalMs - ntpMs);
  }

  private senderMs(ext: number): number {
    return this.sr!.ntpMs + ((ext - this.sr!.ext) * 1000) / this.clockRate;
  }

  /** Recording-timeline ms of an RTP timestamp already observed (or close to one). */
  toTimeline(rtpTimestamp: number): number {
    const ext = this.extend(rtpTimestamp);
    const offset = this.participant.senderOffsetMs;
    if (this.sr && offset !== undefined) return this.senderMs(ext) + offset - this.originMs;
    const mediaMs = ((ext - this.firstExt) * 1000) / this.clockRate;
    return mediaMs + (this.arrivalBaseMs ?? 0) - this.originMs;
  }
}
