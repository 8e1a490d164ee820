/** What the catch-up needs to know of a voice: when its last packet arrived, and where that packet is on the timeline. */
export interface ArrivingVoice {
  /** Our clock (ms) when its last packet arrived (0: none yet). */
  lastArrivalAt: number;
  /** Timeline position (ms) of that packet's start. */
  lastTimelineMs: number;
}

/** A voice still counts as sending if its last packet came this soon before the process stopped running. */
const SENDING_BEFORE_STALL_MS = 500;
/** Caught up: a packet from this close to the stall's end has been read. */
const CAUGHT_UP_WITHIN_MS = 300;
/** Never hold longer (a voice that stopped sending during the stall must not hold the mix for ever). */
const MAX_HOLD_MS = 4000;

/**
 * After the process did not run (starved of CPU, stopped): what arrived meanwhile waits in the socket buffers, and
 * timers run before I/O, so mixing the missed time at once would mix it as silence and drop the real packets as late.
 * The mix holds until every voice that was sending has had a packet from the stall's end read, whatever reading the
 * backlog takes (a fixed 500 ms hold left 1 s of a 5 s stall unread on a busy machine), or MAX_HOLD_MS.
 */
export class StallCatchUp {
  private waitingFor: ArrivingVoice[] = [];
  private position = 0;
  private startedAt = 0;
  private stalledMs = 0;
  private lastTickStart = 0;

  /** `stalledAfterMs`: a longer gap between the starts of two ticks of the mix is a stall. */
  constructor(private readonly stalledAfterMs: number) {}

  /**
   * A tick of the mix begins at `now` (our clock, ms; `timelineNow` the same moment on the timeline). After a stall
   * this begins a hold and returns the stall's length. Counted from the previous tick's start, not its end: a process
   * stopped in the middle of a tick (a CI run: the 5 s freeze went unnoticed and 4 s of every voice came late) ends that
   * tick after the stall. A long tick of our own (catching up, a starved machine) left packets in the socket buffers
   * too, and its hold ends as soon as they are read.
   */
  tickStarted(now: number, timelineNow: number, voices: () => Iterable<ArrivingVoice>): number | undefined {
    const previous = this.lastTickStart;
    this.lastTickStart = now;
    if (!previous || now - previous <= this.stalledAfterMs) return undefined;
    this.begin(now, previous, timelineNow, voices());
    return now - previous;
  }

  private begin(now: number, stalledSince: number, timelineNow: number, voices: Iterable<ArrivingVoice>): void {
    this.waitingFor = [...voices].filter((v) => v.lastArrivalAt > 0 && v.lastArrivalAt >= stalledSince - SENDING_BEFORE_STALL_MS);
    this.position = timelineNow - CAUGHT_UP_WITHIN_MS;
    this.startedAt = now;
    this.stalledMs = now - stalledSince;
  }

  /**
   * Whether the mix must still wait at `now`. Returns the hold's length once, when it ends (for the log), as
   * `{ stalledMs, heldMs, complete }` (complete: every voice caught up, not given up on).
   */
  check(now: number): { holding: true } | { holding: false; ended?: { stalledMs: number; heldMs: number; complete: boolean } } {
    if (!this.startedAt) return { holding: false };
    this.waitingFor = this.waitingFor.filter((v) => v.lastTimelineMs < this.position);
    const complete = this.waitingFor.length === 0;
    if (!complete && now < this.startedAt + MAX_HOLD_MS) return { holding: true };
    const heldMs = now - this.startedAt;
    this.startedAt = 0;
    this.waitingFor = [];
    return { holding: false, ended: { stalledMs: this.stalledMs, heldMs, complete } };
  }

  get active(): boolean {
    return this.startedAt > 0;
  }
}
