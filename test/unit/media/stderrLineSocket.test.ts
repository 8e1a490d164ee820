import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { StderrLineSocket } from '../../../src/media/ffmpeg/StderrLineSocket.js';
import { showinfoPts } from '../../../src/media/video/VideoTileDecoder.js';

/** Runs `script` in sh with the socket as its stderr; resolves with the lines that reached the string handler. */
async function linesOf(script: string, filter: (line: string) => boolean, bufferBytes?: number): Promise<string[]> {
  const seen: string[] = [];
  const socket = await StderrLineSocket.open((buf, start, end) => filter(buf.toString('utf8', start, end)), bufferBytes);
  socket.setLineHandler((line) => seen.push(line));
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', socket.childEnd] });
  socket.childEnd.destroy();
  await once(child, 'exit');
  await socket.closed;
  return seen;
}

describe('StderrLineSocket', () => {
  it('splits lines across reads (\\n and \\r\\n), lets the byte filter take some, and flushes the last at EOF', async () => {
    const taken: string[] = [];
    const lines = await linesOf(
      "printf 'ab' >&2; sleep 0.05; printf 'c\\nde\\r\\n' >&2; sleep 0.05; printf 'take me\\nf\\n\\nlast' >&2",
      (line) => line.startsWith('take') && taken.push(line) > 0,
    );
    expect(lines).toEqual(['abc', 'de', 'f', 'last']);
    expect(taken).toEqual(['take me']);
  });

  it('cuts a line longer than its buffer instead of growing', async () => {
    const lines = await linesOf("printf '0123456789abcdefXY\\nok\\n' >&2", () => false, 8);
    expect(lines).toEqual(['01234567', '89abcdef', 'XY', 'ok']);
  });
});

describe('showinfoPts', () => {
  const pts = (s: string) => {
    const b = Buffer.from(`junk before|${s}|junk after n: 9 pts: 9`);
    return showinfoPts(b, 12, 12 + Buffer.byteLength(s));
  };
  it('reads the pts of a picture line, negative ones too, and nothing else', () => {
    expect(pts('[Parsed_showinfo_1 @ 0x55d0] n:  12 pts:   4000 pts_time:4 pos: -1 fmt:yuv420p')).toBe(4000);
    expect(pts('[Parsed_showinfo_1 @ 0x55d0] n:   0 pts:    -40 pts_time:-0.04')).toBe(-40);
    expect(pts('[Parsed_showinfo_1 @ 0x55d0] config in time_base: 1/1000, frame_rate: 30/1')).toBeUndefined();
    expect(pts('[Parsed_showinfo_1 @ 0x55d0] color_range:unknown color_space:unknown')).toBeUndefined();
    expect(pts('[Parsed_showinfo_1 @ 0x55d0] n:   3 pts:')).toBeUndefined();
  });
});
