// Which simulcast layer a tile gets: the smallest that covers it (shown with object-fit: contain, never stretched).
import { describe, expect, it } from 'vitest';
import { chooseLayer, sentAtOrBelow } from '../../src/sfu/layerChoice.js';

// A 320x240 camera's layers, and a 1280x720 one's.
const SMALL_CAMERA = [
  { width: 80, height: 60 },
  { width: 160, height: 120 },
  { width: 320, height: 240 },
];
const HD_CAMERA = [
  { width: 320, height: 180 },
  { width: 640, height: 360 },
  { width: 1280, height: 720 },
];

describe('chooseLayer', () => {
  it('gives the smallest layer that covers the tile', () => {
    expect(chooseLayer(SMALL_CAMERA, { width: 80, height: 60 })).toBe(0);
    expect(chooseLayer(SMALL_CAMERA, { width: 81, height: 61 })).toBe(1);
    expect(chooseLayer(SMALL_CAMERA, { width: 160, height: 120 })).toBe(1);
    expect(chooseLayer(SMALL_CAMERA, { width: 320, height: 240 })).toBe(2);
    expect(chooseLayer(HD_CAMERA, { width: 480, height: 270 })).toBe(1);
    // A 240x180 CSS tile at devicePixelRatio 2.
    expect(chooseLayer(HD_CAMERA, { width: 480, height: 360 })).toBe(1);
  });

  it('counts a layer that fills the tile in one dimension as covering it (letterboxed, not stretched)', () => {
    // 16:9 video in a 4:3 tile of 640x480: shown 640x360, which the 640x360 layer fills.
    expect(chooseLayer(HD_CAMERA, { width: 640, height: 480 })).toBe(1);
    // 16:9 video in a tall 300x600 tile: shown 300x169, the 320x180 layer.
    expect(chooseLayer(HD_CAMERA, { width: 300, height: 600 })).toBe(0);
  });

  it('gives the highest layer when none covers the tile, and when no size was reported', () => {
    expect(chooseLayer(SMALL_CAMERA, { width: 1920, height: 1080 })).toBe(2);
    expect(chooseLayer(SMALL_CAMERA, undefined)).toBe(2);
  });

  it('gives the smallest layer to a hidden tile (0 × 0)', () => {
    expect(chooseLayer(SMALL_CAMERA, { width: 0, height: 0 })).toBe(0);
  });

  it('does not choose a layer whose size is not known yet; all unknown: the highest', () => {
    expect(chooseLayer([{}, { width: 160, height: 120 }, {}], { width: 80, height: 60 })).toBe(1);
    expect(chooseLayer([{}, {}, {}], { width: 80, height: 60 })).toBe(2);
    expect(chooseLayer([{}, { width: 160, height: 120 }, {}], { width: 200, height: 150 })).toBe(2);
  });

  it('decides by size, not by position: layers listed out of order still give the smallest cover', () => {
    expect(chooseLayer([SMALL_CAMERA[2]!, SMALL_CAMERA[0]!, SMALL_CAMERA[1]!], { width: 100, height: 75 })).toBe(2);
  });

  it('a single-layer track always gets its one layer', () => {
    expect(chooseLayer([{ width: 640, height: 480 }], { width: 80, height: 60 })).toBe(0);
  });

  it('leaves out layers the publisher stopped sending: the smallest sent layer that covers, else the highest sent', () => {
    const topStopped = HD_CAMERA.map((l, i) => ({ ...l, stopped: i === 2 }));
    // A pinned 1280x720 tile: the 720p layer stopped, so the 360p one (shown smaller, not frozen).
    expect(chooseLayer(topStopped, { width: 1280, height: 720 })).toBe(1);
    expect(chooseLayer(topStopped, undefined)).toBe(1);
    expect(chooseLayer(topStopped, { width: 320, height: 180 })).toBe(0);
    // Only the lowest sent: everyone gets it.
    const onlyLowest = HD_CAMERA.map((l, i) => ({ ...l, stopped: i > 0 }));
    expect(chooseLayer(onlyLowest, { width: 640, height: 360 })).toBe(0);
    // The middle one stopped: a tile it would cover takes the next one up.
    expect(chooseLayer(HD_CAMERA.map((l, i) => ({ ...l, stopped: i === 1 })), { width: 480, height: 270 })).toBe(2);
  });

  it('chooses as if nothing stopped when every layer stopped (a camera turned off): nothing moves until video returns', () => {
    const allStopped = HD_CAMERA.map((l) => ({ ...l, stopped: true }));
    expect(chooseLayer(allStopped, { width: 480, height: 270 })).toBe(1);
    expect(chooseLayer(allStopped, undefined)).toBe(2);
  });

  it('sentAtOrBelow: a bandwidth cap on a stopped layer lands on the highest sent layer under it', () => {
    const midStopped = HD_CAMERA.map((l, i) => ({ ...l, stopped: i === 1 }));
    expect(sentAtOrBelow(midStopped, 1)).toBe(0);
    expect(sentAtOrBelow(midStopped, 2)).toBe(2);
    expect(sentAtOrBelow(HD_CAMERA.map((l, i) => ({ ...l, stopped: i === 0 })), 0)).toBe(0);
  });
});
