// The bench's content check on the composite: frozen tiles found by ffmpeg's freezedetect, per tile of the grid.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gridTileCenters, tileCenters, tileFreezes } from '../../bench/measure/freezes.js';
import { judgeSwitches, parseLayerSwitches, parseSwitchesAsked } from '../../bench/measure/layerSwitches.js';
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
    // Each stretch with its tile and its place in the output, also when judging starts later (-ss counts from there).
    expect(r.stretches.map((x) => x.tile)).toEqual([1, 2]);
    expect(r.stretches[0]!.startSec).toBeGreaterThan(0.9);
    expect(r.stretches[0]!.startSec).toBeLessThan(1.2);
    const later = await tileFreezes(file, gridTileCenters(640, 360, 4), 0.5, 3);
    expect(later.stretches[0]!.startSec).toBeCloseTo(r.stretches[0]!.startSec, 1);
    expect(later.stretches[1]!.startSec).toBeCloseTo(r.stretches[1]!.startSec, 1);
  });
});

describe('bench layer switches', () => {
  it('reads the SFU’s switch lines and judges the frozen stretches around them', () => {
    const start = 1_000_000;
    const line = (atMs: number, o: object) => ({ atMs, text: JSON.stringify({ level: 20, time: atMs, msg: 'sfu: layer switched', kind: 'video', ...o }) });
    const lines = [
      { atMs: start + 1000, text: 'not json: layer switched' },
      line(start + 2_000, { from: 'bench p01', fromLayer: 'f', toLayer: 'q', waitedMs: 40 }), // before the judged span
      line(start + 10_000, { from: 'bench p02', fromLayer: 'q', toLayer: 'f', waitedMs: 70 }),
      line(start + 10_050, { from: 'bench p01', fromLayer: 'f', toLayer: 'q', waitedMs: 20 }),
      { atMs: start + 11_000, text: JSON.stringify({ time: start + 11_000, msg: 'sfu: tile size' }) },
      line(start + 99_000, { from: 'bench p03', fromLayer: 'q', toLayer: 'f' }), // after the recorder stopped
    ];
    const switches = parseLayerSwitches(lines, start, start + 60_000, start);
    expect(switches.map((s) => [s.outputSec, s.fromLayer, s.toLayer])).toEqual([[2, 'f', 'q'], [10, 'q', 'f'], [10.05, 'f', 'q']]);
    const freezes = {
      fromSec: 5,
      toSec: 30,
      frozenSec: [0.8, 0.2, 0],
      longestSec: 0.6,
      perMinute: 1,
      stretches: [
        { tile: 0, startSec: 9.5, durationSec: 0.6 }, // at the switch
        { tile: 0, startSec: 20, durationSec: 0.2 }, // far from it
        { tile: 1, startSec: 10.9, durationSec: 0.2 }, // within 1 s after
      ],
    };
    // Asked: a new tile size whose target is not the layer forwarded (the first size, with no current layer, is no switch).
    const sizes = [
      { atMs: start + 500, text: JSON.stringify({ time: start + 500, msg: 'sfu: tile size', target: 2 }) },
      { atMs: start + 9_990, text: JSON.stringify({ time: start + 9_990, msg: 'sfu: tile size', current: 0, target: 2 }) },
      { atMs: start + 9_991, text: JSON.stringify({ time: start + 9_991, msg: 'sfu: tile size', current: 2, target: 2 }) },
    ];
    expect(parseSwitchesAsked([...lines, ...sizes], start, start + 60_000)).toBe(1);
    const j = judgeSwitches(switches, freezes, 3);
    expect(j).toMatchObject({ asked: 3, count: 2, total: 3, byDirection: { 'f→q': 2, 'q→f': 1 }, longestWaitMs: 70, longestFreezeSec: 0.6, freezesAtSwitches: 2 });
    // No switch in the span: no figure (the row fails), not 0 s.
    expect(judgeSwitches(switches.slice(0, 1), freezes)).toMatchObject({ count: 0, total: 1, longestFreezeSec: undefined });
  });

  it('looks at the speaker layout’s big tile and thumbnails', () => {
    const rects = tileCenters(1280, 720, 4, 'speaker');
    expect(rects).toHaveLength(4);
    expect(rects[0]).toEqual({ x: 320, y: 144, w: 640, h: 288 });
    expect(rects.slice(1).every((r) => r.y >= 576 && r.w === 128 && r.h === 72)).toBe(true);
  });
});
