import { EventEmitter } from 'node:events';

/** A stretch in which the process ran nothing (starved of CPU, stopped, swapping): media arriving then may be missing. */
export interface Stall {
  /** Wall clock (epoch ms) when the process stopped running. */
  atMs: number;
  ms: number;
}

const TICK_MS = 100;
/** A tick this much later than due is a stall (a busy event loop turn is far shorter). */
const STALL_MS = 500;

/**
 * Notices when the process did not run: a timer that should fire every 100 ms and came late by ≥ 0.5 s. What a
 * recording lost in such a stretch (packets the kernel dropped, late audio) is then explained in its manifest.
 */
export class StallWatch extends EventEmitter<{ stall: [Stall] }> {
  readonly stalls: Stall[] = [];
  private last = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor() {
    super();
    this.timer = setInterval(() => this.tick(), TICK_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = Date.now();
    const late = now - this.last - TICK_MS;
    if (late >= STALL_MS) {
      const stall = { atMs: this.last, ms: now - this.last };
      this.stalls.push(stall);
      this.emit('stall', stall);
    }
    this.last = now;
  }
}
