const WINDOW_MS = 2000;
const STEP_MS = 250;

/**
 * A byte counter and its rate over about the last two seconds. Adding costs one addition (it runs for every received
 * packet); the time samples are taken by whoever reads the rate (the subscribers' bandwidth allocators, twice a second).
 */
export class RateWindow {
  bytes = 0;
  private readonly samples: Array<{ at: number; bytes: number }> = [];

  add(bytes: number): void {
    this.bytes += bytes;
  }

  /** Bits per second over the window up to `now` (performance.now() ms); 0 until the window has some length. */
  bitrate(now: number): number {
    const s = this.samples;
    if (s.length === 0 || now - s[s.length - 1]!.at >= STEP_MS) s.push({ at: now, bytes: this.bytes });
    while (s.length > 2 && now - s[1]!.at >= WINDOW_MS) s.shift();
    const first = s[0]!;
    const ms = now - first.at;
    return ms < STEP_MS ? 0 : ((this.bytes - first.bytes) * 8 * 1000) / ms;
  }
}
