/** Drives a RoomAudioMixer like the live recorder would: packets arrive shortly before the mix needs them. */
import type { RoomAudioMixer } from '../../../src/media/audio/RoomAudioMixer.js';
import type { MixedFrame } from '../../../src/media/audio/RoomAudioMixerTypes.js';
import type { OpusPacket } from './oggOpusPackets.js';
import { framesToFloat } from './signals.js';

/** One packet handed to pushOpus: which one, where on the timeline, and when (mix time, ms) it arrives. */
export interface Delivery {
  index: number;
  timelineMs: number;
  arriveMs: number;
  /** Its position on the sender's clock (ms), as the recorder passes it from the RTP timestamp; default: timelineMs. */
  mediaMs?: number;
}

export interface DriverTrack {
  id: string;
  /** Participant id (default: the track id). */
  participant?: string;
  packets: OpusPacket[];
  /** Timeline position of the source's t = 0 (ms) for the default deliveries. */
  offsetMs?: number;
  /** How far ahead of the mix packets arrive (ms) for the default deliveries. Default 60 (a jitter buffer). */
  leadMs?: number;
  /** Explicit deliveries (loss, reordering, duplicates, jitter); default: every packet once, in order, on time. */
  deliveries?: Delivery[];
  /** Remove the track once the mix reaches this time (ms). */
  removeAtMs?: number;
}

export interface DriverResult {
  frames: MixedFrame[];
  /** Channel 0 of the whole mix as float. */
  pcm: Float32Array;
}

export interface DriverOptions {
  channels?: number;
  /** Called after each mixed frame. */
  onFrame?: (frame: MixedFrame) => void;
}

/** The deliveries runMixer uses by default: every packet at offsetMs + its source time, arriving leadMs early. */
export function onTime(packets: OpusPacket[], offsetMs = 0, leadMs = 60): Delivery[] {
  return packets.map((p, index) => ({ index, timelineMs: offsetMs + p.ptsMs, arriveMs: offsetMs + p.ptsMs - leadMs, mediaMs: p.ptsMs }));
}

export async function runMixer(mixer: RoomAudioMixer, tracks: DriverTrack[], totalMs: number, opts: DriverOptions = {}): Promise<DriverResult> {
  const feeds = tracks.map((t) => {
    mixer.addTrack(t.id, { id: t.participant ?? t.id, name: t.id });
    // Stable sort: equal arrival times keep the given order.
    const queue = [...(t.deliveries ?? onTime(t.packets, t.offsetMs, t.leadMs))].sort((a, b) => a.arriveMs - b.arriveMs);
    return { t, queue, next: 0, removed: false };
  });
  await mixer.whenReady();
  const frames: MixedFrame[] = [];
  while (mixer.nextFrameMs < totalMs) {
    const now = mixer.nextFrameMs;
    for (const f of feeds) {
      if (f.removed) continue;
      for (; f.next < f.queue.length && f.queue[f.next]!.arriveMs < now; f.next++) {
        const d = f.queue[f.next]!;
        mixer.pushOpus(f.t.id, f.t.packets[d.index]!.data, d.timelineMs, d.mediaMs);
      }
      if (f.t.removeAtMs !== undefined && now >= f.t.removeAtMs) {
        mixer.removeTrack(f.t.id);
        f.removed = true;
      }
    }
    const frame = mixer.mixNext();
    frames.push(frame);
    opts.onFrame?.(frame);
  }
  return { frames, pcm: framesToFloat(frames, opts.channels ?? 1) };
}
