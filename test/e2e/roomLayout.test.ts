// The room page's layout in a real Chromium window (1280x720): with 2, 6 and 12 participants (werift publishers of
// colour test pictures and the page itself) the tiles fill the tiles area without overlapping, a page shows at most
// 9 others, a click pins a tile (it fills the main area and the server is told its new size), the mic and camera
// buttons mute and unmute. RTC_RECORD_SCREENSHOTS=1 writes docs/screenshots/room-{2,6,12}.png (the README's).
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { videoFixture } from '../../bench/fixtures.js';
import { loadIvf } from '../../bench/loadgen/media.js';
import { SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { launchParticipant } from '../harness/browser.js';
import { assertNetworkIsolated } from '../harness/netns.js';
import { forwardingServer, quietVoice } from '../harness/syntheticRoom.js';
import { waitFor } from '../harness/util.js';

const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'screenshots');

interface Box {
  peer?: string;
  x: number;
  y: number;
  w: number;
  h: number;
  playing: boolean;
}

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
});

beforeAll(() => assertNetworkIsolated('test/e2e/roomLayout.test.ts'));

/** The tiles area and every shown tile's box (page pixels), and whether its video has a picture. */
async function layout(page: Page): Promise<{ area: Box; tiles: Box[] }> {
  return page.evaluate(() => {
    const box = (el: Element) => {
      const r = el.getBoundingClientRect();
      const v = el.querySelector('video');
      return { peer: (el as HTMLElement).dataset.peer, x: r.x, y: r.y, w: r.width, h: r.height, playing: Boolean(v && v.videoWidth > 0) };
    };
    const tiles = [...document.querySelectorAll('#tiles .tile')].filter((t) => !(t as HTMLElement).hidden).map(box);
    return { area: box(document.getElementById('tiles')!), tiles };
  });
}

function expectFills(l: { area: Box; tiles: Box[] }, count: number, what: string): void {
  const { area, tiles } = l;
  expect(tiles.length, what).toBe(count);
  for (const t of tiles) {
    expect(t.x >= area.x - 0.5 && t.y >= area.y - 0.5 && t.x + t.w <= area.x + area.w + 0.5 && t.y + t.h <= area.y + area.h + 0.5, `${what}: tile inside the area ${JSON.stringify(t)} ${JSON.stringify(area)}`).toBe(true);
  }
  for (const a of tiles) for (const b of tiles) {
    if (a === b) continue;
    const overlap = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)) * Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
    expect(overlap, `${what}: tiles overlap`).toBeLessThan(1);
  }
  // As large as they fit: the tiles cover a good part of the area (a 4:3 grid in a 1280-wide window).
  const covered = tiles.reduce((n, t) => n + t.w * t.h, 0) / (area.w * area.h);
  expect(covered, `${what}: share of the area the tiles cover`).toBeGreaterThan(count === 2 ? 0.45 : 0.5);
}

describe('room page layout (Chromium 1280x720)', () => {
  it('2, 6 and 12 participants fill the window; a click pins a tile; mic and camera buttons mute', async () => {
    const { server, scheduler } = await forwardingServer(cleanups);
    const audio = await quietVoice();
    const clips = await Promise.all(
      Array.from({ length: 11 }, (_, i) => videoFixture({ width: 160, height: 120, fps: 10, kbps: 100, keyframeSeconds: 30, seconds: 10, variant: i })),
    );
    const viewer = await launchParticipant({ name: 'viewer' });
    cleanups.push(() => viewer.close());
    await viewer.page.goto(`${server.url}/room/layout?name=You&autojoin=1&audio=0`);
    await waitFor(() => viewer.page.evaluate(() => (window as unknown as { rtcRoom: { id?: string } }).rtcRoom.id), { timeoutMs: 15_000, description: 'viewer joined' });

    const names = ['Ada', 'Ben', 'Cleo', 'Dev', 'Eli', 'Fay', 'Gus', 'Hana', 'Ivo', 'Jin', 'Kai'];
    const publishers: SyntheticParticipant[] = [];
    for (const [total, shown] of [[2, 2], [6, 6], [12, 10]] as const) {
      while (publishers.length < total - 1) {
        const i = publishers.length;
        const p = new SyntheticParticipant({ serverUrl: server.wsUrl, room: 'layout', name: names[i]!, audio, video: loadIvf(clips[i]!.path), startOffset: i, scheduler });
        cleanups.push(() => p.close());
        await p.join();
        publishers.push(p);
      }
      const l = await waitFor(
        async () => {
          const now = await layout(viewer.page);
          return now.tiles.length === shown && now.tiles.every((t) => t.playing) ? now : undefined;
        },
        { timeoutMs: 20_000, description: `${total} participants: ${shown} tiles playing` },
      );
      expectFills(l, shown, `${total} participants`);
      const label = await viewer.page.locator('[data-testid="count"]').textContent();
      expect(label).toBe(`${total} here`);
      expect(await viewer.page.locator('[data-testid="pager"]').isVisible()).toBe(total > 10);
      if (process.env.RTC_RECORD_SCREENSHOTS === '1') {
        await sleep(3000); // the tiles' quality labels settle (their first second reads "poor")
        mkdirSync(SCREENSHOTS, { recursive: true });
        await viewer.page.screenshot({ path: join(SCREENSHOTS, `room-${total}.png`) });
      }
    }

    // Pin the first other participant: it fills the main area, the others make a column beside it, and the server
    // is told the larger size; a second click unpins.
    const first = publishers[0]!.id;
    const sizeBefore = (await viewer.page.evaluate(() => (window as unknown as { rtcRoom: { tileSizes: Record<string, { width: number }> } }).rtcRoom.tileSizes));
    await viewer.page.locator(`[data-testid="tile"][data-peer="${first}"]`).click();
    const pinned = await layout(viewer.page);
    expectFills(pinned, 10, 'pinned');
    const big = pinned.tiles.find((t) => t.peer === first)!;
    for (const t of pinned.tiles) if (t !== big) expect(big.w, 'the pinned tile is the largest by far').toBeGreaterThan(3 * t.w);
    await waitFor(
      async () => {
        const after = await viewer.page.evaluate(() => (window as unknown as { rtcRoom: { tileSizes: Record<string, { width: number }> } }).rtcRoom.tileSizes);
        return Object.values(after).some((s) => s.width >= Math.floor(big.w) - 1 && !Object.values(sizeBefore).some((b) => b.width === s.width));
      },
      { timeoutMs: 5000, description: 'the pinned size reported to the server' },
    );
    await viewer.page.locator(`[data-testid="tile"][data-peer="${first}"]`).click();
    const unpinned = await layout(viewer.page);
    expect(Math.max(...unpinned.tiles.map((t) => t.w)) / Math.min(...unpinned.tiles.map((t) => t.w))).toBeLessThan(1.01);

    // Mic and camera: pressed = on; a click turns the local track off (and back on).
    const local = () => viewer.page.evaluate(() => {
      const v = document.getElementById('local-video') as HTMLVideoElement;
      const s = v.srcObject as MediaStream;
      return s.getTracks().map((t) => `${t.kind}:${t.enabled}`).sort().join(' ');
    });
    expect(await viewer.page.locator('[data-testid="toggle-mic"]').isVisible()).toBe(false); // ?audio=0: no mic
    await viewer.page.locator('[data-testid="toggle-camera"]').click();
    expect(await viewer.page.locator('[data-testid="toggle-camera"]').getAttribute('aria-pressed')).toBe('false');
    expect(await local()).toBe('video:false');
    await viewer.page.locator('[data-testid="toggle-camera"]').click();
    expect(await local()).toBe('video:true');
  });
});
