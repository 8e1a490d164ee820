/** A layer that has received no packet for this long is taken as stopped by its publisher. */
export const LAYER_STOPPED_AFTER_MS = 1000;

/**
 * Which of a simulcast track's layers the publisher is sending. Chromium stops sending its top layer (or two) when its
 * uplink estimate falls or its CPU is short, and starts again when they recover; a subscriber left on a stopped layer
 * would show a frozen tile until it returns. Read from the layers' packet counters by a timer (nothing per packet): a
 * layer is stopped once its counter has not moved for LAYER_STOPPED_AFTER_MS (or before its first packet), sending again
 * at its next packet.
 */
export class LayerActivity {
  readonly stopped: boolean[];
  private readonly counts: number[];
  private readonly movedAt: number[];

  constructor(
    private readonly layers: readonly { packetsReceived: number }[],
    now: number,
  ) {
    // A layer that has not sent yet (held back by its publisher) is not chosen until it does.
    this.stopped = layers.map((l) => l.packetsReceived === 0);
    this.counts = layers.map((l) => l.packetsReceived);
    this.movedAt = layers.map(() => now);
  }

  /** Reads the counters at `now` (performance.now() ms); true when a layer stopped or started again since the last check. */
  check(now: number): boolean {
    let changed = false;
    this.layers.forEach((layer, i) => {
      if (layer.packetsReceived !== this.counts[i]) {
        this.counts[i] = layer.packetsReceived;
        this.movedAt[i] = now;
      }
      const stopped = layer.packetsReceived === 0 || now - this.movedAt[i]! >= LAYER_STOPPED_AFTER_MS;
      if (stopped !== this.stopped[i]) {
        this.stopped[i] = stopped;
        changed = true;
      }
    });
    return changed;
  }
}
