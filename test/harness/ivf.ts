import { readFileSync } from 'node:fs';
import { runFfmpeg } from '../../src/media/ffmpeg/index.js';

export interface VideoFrame {
  data: Buffer;
  key: boolean;
}

/** Encodes a lavfi source (e.g. `testsrc=s=1280x720:r=30`) to VP8 in IVF and returns its frames. */
export async function vp8Frames(file: string, lavfiSource: string, seconds: number, extraArgs: string[] = []): Promise<VideoFrame[]> {
  await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', lavfiSource, '-t', String(seconds), '-c:v', 'libvpx', '-deadline', 'realtime', ...extraArgs, '-f', 'ivf', '-y', file]);
  return ivfFrames(readFileSync(file));
}

/** The frames of an IVF file (32-byte file header, then a 12-byte header per frame); VP8 keyframes have bit 0 clear. */
export function ivfFrames(buf: Buffer): VideoFrame[] {
  const frames: VideoFrame[] = [];
  for (let off = 32; off + 12 <= buf.length; ) {
    const size = buf.readUInt32LE(off);
    const data = buf.subarray(off + 12, off + 12 + size);
    frames.push({ data, key: (data[0]! & 1) === 0 });
    off += 12 + size;
  }
  return frames;
}
