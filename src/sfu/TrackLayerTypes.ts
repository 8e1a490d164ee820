import type { ForwardMeter } from './ForwardMeter.js';

export interface TrackLayerOptions {
  /** Keyframe requests to this layer are sent at most this often; those in between are coalesced. */
  keyframeIntervalMs: number;
  meter: ForwardMeter;
  /** Called when the layer's resolution (read from its keyframes) is first known or changes. */
  onResize: () => void;
}
