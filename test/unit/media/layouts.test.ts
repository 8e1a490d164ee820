import { describe, expect, it } from 'vitest';
import { computeLayout, gridCells, gridDimensions, mostRecentlyActive } from '../../../src/media/video/layouts.js';
import type { LayoutParticipant, TileRect } from '../../../src/media/video/LayoutTypes.js';

const people = (n: number, active: (i: number) => number | undefined = () => undefined): LayoutParticipant[] =>
  Array.from({ length: n }, (_, i) => ({ id: `p${i}`, name: `P${i}`, lastActiveMs: active(i) }));

function expectSane(tiles: TileRect[], w: number, h: number): void {
  for (const t of tiles) {
    for (const v of [t.x, t.y, t.w, t.h]) expect(v % 2, JSON.stringify(t)).toBe(0);
    expect(t.w).toBeGreaterThan(0);
    expect(t.h).toBeGreaterThan(0);
    expect(t.x + t.w).toBeLessThanOrEqual(w);
    expect(t.y + t.h).toBeLessThanOrEqual(h);
  }
  for (let i = 0; i < tiles.length; i++) {
    for (let j = i + 1; j < tiles.length; j++) {
      const a = tiles[i]!;
      const b = tiles[j]!;
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      expect(overlap, `${a.key} overlaps ${b.key}`).toBe(false);
    }
  }
}

describe('grid layout', () => {
  it('uses 1x1, 2x1, 2x2, 3x2, 3x3 … 5x5', () => {
    const dims = [1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13, 16, 17, 20, 21, 25].map((n) => {
      const { cols, rows } = gridDimensions(n);
      return `${n}:${cols}x${rows}`;
    });
    expect(dims).toEqual(['1:1x1', '2:2x1', '3:2x2', '4:2x2', '5:3x2', '6:3x2', '7:3x3', '9:3x3', '10:4x3', '12:4x3', '13:4x4', '16:4x4', '17:5x4', '20:5x4', '21:5x5', '25:5x5']);
  });

  it('places four participants in quadrants of 1280x720 in join order', () => {
    const tiles = computeLayout({ width: 1280, height: 720, mode: 'grid', participants: people(4) });
    expect(tiles.map((t) => [t.key, t.x, t.y, t.w, t.h])).toEqual([
      ['p0', 0, 0, 640, 360],
      ['p1', 640, 0, 640, 360],
      ['p2', 0, 360, 640, 360],
      ['p3', 640, 360, 640, 360],
    ]);
  });

  it('centres an incomplete last row and keeps tiles even and disjoint for any count', () => {
    const three = gridCells(3, { x: 0, y: 0, w: 1280, h: 720 });
    expect(three[2]).toEqual({ x: 320, y: 360, w: 640, h: 360 });
    for (let n = 1; n <= 30; n++) {
      const tiles = computeLayout({ width: 1280, height: 720, mode: 'grid', participants: people(n) });
      expect(tiles).toHaveLength(Math.min(n, 25));
      expectSane(tiles, 1280, 720);
    }
    expectSane(computeLayout({ width: 642, height: 362, mode: 'grid', participants: people(7) }), 642, 362);
  });

  it('past 25 shows the most recently active speakers, still in join order', () => {
    const ps = people(30, (i) => (i >= 5 ? 1000 + i : undefined));
    const tiles = computeLayout({ width: 1280, height: 720, mode: 'grid', participants: ps });
    expect(tiles.map((t) => t.key)).toEqual(ps.slice(5).map((p) => p.id));
    expect(mostRecentlyActive(people(3), 5).map((p) => p.id)).toEqual(['p0', 'p1', 'p2']);
  });
});

describe('speaker layout', () => {
  it('puts the active speaker in the large tile and the others in a strip below', () => {
    const tiles = computeLayout({ width: 1280, height: 720, mode: 'speaker', participants: people(4), activeSpeakerId: 'p2' });
    expectSane(tiles, 1280, 720);
    expect(tiles[0]).toMatchObject({ key: 'p2', role: 'main', x: 0, y: 0, w: 1280, h: 576 });
    expect(tiles.slice(1).map((t) => t.key)).toEqual(['p0', 'p1', 'p3']);
    for (const t of tiles.slice(1)) expect(t).toMatchObject({ role: 'strip', y: 576, h: 144, w: 256 });
  });

  it('without a known speaker features the most recently active; alone it fills the canvas', () => {
    const tiles = computeLayout({ width: 1280, height: 720, mode: 'speaker', participants: people(3, (i) => (i === 1 ? 5 : undefined)) });
    expect(tiles[0]!.key).toBe('p1');
    expect(computeLayout({ width: 1280, height: 720, mode: 'speaker', participants: people(1) })).toEqual([
      { key: 'p0', participantId: 'p0', kind: 'camera', role: 'main', x: 0, y: 0, w: 1280, h: 720 },
    ]);
  });

  it('caps the strip to what fits, keeping the most recently active', () => {
    const tiles = computeLayout({ width: 1280, height: 720, mode: 'speaker', participants: people(12, (i) => i), activeSpeakerId: 'p0' });
    expectSane(tiles, 1280, 720);
    expect(tiles.slice(1).map((t) => t.key)).toEqual(['p7', 'p8', 'p9', 'p10', 'p11']);
  });
});

describe('screen share', () => {
  it('is featured in both modes, with every camera in the strip', () => {
    for (const mode of ['grid', 'speaker'] as const) {
      const tiles = computeLayout({ width: 1280, height: 720, mode, participants: people(3), screenShareOf: 'p1' });
      expectSane(tiles, 1280, 720);
      expect(tiles[0]).toMatchObject({ key: 'p1#screen', kind: 'screen', role: 'main', w: 1280, h: 576 });
      expect(tiles.slice(1).map((t) => t.key)).toEqual(['p0', 'p1', 'p2']);
    }
  });
});
