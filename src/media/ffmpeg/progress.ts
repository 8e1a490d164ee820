/** One progress report from ffmpeg; null where ffmpeg reported N/A (e.g. no video → no frame count). */
export interface FfmpegProgress {
  frame: number | null;
  fps: number | null;
  /** Output position in seconds. */
  time: number | null;
  /** Realtime factor (1 = realtime). */
  speed: number | null;
  bitrateKbps: number | null;
  /** true on the last `-progress` block (progress=end). */
  done: boolean;
}

/** Keys ffmpeg writes with `-progress`; anything else on stderr is a log line. */
const PROGRESS_KEY = /^(frame|fps|stream_\d+_\d+_q|bitrate|total_size|out_time_us|out_time_ms|out_time|dup_frames|drop_frames|speed|progress)=\s*(\S*)\s*$/;

function num(v: string | undefined): number | null {
  if (v === undefined) return null;
  const n = Number.parseFloat(v);
  return Number.isFinite(n) ? n : null;
}

/** "01:02:03.45" → 3723.45; negative or N/A → null (ffmpeg prints odd values before the first packet). */
export function parseClock(v: string | undefined): number | null {
  const m = v ? /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(v) : null;
  if (!m) return null;
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

function fromFields(f: Record<string, string>, done: boolean): FfmpegProgress {
  // out_time_ms is (despite its name) microseconds, like out_time_us.
  const us = num(f.out_time_us ?? f.out_time_ms);
  const time = us !== null && us >= 0 ? us / 1e6 : parseClock(f.out_time ?? f.time);
  return {
    frame: num(f.frame),
    fps: num(f.fps),
    time,
    speed: num(f.speed), // "1.5x" → 1.5
    bitrateKbps: num(f.bitrate), // "524.3kbits/s" → 524.3
    done,
  };
}

/**
 * Incremental parser for ffmpeg's stderr lines. Understands both `-progress pipe:2` key=value blocks
 * and the classic `frame= … time= … speed=` stats line. `feed` returns whether the line was progress
 * output (so callers can keep it out of logs and error tails) and any completed report.
 */
export class ProgressParser {
  private block: Record<string, string> = {};

  feed(line: string): { isProgress: boolean; progress?: FfmpegProgress } {
    const kv = PROGRESS_KEY.exec(line);
    if (kv) {
      const [, key, value] = kv as unknown as [string, string, string];
      if (key !== 'progress') {
        this.block[key] = value;
        return { isProgress: true };
      }
      const progress = fromFields(this.block, value === 'end');
      this.block = {};
      return { isProgress: true, progress };
    }
    if (/^(frame|L?size)=/.test(line) && line.includes('time=')) {
      const fields: Record<string, string> = {};
      for (const m of line.matchAll(/(\w+)=\s*(\S+)/g)) fields[m[1]!] = m[2]!;
      return { isProgress: true, progress: fromFields(fields, false) };
    }
    return { isProgress: false };
  }
}
