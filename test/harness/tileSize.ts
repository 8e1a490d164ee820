// Room-page helpers for simulcast tests: resize every tile as a layout would, and wait for the decoded width.
import type { Page } from 'playwright-core';
import { waitFor } from './util.js';

interface TileHooks {
  rtcRoom: {
    inboundStats(): Promise<Array<{ kind: string; frameWidth: number }>>;
    tileSizes: Record<string, { width: number; height: number; at: number }>;
  };
}

/** Sets the width of every tile (its height follows: 4:3) and resolves when the page has reported that size (its time, epoch ms). */
export async function setTileWidth(page: Page, px: number): Promise<number> {
  await page.evaluate((w) => {
    let style = document.getElementById('tile-width');
    if (!style) {
      style = document.createElement('style');
      style.id = 'tile-width';
      document.head.append(style);
    }
    style.textContent = `.tile { width: ${w}px; }`;
  }, px);
  const reported = await waitFor(
    async () => {
      const sizes = await page.evaluate(() => (window as unknown as TileHooks).rtcRoom.tileSizes);
      return Object.values(sizes).find((s) => s.width === px);
    },
    { timeoutMs: 5000, intervalMs: 20, description: `tile size ${px} reported` },
  );
  return reported.at;
}

/** Polls getStats until the decoded video width satisfies `ok`; returns the time (epoch ms) it first did. */
export async function decodedWidth(page: Page, ok: (w: number) => boolean, description: string, timeoutMs: number): Promise<number> {
  const width = async () => (await page.evaluate(() => (window as unknown as TileHooks).rtcRoom.inboundStats())).find((x) => x.kind === 'video')?.frameWidth ?? 0;
  await waitFor(async () => ok(await width()), { timeoutMs, intervalMs: 25, description });
  return Date.now();
}
