// Pagination end to end: a Chromium page in a room of eight (seven werift publishers of VP8 + Opus, and the page) shows
// four tiles a page (?page=4). Checked on what the page receives (getStats): video bytes only for the tiles it shows,
// none for the other page's, every voice throughout; the one who talks is brought onto the first page; paging on
// moves the video to the tiles now shown, which play.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { videoFixture } from '../../bench/fixtures.js';
import { loadIvf, loadOggOpus } from '../../bench/loadgen/media.js';
import { SyntheticParticipant } from '../../bench/loadgen/participant.js';
import { launchParticipant } from '../harness/browser.js';
import { opusToneFixture } from '../harness/fixtures.js';
import { assertNetworkIsolated } from '../harness/netns.js';
import { forwardingServer, quietVoice } from '../harness/syntheticRoom.js';
import { waitFor } from '../harness/util.js';

interface Inbound {
  peerId: string;
  kind: string;
  bytesReceived: number;
  framesDecoded: number;
  totalSamplesReceived: number;
  audioLevel: number;
}
interface Hooks {
  rtcRoom: {
    id?: string;
    inboundStats(): Promise<Inbound[]>;
    pages: { page: number; order: string[]; size: number };
  };
}

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
});

beforeAll(() => assertNetworkIsolated('test/e2e/pagination.test.ts'));

const stats = (page: Page) => page.evaluate(() => (window as unknown as Hooks).rtcRoom.inboundStats());
const pages = (page: Page) => page.evaluate(() => (window as unknown as Hooks).rtcRoom.pages);

/** Per participant: video bytes and frames, audio samples received over `ms`. */
async function received(page: Page, ms: number): Promise<Map<string, { videoBytes: number; frames: number; samples: number }>> {
  const before = await stats(page);
  await sleep(ms);
  const after = await stats(page);
  const out = new Map<string, { videoBytes: number; frames: number; samples: number }>();
  for (const a of after) {
    const b = before.find((x) => x.peerId === a.peerId && x.kind === a.kind);
    const e = out.get(a.peerId) ?? { videoBytes: 0, frames: 0, samples: 0 };
    if (a.kind === 'video') {
      e.videoBytes += a.bytesReceived - (b?.bytesReceived ?? 0);
      e.frames += a.framesDecoded - (b?.framesDecoded ?? 0);
    } else e.samples += a.totalSamplesReceived - (b?.totalSamplesReceived ?? 0);
    out.set(a.peerId, e);
  }
  return out;
}

describe('pagination (the page shows k tiles; only their video is forwarded)', () => {
  it('a page of 4 in a room of 8 receives exactly 4 videos and all 7 other voices; the talker comes onto page 1; paging moves the video', async () => {
    // Voices forwarded (not mixed: a room of 8 would switch to the MCU mix at the default --mcu-from), one track each.
    const { server, scheduler } = await forwardingServer(cleanups);
    // Six who are quiet and one, the last to join, who talks.
    const [quiet, talking] = await Promise.all([
      quietVoice(),
      opusToneFixture({ freq: 700, burstOffMs: 0, phases: [{ seconds: 4, amplitude: 0.4 }] }).then(loadOggOpus),
    ]);
    const video = loadIvf((await videoFixture({ width: 160, height: 120, fps: 10, kbps: 100, keyframeSeconds: 30, seconds: 10, variant: 1 })).path);
    const browser = await launchParticipant({ name: 'viewer' });
    cleanups.push(() => browser.close());

    const publishers = Array.from({ length: 7 }, (_, i) =>
      new SyntheticParticipant({ serverUrl: server.wsUrl, room: 'pages', name: `P${i + 1}`, audio: i === 6 ? talking : quiet, video, startOffset: i, scheduler }),
    );
    for (const p of publishers) cleanups.push(() => p.close());
    // One at a time: the page's tile order is the join order.
    for (const p of publishers) await p.join();
    await Promise.all(publishers.map((p) => p.flowing));
    const ids = publishers.map((p) => p.id);

    await browser.page.goto(`${server.url}/room/pages?name=Viewer&autojoin=1&video=0&audio=0&page=4`);
    await waitFor(async () => (await pages(browser.page)).order.length === 7, { timeoutMs: 20_000, description: 'seven tiles' });
    expect((await pages(browser.page)).size).toBe(4);
    // P7 talks: it is brought onto the first page (last place there), P4 goes to the second.
    const order = await waitFor(
      async () => {
        const o = (await pages(browser.page)).order;
        return o.slice(0, 4).includes(ids[6]!) ? o : undefined;
      },
      { timeoutMs: 15_000, description: 'the talker (P7) on the first page' },
    ).catch(async (err) => {
      console.log('[pages] levels', JSON.stringify((await stats(browser.page)).map((s) => [s.peerId, s.kind, s.audioLevel])));
      throw err;
    });
    expect(order).toEqual([ids[0], ids[1], ids[2], ids[6], ids[3], ids[4], ids[5]]);
    expect(await browser.page.locator('[data-testid="page-label"]').textContent()).toBe('page 1 of 2');
    expect(await browser.page.locator('[data-testid="count"]').textContent()).toBe('8 here');
    const firstPage = order.slice(0, 4);
    const secondPage = order.slice(4);

    // The first page's videos play; the second page's get no bytes at all; every voice comes.
    await waitFor(async () => [...(await received(browser.page, 500))].filter(([id, r]) => firstPage.includes(id) && r.frames > 0).length === 4, {
      timeoutMs: 15_000,
      description: 'the first page plays four videos',
    });
    let r = await received(browser.page, 3000);
    const show = (m: typeof r) => JSON.stringify(Object.fromEntries([...m].map(([id, x]) => [ids.includes(id) ? `P${ids.indexOf(id) + 1}` : id, x])));
    for (const id of firstPage) expect(r.get(id)?.frames, `${show(r)}`).toBeGreaterThan(15);
    for (const id of secondPage) expect(r.get(id)?.videoBytes ?? 0, `${show(r)}`).toBe(0);
    for (const id of ids) expect(r.get(id)?.samples, `voice of ${id}: ${show(r)}`).toBeGreaterThan(2 * 48_000);

    // Next page: its three videos start (from a keyframe the server asks for) and the first page's stop.
    await browser.page.locator('[data-testid="next-page"]').click();
    const pagedAt = Date.now();
    await waitFor(async () => [...(await received(browser.page, 300))].filter(([id, x]) => secondPage.includes(id) && x.frames > 0).length === 3, {
      timeoutMs: 10_000,
      intervalMs: 0,
      description: 'the second page plays three videos',
    });
    console.log(`[pages] second page's videos decoding ${Date.now() - pagedAt} ms after the click`);
    await sleep(500); // packets in flight when the first page's tiles hid
    r = await received(browser.page, 3000);
    for (const id of secondPage) expect(r.get(id)?.frames, `${show(r)}`).toBeGreaterThan(15);
    for (const id of firstPage) expect(r.get(id)?.videoBytes ?? 0, `${show(r)}`).toBe(0);
    for (const id of ids) expect(r.get(id)?.samples, `voice of ${id}: ${show(r)}`).toBeGreaterThan(2 * 48_000);
    expect(server.sfu.stats().downTracksPaused).toBe(4);
  });
});
