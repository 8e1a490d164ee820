import type { RtpPacket } from 'werift';
import type { PacketSink, PublishedTrack } from './PublishedTrack.js';

const KEYFRAME_RETRY_MS = 1000;

/**
 * Which of a published track's layers one consumer passes on (`current`) and wants (`target`; equal unless a switch
 * waits for the target's keyframe), and its subscriptions to them. A subscriber's DownTrack and the in-process
 * recorder's TileLayerTrack switch the same way: the current layer goes on until the target's first keyframe, which
 * is asked for when its sink is added (the layer coalesces requests) and again once a second while it does not come.
 */
export class LayerSwitch {
  current?: number;
  target: number;
  /** When the target was last asked for its keyframe (performance.now() ms). */
  askedAt = -Infinity;
  private readonly sinks: PacketSink[];

  constructor(
    private readonly published: PublishedTrack,
    write: (layer: number, packet: RtpPacket, keyframe: boolean) => boolean,
    initial = published.top,
  ) {
    this.target = initial;
    this.sinks = published.layers.map((_, i) => ({ write: (packet, keyframe) => write(i, packet, keyframe) }));
  }

  /** Starts taking the target layer's packets. */
  open(): void {
    this.published.addSink(this.sinks[this.target]!, this.target);
  }

  /** Takes nothing any more (paused, closed). */
  closeAll(): void {
    this.published.layers.forEach((_, i) => this.published.removeSink(this.sinks[i]!, i));
  }

  /** From nothing to `layer`'s next keyframe (a resumed video: like a new consumer). */
  restart(layer: number): void {
    this.current = undefined;
    this.target = layer;
    this.askedAt = performance.now();
    this.open();
  }

  /** Aims at `next`; a previous target nobody waits for any more is dropped. */
  retarget(next: number): void {
    if (next === this.target) return;
    const before = this.target;
    this.target = next;
    if (before !== this.current) this.published.removeSink(this.sinks[before]!, before);
    if (next !== this.current) {
      this.askedAt = performance.now();
      this.published.addSink(this.sinks[next]!, next); // asks for its keyframe
    }
  }

  /** `layer`'s keyframe came: it is passed on from now, the previous layer's subscription ends. Gives the previous. */
  adopt(layer: number): number | undefined {
    const from = this.current;
    if (from !== undefined && from !== layer) this.published.removeSink(this.sinks[from]!, from);
    this.current = layer;
    return from;
  }

  /**
   * Whether a packet of `layer`, not the current one, is where to switch: the target's keyframe. Until it comes the
   * other layers' packets are not passed on, and the keyframe is asked for again (askAgain).
   */
  switchesAt(layer: number, keyframe: boolean): boolean {
    if (layer !== this.target) return false;
    if (keyframe) return true;
    this.askAgain(layer);
    return false;
  }

  /**
   * Still without the target's keyframe: the one asked for was lost or ignored (a publisher's encoder under load may
   * skip a request; its reply may be lost on the way). Ask again, once a second, until it comes.
   */
  private askAgain(layer: number): void {
    const now = performance.now();
    if (now - this.askedAt < KEYFRAME_RETRY_MS) return;
    if (this.askedAt !== -Infinity) this.published.requestKeyframe(layer);
    this.askedAt = now;
  }
}
