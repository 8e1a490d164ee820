// Bandwidth adaptation end to end, in real Chromium against the real server: a publisher page sends a 640x480 moving
// test pattern in three simulcast layers (~70 / ~210 / ~730 kbit/s); a subscriber page shows it in a 640-wide tile (it
// wants the full layer) while its downlink from the server goes through an ImpairmentRelay capped at 500 kbit/s. The
// server must lower the subscriber to a layer that fits from the subscriber's REMB, keep its video going (no freeze
// over 1 s) and its audio, and go back up once the cap is lifted; capped at 90 kbit/s, pause the video (the tile
// shows it paused for bandwidth) but not the audio, and resume it once uncapped. Checked in the subscriber page:
// getStats (decoded width, frames, audio samples and packets), every presented frame (requestVideoFrameCallback), the
// tile's class; and the server's /metrics. Without the adaptation it fails at its first check (the 640 layer stays).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertNetworkIsolated } from '../harness/netns.js';
import { framesBetween, recordFrames } from '../harness/presentedFrames.js';
import { slowLinkFixtures, slowLinkRoom } from '../harness/slowLinkRoom.js';
import { waitFor } from '../harness/util.js';

/** Chromium sends one layer for a small camera unless its simulcast layer limit is off (and ?simulcastLayers=3 asks for three). */
const CAP_KBPS = 500;

interface Inbound {
  kind: string;
  framesDecoded: number;
  frameWidth: number;
  freezeCount: number;
  totalFreezesDuration: number;
  totalSamplesReceived: number;
  bytesReceived: number;
  packetsReceived: number;
}
interface Hooks {
  rtcRoom: {
    id?: string;
    inboundStats(): Promise<Inbound[]>;
    outboundStats(): Promise<Array<{ kind: string; packetsSent: number; rid?: string; frameWidth?: number; bytesSent?: number }>>;
    tileSizes: Record<string, { width: number; height: number; at: number }>;
    bandwidthPaused: string[];
  };
}
type Log = { time?: number; msg?: string; event?: string; estimate?: number; budget?: number; from?: unknown; to?: unknown };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

beforeAll(async () => {
  assertNetworkIsolated('test/e2e/bandwidth.test.ts');
  await slowLinkFixtures();
});

const stats = (page: Page) => page.evaluate(() => (window as unknown as Hooks).rtcRoom.inboundStats());
const video = async (page: Page) => (await stats(page)).find((x) => x.kind === 'video');
const audio = async (page: Page) => (await stats(page)).find((x) => x.kind === 'audio');

