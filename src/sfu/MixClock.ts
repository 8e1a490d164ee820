/** Ticks run back to back at most this many at once after a stall (200 ms of audio); older ones are skipped. */
const MAX_CATCH_UP = 10;

/**
 * The live mix's 20 ms clock. Node's timers fire late under load and never early, so each tick is scheduled against
 * the start time (no drift), and ticks a late timer missed run at once, up to MAX_CATCH_UP: a listener's jitter buffer
 * absorbs a short burst, while a long stall (the process was starved) is skipped rather than replayed as a backlog.
 */
export class MixClock {
  private timer?: NodeJS.Timeout;
  private startedAt = 0;
  private done = 0;
  /** Ticks skipped after stalls longer than the catch-up allows. */
  skipped = 0;

  constructor(
    private readonly periodMs: number,
    private readonly tick: (nowMs: number) => void,
    /** Told how many ticks a stall made it skip (before the ticks it still runs). */
    private readonly skip: (ticks: number) => void = () => {},
  ) {}

  start(): void {
    if (this.timer) return;
    this.startedAt = performance.now();
    this.done = 0;
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const next = this.startedAt + (this.done + 1) * this.periodMs;
    this.timer = setTimeout(this.run, Math.max(0, next - performance.now()));
  }

  private readonly run = (): void => {
    const now = performance.now();
    let due = Math.floor((now - this.startedAt) / this.periodMs) - this.done;
    if (due > MAX_CATCH_UP) {
      const skipped = due - MAX_CATCH_UP;
      this.skipped += skipped;
      this.done += skipped;
      due = MAX_CATCH_UP;
      this.skip(skipped);
    }
    for (let i = 0; i < due; i++) {
      this.done++;
      this.tick(now);
    }
    if (this.timer) this.schedule();
  };
}
