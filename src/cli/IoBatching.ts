import { performance } from 'node:perf_hooks';
import { pipeTransfersActive } from '../media/ffmpeg/index.js';

/** What a recorder joining a remote server (`rtc-record --server …`) uses unless told otherwise (`--io-batch-ms`). */
export const DEFAULT_IO_BATCH_MS = 20;
/**
 * A process that runs the SFU (`serve`, `rtc-record --room` with its embedded server) forwards live media: a batch
 * period would be added to every forwarded packet's delay (and bunch its sends), so it does not batch by default.
 */
export const SERVE_IO_BATCH_MS = 0;

/**
 * Lets the process's I/O pile up and handles it in batches: after each event-loop turn that did work, the main thread
 * sleeps until `periodMs` after the previous batch began, so the next turn finds every packet, picture and pipe write
 * that arrived meanwhile ready at once.
 *
 * Why: a recorder gets ~900 RTP packets a second for a 4-person room, and without this nearly every one woke the loop
 * on its own (epoll, a context switch, a recvmsg that comes back empty). Batched, the recorder's own CPU drops by
 * ~12 % (`npm run bench:ab`, composite, 20 ms against 0).
 *
 * What it costs: up to `periodMs` of added latency per hop, which a recording (composed 1 s behind live) never shows,
 * and arrival times that cluster per batch (the transport-cc feedback senders use for bandwidth estimation sees that
 * as jitter of up to `periodMs`, as on Wi-Fi). Timers fire up to `periodMs` late. Never a loss of throughput: no sleep
 * follows a turn that took longer than the period, nor one that leaves a pipe transfer half done (a raw picture or
 * frame is bigger than a pipe holds; sleeping then throttled the decoders and the encoder to ~200 KB per period).
 */
export class IoBatching {
  private readonly cell = new Int32Array(new SharedArrayBuffer(4));
  private immediate: NodeJS.Immediate | undefined;
  private batchStartedAt = performance.now();
  /** Time spent asleep so far (ms), for diagnostics. */
  sleptMs = 0;

  constructor(readonly periodMs: number) {
    if (!(periodMs >= 0 && periodMs <= 100)) throw new RangeError(`I/O batch period must be 0-100 ms, got ${periodMs}`);
  }

  /** Starts batching (a period of 0 never does). Does not keep the process alive. */
  start(): this {
    if (this.periodMs > 0 && !this.immediate) this.arm();
    return this;
  }

  stop(): void {
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  /**
   * An unref'd immediate runs in the check phase of every loop turn, right after the turn's I/O, and (unlike a ref'd
   * one) lets the poll phase block while there is nothing to do: an idle process sleeps in epoll as before.
   */
  private arm(): void {
    this.immediate = setImmediate(() => this.afterTurn());
    this.immediate.unref();
  }

  private afterTurn(): void {
    const now = performance.now();
    const wait = this.batchStartedAt + this.periodMs - now;
    // Not in the middle of a pipe transfer: a pipe holds ~200 KB, and the other side would stall at every refill.
    if (wait >= 0.5 && !pipeTransfersActive()) {
      // Atomics.wait on a cell nobody notifies: a plain sleep of the main thread (allowed in Node, unlike browsers).
      Atomics.wait(this.cell, 0, 0, wait);
      this.sleptMs += performance.now() - now;
    }
    this.batchStartedAt = performance.now();
    this.arm();
  }
}