describe('bandwidth adaptation (a subscriber behind a slow link gets the layers that fit)', () => {
  it(`capped at ${CAP_KBPS} kbit/s: a low layer without freezes, audio on; uncapped: back to the full layer; at 90 kbit/s: paused, shown as such, audio on`, async () => {
    const { logs, server, pub, sub, path } = await slowLinkRoom<Log>(CAP_KBPS, cleanups);

    await pub.page.goto(`${server.url}/room/bwe?name=Pub&autojoin=1&simulcast=1&simulcastLayers=3&agc=0`);
    const pubId = await waitFor(() => pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.id), { timeoutMs: 15_000, description: 'publisher joined' });
    // A 640-wide tile: the subscriber wants the full layer.
    await sub.page.addStyleTag({ content: '.tile { width: 640px !important; }' }).catch(() => undefined);
    await sub.page.goto(`${server.url}/room/bwe?name=Sub&autojoin=1&video=0&audio=0`);
    await sub.page.addStyleTag({ content: '.tile { width: 640px !important; }' });
    const t0 = Date.now();

    // Capped: the server lowers the layer. Decoded width ≤ 320 (the 160 or 320 layer), not the 640 one.
    const dump = () => `${JSON.stringify({ ...path.relay.counters, up: path.relay.upstreamPort, client: path.relay.clientPort })}\n${logs.filter((l) => /bandwidth/.test(l.msg ?? '')).map((l) => JSON.stringify({ ...l, t: Date.now() - l.time! })).join('\n')}`;
    await waitFor(async () => ((await video(sub.page))?.frameWidth ?? 0) > 0, { timeoutMs: 20_000, description: 'subscriber decodes video' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    await recordFrames(sub.page, pubId);
    await waitFor(
      async () => {
        const w = (await video(sub.page))?.frameWidth ?? 0;
        return w > 0 && w <= 320;
      },
      { timeoutMs: 20_000, intervalMs: 100, description: `a layer that fits ${CAP_KBPS} kbit/s` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    const lowAt = Date.now();
    // Let the queue of the full layer drain, then watch 6 s of capped steady state.
    await sleep(1000);
    const capFrom = Date.now();
    const v1 = (await video(sub.page))!;
    const a1 = (await audio(sub.page))!;
    await sleep(6000);
    const capTo = Date.now();
    const v2 = (await video(sub.page))!;
    const a2 = (await audio(sub.page))!;
    const capped = await framesBetween(sub.page, capFrom, capTo);
    const received = path.relay.counters.toClient;

    // Lift the cap: the next probe finds the link free (it holds), the full layer comes back and stays.
    path.setToPage({});
    const liftedAt = Date.now();
    const held = () => logs.some((l) => l.event === 'probeHeld' && l.time! >= liftedAt);
    await waitFor(async () => (held() && (await video(sub.page))?.frameWidth === 640) || undefined, { timeoutMs: 16_000, intervalMs: 100, description: 'back to the 640-wide layer' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    const upAt = Date.now();
    await sleep(2000);
    const after = await framesBetween(sub.page, upAt - 1000, Date.now());
    const stillFull = (await video(sub.page))?.frameWidth;

    // 90 kbit/s: the voice (~50 with overhead) fits, not even the lowest video layer (~70) beside it: the video is
    // paused and the tile says so; the voice goes on. Uncapped again, the video comes back.
    const tilePaused = () => sub.page.evaluate(() => ({ mids: (window as unknown as Hooks).rtcRoom.bandwidthPaused, shown: document.querySelector('.tile.bandwidth-paused') !== null }));
    path.setToPage({ rateKbps: 90, queueBytes: 8000 });
    const squeezedAt = Date.now();
    await waitFor(async () => (await tilePaused()).shown || undefined, { timeoutMs: 15_000, intervalMs: 100, description: 'the tile shows the video paused for bandwidth' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    const pausedAt = Date.now();
    const pausedMetric = (await (await fetch(`${server.url}/metrics`)).text()).match(/^rtc_record_sfu_videos_paused_bandwidth (\d+)$/m)?.[1];
    await sleep(500);
    const a3 = (await audio(sub.page))!;
    await sleep(3000);
    const a4 = (await audio(sub.page))!;
    path.setToPage({});
    const freedAt = Date.now();
    await waitFor(async () => !(await tilePaused()).shown && ((await video(sub.page))?.framesDecoded ?? 0) > 0 || undefined, { timeoutMs: 15_000, intervalMs: 100, description: 'the video resumes' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    const resumedAt = Date.now();
    const resumedFrames = (await video(sub.page))!.framesDecoded;
    await sleep(1000);
    const resumedDecoding = (await video(sub.page))!.framesDecoded - resumedFrames;

    const events = logs.filter((l) => l.msg === 'sfu: bandwidth').map((l) => `${l.event} est ${Math.round((l.estimate ?? 0) / 1000)}k budget ${l.budget === undefined ? '-' : Math.round(l.budget / 1000) + 'k'}`);
    const reports = logs.filter((l) => l.msg === 'sfu: bandwidth: probe report').map((l) => `${(l as { backlogMs?: number }).backlogMs}`);
    const caps = logs.filter((l) => l.msg === 'sfu: bandwidth cap').map((l) => `${String(l.from)}→${String(l.to)} @${Math.round((l.estimate ?? 0) / 1000)}k`);
    const sent = (await pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.outboundStats())).filter((s) => s.kind === 'video').map((s) => `${s.rid}:${s.frameWidth}`);
    console.log(
      `bandwidth: low layer ${lowAt - t0} ms after joining; capped ${capTo - capFrom} ms: widths ${capped.widths.join('/')} (${Math.round(capped.lowShare * 100)} % ≤ 320), ${capped.count} frames, longest gap ${Math.round(capped.maxGapMs)} ms, ` +
        `decoded ${v2.framesDecoded - v1.framesDecoded}, freezes ${v2.freezeCount - v1.freezeCount} (${(v2.totalFreezesDuration - v1.totalFreezesDuration).toFixed(2)} s), ` +
        `video ${Math.round(((v2.bytesReceived - v1.bytesReceived) * 8) / (capTo - capFrom))} kbit/s, audio samples ${a2.totalSamplesReceived - a1.totalSamplesReceived}; ` +
        `relay dropped ${received.lostQueue}/${received.impaired}; uncapped → 640 (probe held) in ${upAt - liftedAt} ms (then ${after.widths.join('/')}, longest gap ${Math.round(after.maxGapMs)} ms); ` +
        `90 kbit/s → paused in ${pausedAt - squeezedAt} ms, audio ${a4.packetsReceived - a3.packetsReceived} packets in 3 s while paused; uncapped → resumed in ${resumedAt - freedAt} ms, ${resumedDecoding} frames in the next second; ` +
        `layers ${sent.join(' ')}; events ${JSON.stringify(events)}; caps ${JSON.stringify(caps)}; probe backlogs (ms) ${reports.join(' ')}`,
    );

    // Probes (one step up, backed off exponentially) may show the full layer for a moment; the rest is low layers.
    expect(capped.lowShare, 'capped: low layers presented').toBeGreaterThanOrEqual(0.7);
    expect(capped.maxGapMs, 'capped: no freeze longer than 1 s').toBeLessThan(1000);
    // 30 fps for 6 s; a low layer may run at a lower rate, but the decoder keeps going.
    expect(v2.framesDecoded - v1.framesDecoded, 'capped: video keeps decoding').toBeGreaterThanOrEqual(75);
    expect(a2.totalSamplesReceived - a1.totalSamplesReceived, 'capped: the audio keeps flowing').toBeGreaterThan(0.9 * 6 * 48_000);
    // Opus: 50 packets a second.
    expect(a2.packetsReceived - a1.packetsReceived, 'capped: the audio packets arrive').toBeGreaterThan(0.9 * 6 * 50);
    // At most the longest back-off (10 s), a probe (2 s) and a keyframe.
    expect(upAt - liftedAt, 'uncapped: back to the full layer').toBeLessThanOrEqual(15_000);
    expect(stillFull, 'uncapped: the full layer stays').toBe(640);
    expect(after.maxGapMs, 'uncapped: no freeze going up').toBeLessThan(1000);
    expect(pausedMetric, 'paused for bandwidth, in /metrics').toBe('1');
    expect(a4.packetsReceived - a3.packetsReceived, 'paused: the audio keeps arriving').toBeGreaterThan(0.9 * 3 * 50);
    expect(resumedDecoding, 'resumed: the video decodes again').toBeGreaterThan(5);
    expect(pub.consoleErrors.concat(sub.consoleErrors).filter((e) => !/favicon|Failed to load resource/.test(e))).toEqual([]);
  }, 60_000);
});
