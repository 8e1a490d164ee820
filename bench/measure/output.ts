/** What a recording left on disk: is the MP4 finalized (moov present), how long are the files. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { runFfprobe } from '../../src/media/ffmpeg/index.js';

export interface Mp4Status {
  exists: boolean;
  bytes: number;
  /** A complete top-level `moov` box is in the file: players can open it. */
  moov: boolean;
}

/** Walks the top-level ISO BMFF boxes (size/type headers only, no full read). */
export function mp4Status(path: string): Mp4Status {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { exists: false, bytes: 0, moov: false };
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(16);
    let moov = false;
    for (let off = 0, n = 0; off + 8 <= size && n < 100_000; n++) {
      readSync(fd, head, 0, 16, off);
      let boxSize = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      if (boxSize === 1) boxSize = Number(head.readBigUInt64BE(8));
      else if (boxSize === 0) boxSize = size - off; // to end of file
      if (boxSize < 8) break; // garbage / still being written
      if (type === 'moov' && off + boxSize <= size) moov = true;
      off += boxSize;
    }
    return { exists: true, bytes: size, moov };
  } finally {
    closeSync(fd);
  }
}

export interface ProbeInfo {
  durationSec?: number;
  streams: { type: string; codec: string; width?: number; height?: number; fps?: number; durationSec?: number; frames?: number }[];
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' || typeof v === 'number' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export async function probe(path: string): Promise<ProbeInfo | undefined> {
  try {
    const json = (await runFfprobe(
      ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type,codec_name,width,height,avg_frame_rate,duration,nb_frames', '-of', 'json', path],
      { timeoutMs: 30_000, label: 'bench probe' },
    )) as { format?: { duration?: string }; streams?: Record<string, unknown>[] };
    return {
      durationSec: num(json.format?.duration),
      streams: (json.streams ?? []).map((s) => {
        const [a, b] = String(s.avg_frame_rate ?? '0/0').split('/').map(Number);
        return {
          type: String(s.codec_type),
          codec: String(s.codec_name),
          width: num(s.width),
          height: num(s.height),
          fps: a && b ? a / b : undefined,
          durationSec: num(s.duration),
          frames: num(s.nb_frames),
        };
      }),
    };
  } catch {
    return undefined;
  }
}
