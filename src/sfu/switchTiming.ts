import type { SwitchTiming } from './DownTrackTypes.js';
import type { PublishedTrack } from './PublishedTrack.js';

/** The last packet a layer-switching consumer passed on: its input timestamp and when it arrived (performance.now()). */
export interface LastForwarded {
  timestamp: number;
  at: number;
}

/**
 * How far the first packet of layer `to` (input timestamp `timestamp`) is from the last one passed on from layer
 * `from`, in RTP ticks. Each layer has its own random timestamp offset (Chromium 156: the first packets of two layers'
 * same frame differ by ~1.5e9), so the new layer's timestamp is translated into the old one's through both layers'
 * RTCP sender reports, which put them on the publisher's one NTP clock. Until both layers have sent one, or should the
 * translation disagree with the packets' arrival times by more than half a second, the time between the two packets'
 * arrivals is used. At least one tick: a frame the old layer already sent must not get its successor's timestamp.
 * Shared by DownTrack (subscribers) and TileLayerTrack (the in-process recorder).
 */
export function switchTimestampStep(published: PublishedTrack, last: LastForwarded | undefined, from: number, to: number, timestamp: number): SwitchTiming {
  if (!last) return { step: 1, by: 'arrival' };
  const clockRate = published.remote.codec.clockRate;
  const elapsed = Math.round(((performance.now() - last.at) * clockRate) / 1000);
  const translated = published.translateTimestamp(timestamp, to, from);
  const reportDelta = translated === undefined ? undefined : (translated - last.timestamp) | 0;
  if (reportDelta !== undefined && Math.abs(reportDelta - elapsed) <= clockRate / 2) return { step: Math.max(1, reportDelta), by: 'senderReports', reportDelta, elapsed };
  return { step: Math.max(1, elapsed), by: 'arrival', reportDelta, elapsed };
}
