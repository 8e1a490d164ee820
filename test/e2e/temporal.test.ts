// Temporal layers end to end, in real Chromium against the real server: a publisher page sends a 640x480 moving test
// pattern in three simulcast layers, each with Chromium's three VP8 temporal layers (TID 0/1/2: 7.5 + 7.5 + 15 fps;
// measured here from the SFU's received packets). A subscriber shows it in a 640-wide tile behind a relay capped so
// that the full layer fits at 15 fps but not at 30 fps: the SFU must keep the 640 resolution at ~15 fps (drop TID 2)
// rather than lower it, without freezes; uncapped, 30 fps again. Checked in the subscriber page: getStats (decoded
// width, frames per second, freezes, NACKs) and every presented frame (requestVideoFrameCallback).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertNetworkIsolated } from '../harness/netns.js';
import { framesBetween, recordFrames } from '../harness/presentedFrames.js';
import { slowLinkFixtures, slowLinkRoom } from '../harness/slowLinkRoom.js';
import { waitFor } from '../harness/util.js';

const FULL_MAX_BPS = 600_000;
/** The voice with its overhead (kbit/s). */
const AUDIO_KBPS = 55;
/**
 * Chromium's estimate behind a capped link settles around 0.75 of the cap, and a video keeps its step while it fits
 * 1.15 × the estimate: 15 fps stays from a cap of (15 fps + voice) / 0.87 on. Over (30 fps + voice) the link overflows.
 */
const KEEP_SHARE = 0.87;

interface Inbound {
  kind: string;
  framesDecoded: number;
  frameWidth: number;
  framesPerSecond: number;
  freezeCount: number;
  totalFreezesDuration: number;
  nackCount: number;
  pliCount: number;
}
interface Hooks {
  rtcRoom: { id?: string; inboundStats(): Promise<Inbound[]> };
}
type Log = { time?: number; msg?: string; event?: string; estimate?: number; budget?: number; from?: string; to?: string; steps?: string[] };

/** The window watched while capped: at least 6 s, longer (up to WINDOW_MAX_S) until the 15 fps cap held STRETCH_MIN_MS. */
const WINDOW_MAX_S = 14;
const STRETCH_MIN_MS = 3500;
const STRETCH_TRIM_MS = 500;

