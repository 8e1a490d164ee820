/** How a layer switch placed the new layer's first packet in time (RTP ticks). */
export interface SwitchTiming {
  /** Output timestamp of the new layer's first packet minus the last one sent. */
  step: number;
  /** Where the step came from: both layers' sender reports, or the packets' arrival times. */
  by: 'senderReports' | 'arrival';
  /** New layer's first timestamp, translated to the old layer's clock, minus the old layer's last (when known). */
  reportDelta?: number;
  /** Time between the two packets' arrivals. */
  elapsed?: number;
}

/** How a video's start went (ms after the down track was created): which of its preconditions took long. */
export interface StartTrace {
  waitedMs: number;
  /** The subscriber applied the offer carrying the track. */
  negotiatedMs?: number;
  /** The subscriber's transport became ready (DTLS up). */
  readyMs?: number;
  /** Keyframe requests sent to the publisher's layer meanwhile (coalesced with other subscribers'). */
  keyframesAsked: number;
}
