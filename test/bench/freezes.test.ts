// The bench's content check on the composite: frozen tiles found by ffmpeg's freezedetect, per tile of the grid.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gridTileCenters, tileFreezes } from '../../bench/measure/freezes.js';
import { runFfmpeg } from '../../src/media/ffmpeg/index.js';

describe('bench tile freezes', () => {
  it('finds a tile that stood still, how long, and none where all tiles move', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtc-freezes-'));
    const file = join(dir, 'grid.mp4');
    // A 640x360 2x2 grid of moving noise, 3 s; the top-right tile holds still from 1.0 to 1.6 s, the bottom-left
    // from 2.2 s to the end.
    const moving = 'testsrc2=s=320x180:r=30:d=3,noise=alls=20:allf=t';
    await runFfmpeg([
      '-v', 'error',
      '-f', 'lavfi', '-i', moving, '-f', 'lavfi', '-i', moving, '-f', 'lavfi', '-i', moving, '-f', 'lavfi', '-i', moving,
      '-filter_complex',
      // freezeframes: frames first..last replaced by frame `replace` (30 fps: 30..47 = 1.0-1.6 s, 66..89 = 2.2-3.0 s).
      '[1:v]split[b0][b1];[b0][b1]freezeframes=first=30:last=47:replace=30[b];' +
        '[2:v]split[c0][c1];[c0][c1]freezeframes=first=66:last=89:replace=66[c];' +
        '[0:v][b][c][3:v]xstack=inputs=4:layout=0_0|320_0|0_180|320_180[v]',
      '-map', '[v]', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '10', '-y', file,
    ]);
    expect(gridTileCenters(640, 360, 4)).toEqual([
      { x: 80, y: 44, w: 160, h: 90 },
      { x: 400, y: 44, w: 160, h: 90 },
      { x: 80, y: 224, w: 160, h: 90 },
      { x: 400, y: 224, w: 160, h: 90 },
    ]);
    const r = await tileFreezes(file, gridTileCenters(640, 360, 4), 0, 3);
    expect(r.frozenSec[0]).toBe(0);
    expect(r.frozenSec[3]).toBe(0);
    expect(r.frozenSec[1]).toBeGreaterThan(0.4);
    expect(r.frozenSec[1]).toBeLessThan(0.8);
    expect(r.frozenSec[2]).toBeGreaterThan(0.6);
    expect(r.frozenSec[2]).toBeLessThan(1.0);
    expect(r.longestSec).toBeCloseTo(Math.max(r.frozenSec[1]!, r.frozenSec[2]!), 5);
    // Mean over the 4 tiles, per minute of the 3 s judged.
    expect(r.perMinute).toBeCloseTo(((r.frozenSec[1]! + r.frozenSec[2]!) / 4 / 3) * 60, 5);
  });
});