/** The longest stretch of [from, to] during which the SFU's last logged cap was `cap`. */
function longestCap(logs: readonly Log[], cap: string, from: number, to: number): { from: number; to: number; ms: number } {
  const caps = logs.filter((l) => l.msg === 'sfu: bandwidth cap' && l.time !== undefined);
  let current = caps.filter((l) => l.time! <= from).at(-1)?.to;
  let since = from;
  let best = { from, to: from, ms: 0 };
  const close = (at: number) => {
    if (current === cap && at - since > best.ms) best = { from: since, to: at, ms: at - since };
  };
  for (const l of caps.filter((l) => l.time! > from && l.time! <= to)) {
    close(l.time!);
    current = l.to;
    since = l.time!;
  }
  close(to);
  return best;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

beforeAll(async () => {
  assertNetworkIsolated('test/e2e/temporal.test.ts');
  await slowLinkFixtures();
});

const video = async (page: Page) => (await page.evaluate(() => (window as unknown as Hooks).rtcRoom.inboundStats())).find((x) => x.kind === 'video');

describe('temporal layers (15 fps before a lower resolution)', () => {
  it('capped between the full layer at 15 and at 30 fps: the 640 layer at ~15 fps without freezes; uncapped: 30 fps again', async () => {
    // Capped from the start; the rate is set once the publisher's layers are measured.
    const { logs, server, pub, sub, path } = await slowLinkRoom<Log>(100_000, cleanups);

    // The full layer held at FULL_MAX_BPS (Chromium's encoder otherwise keeps climbing for many seconds, and where 15 fps
    // fits but 30 fps does not moves with it): the page's senders, recorded as it adds them.
    await pub.page.addInitScript(() => {
      const add = RTCPeerConnection.prototype.addTransceiver;
      RTCPeerConnection.prototype.addTransceiver = function (this: RTCPeerConnection, ...args: Parameters<typeof add>) {
        const t = add.apply(this, args);
        ((window as unknown as { __senders?: RTCRtpSender[] }).__senders ??= []).push(t.sender);
        return t;
      };
    });
    await pub.page.goto(`${server.url}/room/tl?name=Pub&autojoin=1&simulcast=1&simulcastLayers=3&agc=0`);
    const pubId = await waitFor(() => pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.id), { timeoutMs: 15_000, description: 'publisher joined' });
    // The full layer's rate at 15 and 30 fps varies from run to run (~720-870 kbit/s at 30): measured by the SFU
    // once the encoder has ramped up, the cap goes where 15 fps fits Chromium's estimate and 30 fps does not fit at all.
    await waitFor(
      () =>
        pub.page.evaluate(async (max) => {
          for (const sender of (window as unknown as { __senders?: RTCRtpSender[] }).__senders ?? []) {
            const params = sender.getParameters();
            if (params.encodings.length !== 3) continue;
            params.encodings[2]!.maxBitrate = max;
            await sender.setParameters(params);
            return true;
          }
          return undefined;
        }, FULL_MAX_BPS),
      { timeoutMs: 10_000, description: 'the full layer limited' },
    );
    await sleep(5000);
    const track = await waitFor(() => server.sfu.room('tl')?.tracks.find((t) => t.kind === 'video' && t.layers.length === 3), { timeoutMs: 10_000, description: 'the simulcast video at the SFU' });
    // The rate windows sample when read: a first read starts them.
    track.temporalRates();
    await sleep(1500);
    const full = track.temporalRates()[2]!.map((x) => x / 1000);
    const capKbps = Math.round(((full[1]! + AUDIO_KBPS) / KEEP_SHARE + full[2]! + AUDIO_KBPS) / 2);
    expect(capKbps, `a cap from measured rates (${full.join('/')})`).toBeGreaterThan(300);
    path.setToPage({ rateKbps: capKbps, queueBytes: 32_000 });
    await sub.page.goto(`${server.url}/room/tl?name=Sub&autojoin=1&video=0&audio=0`);
    await sub.page.addStyleTag({ content: '.tile { width: 640px !important; }' });
    const t0 = Date.now();
    const dump = () => logs.filter((l) => /bandwidth/.test(l.msg ?? '')).map((l) => JSON.stringify({ ...l, t: l.time! - t0 })).join('\n');

    await waitFor(async () => ((await video(sub.page))?.frameWidth ?? 0) > 0, { timeoutMs: 20_000, description: 'subscriber decodes video' });
    await recordFrames(sub.page, pubId);
    // The SFU caps the full layer to TID 0+1 (its cap logged as "2/t1").
    await waitFor(() => logs.some((l) => l.msg === 'sfu: bandwidth cap' && l.to === '2/t1') || undefined, { timeoutMs: 20_000, intervalMs: 100, description: 'a 15 fps cap on the full layer' }).catch((err: Error) => {
      throw new Error(`${(err as Error).message}\n${dump()}`);
    });
    const cappedAt = logs.find((l) => l.msg === 'sfu: bandwidth cap' && l.to === '2/t1')!.time!;
    // The loss of the 30 fps backlog may still lower it a layer for a few seconds (then a probe brings 15 fps back):
    // watch 6 s of steady state from when the 15 fps cap has held for 2 s.
    const lastCap = () => logs.filter((l) => l.msg === 'sfu: bandwidth cap').at(-1)!;
    await waitFor(() => (lastCap().to === '2/t1' && Date.now() - lastCap().time! >= 2000) || undefined, { timeoutMs: 30_000, intervalMs: 100, description: 'the 15 fps cap held for 2 s' }).catch((err: Error) => {
      throw new Error(`${(err as Error).message}\n${dump()}`);
    });
    const steadyAt = Date.now() - 2000;
    const from = Date.now();
    const v1 = (await video(sub.page))!;
    // The SFU keeps probing 30 fps (it may even hold a while when the encoder's rate dips under the cap): the rate is
    // judged over the longest stretch of the window during which the 15 fps cap was in force, from the SFU's own log.
    const fpsSamples: number[] = [];
    let stretch = longestCap(logs, '2/t1', from, Date.now());
    for (let i = 0; i < WINDOW_MAX_S && (i < 6 || stretch.ms < STRETCH_MIN_MS); i++) {
      await sleep(1000);
      fpsSamples.push((await video(sub.page))!.framesPerSecond);
      stretch = longestCap(logs, '2/t1', from, Date.now());
    }
    const to = Date.now();
    const v2 = (await video(sub.page))!;
    const capped = await framesBetween(sub.page, from, to);
    // Frames already on the link when the cap came keep their rate for a moment (its queue: ≤ 0.5 s).
    const atCap = await framesBetween(sub.page, stretch.from + STRETCH_TRIM_MS, stretch.to);
    // What the SFU measured of the publisher's layers, per temporal layer.
    const temporal = track.temporalRates().map((r) => r.map((x) => Math.round(x / 1000)));
    const totals = track.layerRates().map((x) => Math.round(x / 1000));

    // Uncapped: the next probe to 30 fps holds.
    path.setToPage({});
    const liftedAt = Date.now();
    const held = () => logs.some((l) => l.event === 'probeHeld' && l.time! >= liftedAt);
    await waitFor(async () => (held() && ((await video(sub.page))?.framesPerSecond ?? 0) >= 25) || undefined, { timeoutMs: 20_000, intervalMs: 200, description: 'back to 30 fps' }).catch((err: Error) => {
      throw new Error(`${(err as Error).message}\n${dump()}`);
    });
    const fullAt = Date.now();
    await sleep(3000);
    const after = await framesBetween(sub.page, fullAt, Date.now());
    const afterWidth = (await video(sub.page))!.frameWidth;

    const estimates = logs.filter((l) => l.msg === 'sfu: bandwidth').map((l) => `${l.event} ${Math.round((l.estimate ?? 0) / 1000)}k/${l.budget === undefined ? '-' : Math.round(l.budget / 1000)}k +${l.time! - t0}`);
    const caps = logs.filter((l) => l.msg === 'sfu: bandwidth cap').map((l) => `${l.from}→${l.to} @${Math.round((l.estimate ?? 0) / 1000)}k +${l.time! - t0}ms`);
    console.log(
      `temporal: cap ${capKbps} kbit/s (full layer ${full.map(Math.round).join('/')}); received per layer (kbit/s, TID 0 / 0+1 / all): ${temporal.map((t, i) => `${t.join('/')} (total ${totals[i]})`).join(', ')}; ` +
        `15 fps cap ${cappedAt - t0} ms after joining, steady from ${steadyAt - t0} ms; capped ${to - from} ms: widths ${capped.widths.join('/')} (${Math.round((1 - capped.lowShare) * 100)} % 640), ${capped.fps.toFixed(1)} fps presented, getStats fps ${fpsSamples.join(' ')}, under the 15 fps cap ${Math.round(stretch.ms)} ms (+${stretch.from - t0}): ${atCap.fps.toFixed(1)} fps, ` +
        `longest gap ${Math.round(capped.maxGapMs)} ms, freezes ${v2.freezeCount - v1.freezeCount} (${(v2.totalFreezesDuration - v1.totalFreezesDuration).toFixed(2)} s), NACKs ${v2.nackCount - v1.nackCount}, PLIs ${v2.pliCount - v1.pliCount}; ` +
        `uncapped → ≥ 25 fps in ${fullAt - liftedAt} ms, then ${after.fps.toFixed(1)} fps, widths ${after.widths.join('/')}, longest gap ${Math.round(after.maxGapMs)} ms; caps ${JSON.stringify(caps)}; estimate/budget ${JSON.stringify(estimates)}`,
    );

    expect(temporal[2]!.length, 'Chromium sends three temporal layers').toBe(3);
    // The resolution is kept: (nearly) every presented frame 640 wide (a failed probe of 30 fps falls back to 15 fps).
    expect(capped.lowShare, 'capped: the 640 layer kept').toBeLessThanOrEqual(0.2);
    // ~15 fps while the SFU's 15 fps cap is in force (a probe sends 30 fps for up to 2 s, and may hold a while).
    expect(stretch.ms, 'capped: the 15 fps cap in force for a stretch').toBeGreaterThanOrEqual(STRETCH_MIN_MS);
    expect(atCap.fps, 'capped: ~15 fps presented under the 15 fps cap').toBeGreaterThanOrEqual(11);
    expect(atCap.fps, 'capped: ~15 fps presented under the 15 fps cap').toBeLessThanOrEqual(19);
    expect(capped.fps, 'capped: at most ~15 fps with probes, on the whole window').toBeLessThanOrEqual(26);
    expect(capped.maxGapMs, 'capped: no freeze longer than 1 s').toBeLessThan(1000);
    expect(v2.freezeCount - v1.freezeCount, 'capped: no freeze in getStats').toBe(0);
    expect(afterWidth, 'uncapped: 640 wide').toBe(640);
    expect(after.fps, 'uncapped: 30 fps').toBeGreaterThanOrEqual(25);
    expect(after.maxGapMs, 'uncapped: no freeze').toBeLessThan(1000);
    expect(pub.consoleErrors.concat(sub.consoleErrors).filter((e) => !/favicon|Failed to load resource/.test(e))).toEqual([]);
  }, 90_000);
});
