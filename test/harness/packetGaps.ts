/** Where a recorded stream has no media: the gaps between consecutive packets' timestamps (ffprobe). */
import { z } from 'zod';
import { runFfprobe } from '../../src/media/ffmpeg/FfmpegProcess.js';

export interface PacketGaps {
  packets: number;
  firstSec: number;
  lastSec: number;
  /** The longest stretch from one packet's start to the next one's (ms) and where it began (s). */
  longestMs: number;
  longestAtSec: number;
  /** Every gap longer than `overMs`, longest first (at most 10): [at s, ms]. */
  over: Array<[number, number]>;
}

const Packets = z.object({ packets: z.array(z.object({ pts_time: z.string().optional() })).default([]) });

export async function packetGaps(file: string, kind: 'audio' | 'video', overMs = 100): Promise<PacketGaps> {
  const json = Packets.parse(
    await runFfprobe(['-v', 'error', '-select_streams', kind === 'audio' ? 'a:0' : 'v:0', '-show_entries', 'packet=pts_time', '-print_format', 'json', file], {
      timeoutMs: 60_000,
    }),
  );
  const pts = json.packets
    .map((p) => Number(p.pts_time))
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
  const result: PacketGaps = { packets: pts.length, firstSec: pts[0] ?? 0, lastSec: pts.at(-1) ?? 0, longestMs: 0, longestAtSec: 0, over: [] };
  for (let i = 1; i < pts.length; i++) {
    const ms = (pts[i]! - pts[i - 1]!) * 1000;
    if (ms > result.longestMs) [result.longestMs, result.longestAtSec] = [ms, pts[i - 1]!];
    if (ms > overMs) result.over.push([pts[i - 1]!, Math.round(ms)]);
  }
  result.over = result.over.sort((a, b) => b[1] - a[1]).slice(0, 10);
  return result;
}
