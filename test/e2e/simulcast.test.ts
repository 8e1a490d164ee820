// Simulcast end to end, in real Chromium against the real server (in-process, on 127.0.0.1 in the test namespace): a
// publisher page sends its 320x240 camera in three layers (the default in SFU rooms); a subscriber page shows it in a tile whose
// size the test changes through CSS, as a layout would. Checked on what the subscriber decodes (getStats frameWidth),
// what it presents (every frame's time and size, through requestVideoFrameCallback) and the tile's colour.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import { vp8KeyframeSize } from '../../src/media/rtp/vp8Descriptor.js';
import type { RemoteTrack } from '../../src/peer/RecorderPeerTypes.js';
import { launchParticipant } from '../harness/browser.js';
import { audioFixture, videoFixture } from '../harness/fixtures.js';
import { assertNetworkIsolated } from '../harness/netns.js';
import { waitTileColor } from '../harness/tileMedia.js';
import { recordFrames } from '../harness/presentedFrames.js';
import { decodedWidth, setTileWidth } from '../harness/tileSize.js';
import { waitFor } from '../harness/util.js';

/** Chromium sends one layer for a 320x240 camera unless its simulcast layer limit is off (and ?simulcastLayers=3 asks for three). */
const SIMULCAST_FIELDTRIAL = '--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/';
const COLOR = '#ff0000';
const HD_COLOR = '#0000ff';

interface Inbound {
  peerId: string;
  kind: string;
  mid?: string;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  freezeCount: number;
  totalFreezesDuration: number;
  pliCount: number;
  totalSamplesReceived: number;
}
interface Hooks {
  rtcRoom: {
    id?: string;
    inboundStats(): Promise<Inbound[]>;
    outboundStats(): Promise<Array<{ kind: string; packetsSent: number; rid?: string; frameWidth?: number }>>;
    tileSizes: Record<string, { width: number; height: number; at: number }>;
  };
  __frames?: Array<{ t: number; w: number }>;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

beforeAll(async () => {
  assertNetworkIsolated('test/e2e/simulcast.test.ts');
  await Promise.all([videoFixture({ kind: 'color', color: COLOR, width: 320, height: 240, fps: 15, seconds: 1 }), videoFixture({ kind: 'color', color: HD_COLOR, width: 1280, height: 720, fps: 10, seconds: 1 }), audioFixture({ freq: 440, seconds: 2 })]);
});

const video = (page: Page) => page.evaluate(() => (window as unknown as Hooks).rtcRoom.inboundStats()).then((s) => s.find((x) => x.kind === 'video'));


describe('simulcast (publish three layers, each subscriber gets the layer its tile needs)', () => {
  it('a small tile gets the small layer, a large one the full layer within 2 s; switches keep frames coming, colour right', async () => {
    const logs: Array<{ msg?: string; fromLayer?: string; toLayer?: string; waitedMs?: number; by?: string; reportDelta?: number; elapsed?: number }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const server = await startServer({ port: 0, host: '127.0.0.1', logger });
    cleanups.push(() => server.close());

    const camera = await videoFixture({ kind: 'color', color: COLOR, width: 320, height: 240, fps: 15, seconds: 1 });
    const mic = await audioFixture({ freq: 440, seconds: 2 });
    const [pub, sub] = await Promise.all([
      launchParticipant({ name: 'pub', video: camera, audio: mic, args: [SIMULCAST_FIELDTRIAL] }),
      launchParticipant({ name: 'sub' }),
    ]);
    cleanups.push(() => pub.close(), () => sub.close());
    // The test turns a layer off and on through the camera's sender, as Chromium's own adaptation does.
    await pub.page.addInitScript(() => {
      const add = RTCPeerConnection.prototype.addTransceiver;
      RTCPeerConnection.prototype.addTransceiver = function (this: RTCPeerConnection, ...args: Parameters<typeof add>) {
        // The full layer starts switched off, as a browser holds it back until its uplink estimate allows it.
        const init = args[1];
        if (init?.sendEncodings?.length === 3) init.sendEncodings[2]!.active = false;
        const t = add.apply(this, args);
        if (t.sender.track?.kind === 'video') (window as unknown as { __simulcastSender: RTCRtpSender }).__simulcastSender = t.sender;
        return t;
      };
    });
    await pub.page.goto(`${server.url}/room/sim?name=Pub&autojoin=1&simulcastLayers=3&agc=0`);
    const pubId = await waitFor(() => pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.id), { timeoutMs: 15_000, description: 'publisher joined' });
    const setFullLayer = (active: boolean) =>
      pub.page.evaluate(async (active) => {
        const sender = (window as unknown as { __simulcastSender: RTCRtpSender }).__simulcastSender;
        const params = sender.getParameters();
        params.encodings[2]!.active = active;
        await sender.setParameters(params);
      }, active);

    // Published without waiting for the held-back layer, which is forwarded once it comes.
    const joinedAt = Date.now();
    const published = await waitFor(() => server.sfu.room('sim')?.tracks.find((t) => t.kind === 'video'), { timeoutMs: 10_000, description: 'the camera is published' });
    const publishedAfter = Date.now() - joinedAt;
    expect(published.layers, 'every negotiated layer, the silent one too').toHaveLength(3);
    expect(publishedAfter, 'published within the late-layer grace, not after the first-packet wait').toBeLessThan(4000);
    await setFullLayer(true);

    // The publisher sends three video streams (layers), one per rid.
    const layers = await waitFor(
      async () => {
        const sent = (await pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.outboundStats())).filter((s) => s.kind === 'video' && s.packetsSent > 0 && s.frameWidth);
        return sent.length === 3 ? sent : undefined;
      },
      { timeoutMs: 15_000, description: 'publisher sends three video layers' },
    );
    expect(Object.fromEntries(layers.map((l) => [l.rid, l.frameWidth]))).toEqual({ q: 80, h: 160, f: 320 });

    // The subscriber (no camera, no microphone) shows the publisher in an 80x60 tile from the start.
    await sub.page.goto(`${server.url}/room/sim?name=Sub&autojoin=1&video=0&audio=0`);
    await setTileWidth(sub.page, 80).catch(() => undefined); // the tile may not exist yet; the style applies when it does
    await decodedWidth(sub.page, (w) => w > 0 && w <= 80, 'subscriber decodes the 80-wide layer', 20_000);
    await waitTileColor(sub.page, pubId, COLOR, 10_000);

    // Every frame the subscriber presents, with its width, from here on.
    await recordFrames(sub.page, pubId);
    const before = (await video(sub.page))!;
    await sleep(1500);

    // Large tile: the full layer within 2 s of the page's report.
    const upAt = await setTileWidth(sub.page, 320);
    const upDone = await decodedWidth(sub.page, (w) => w === 320, 'subscriber decodes the 320-wide layer', 5000).catch(async (err) => {
      const sent = await pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.outboundStats());
      throw new Error(`${(err as Error).message}\n${JSON.stringify(await video(sub.page))}\n${JSON.stringify(sent)}\n${logs.filter((l) => /sfu/.test(l.msg ?? '')).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    await waitTileColor(sub.page, pubId, COLOR, 5000);
    await sleep(1500);

    // Small again: back to the small layer.
    const downAt = await setTileWidth(sub.page, 80);
    const downDone = await decodedWidth(sub.page, (w) => w > 0 && w <= 80, 'subscriber decodes the 80-wide layer again', 5000);
    await waitTileColor(sub.page, pubId, COLOR, 5000);
    await sleep(1500);

    const after = (await video(sub.page))!;
    const frames = (await sub.page.evaluate(() => (window as unknown as Hooks).__frames!)) ?? [];
    const gaps = frames.slice(1).map((f, i) => f.t - frames[i]!.t);
    const maxGap = Math.max(...gaps);
    const widths = [...new Set(frames.map((f) => f.w))];
    const switches = logs.filter((l) => l.msg === 'sfu: layer switched');
    console.log(
      `simulcast: up ${upDone - upAt} ms, down ${downDone - downAt} ms (report → getStats width); server switches ${JSON.stringify(switches.map((s) => `${s.fromLayer}→${s.toLayer} ${s.waitedMs} ms, step by ${s.by}: ${s.reportDelta} vs arrival ${s.elapsed} ticks`))}; ` +
        `${frames.length} frames presented, widths ${widths.join('/')}, longest gap ${Math.round(maxGap)} ms; ` +
        `decoded ${after.framesDecoded - before.framesDecoded}, freezes ${after.freezeCount - before.freezeCount} (${(after.totalFreezesDuration - before.totalFreezesDuration).toFixed(2)} s), PLIs ${after.pliCount - before.pliCount}`,
    );
    expect(upDone - upAt, 'report of a large tile → full layer decoded').toBeLessThanOrEqual(2000);
    expect(downDone - downAt, 'report of a small tile → small layer decoded').toBeLessThanOrEqual(2000);
    expect(widths, 'frames of both layers were presented').toEqual(expect.arrayContaining([80, 320]));
    expect(maxGap, 'no freeze longer than 1 s across the switches').toBeLessThan(1000);
    // 15 fps for ~6 s less start-up slack: the decoder kept going through both switches.
    expect(after.framesDecoded - before.framesDecoded).toBeGreaterThanOrEqual(50);
    expect(switches.map((s) => `${s.fromLayer}→${s.toLayer}`)).toEqual(expect.arrayContaining(['q→f', 'f→q']));
    // The microphone is forwarded as ever beside the layered camera.
    const audio = (await sub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.inboundStats())).find((x) => x.kind === 'audio');
    expect(audio?.totalSamplesReceived ?? 0, 'the publisher is heard').toBeGreaterThan(48_000);

    // A recording's tap gets one video track of the camera, the full layer: its keyframes are 320x240.
    const tap = server.sfu.tap('sim')!;
    const tapped: RemoteTrack[] = [];
    tap.on('track', (t) => tapped.push(t));
    tap.start();
    cleanups.push(() => tap.close());
    const videos = await waitFor(() => (tapped.some((t) => t.kind === 'video') ? tapped.filter((t) => t.kind === 'video') : undefined), { timeoutMs: 5000, description: 'the tap has the video' });
    expect(videos, 'one video track per camera').toHaveLength(1);
    const keyframe = await new Promise<{ width: number; height: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no keyframe on the tapped video within 5 s')), 5000);
      const sub = videos[0]!.track.onReceiveRtp.subscribe((p) => {
        const size = vp8KeyframeSize(p.payload);
        if (!size) return;
        clearTimeout(timer);
        sub.unSubscribe();
        resolve(size);
      });
      void videos[0]!.requestKeyframe();
    });
    expect(keyframe, 'the tapped video is the full layer').toEqual({ width: 320, height: 240 });
    // From here on, what the track file would get: arrival times, sequence numbers and keyframe sizes.
    const archived: Array<{ at: number; seq: number; key?: string }> = [];
    const archiveSub = videos[0]!.track.onReceiveRtp.subscribe((p) => {
      const size = vp8KeyframeSize(p.payload);
      archived.push({ at: Date.now(), seq: p.header.sequenceNumber, ...(size ? { key: `${size.width}x${size.height}` } : {}) });
    });
    cleanups.push(async () => archiveSub.unSubscribe());

    // The publisher stops sending its full layer (as Chromium does when its uplink estimate falls: here by turning the
    // encoding off) while the tile wants it: the subscriber is moved to the highest layer still sent, and back when
    // the full layer returns. The tile freezes for the time it takes to see that the layer stopped (1 s) plus a keyframe.
    await setTileWidth(sub.page, 320);
    await decodedWidth(sub.page, (w) => w === 320, 'subscriber decodes the 320-wide layer before the stop', 5000);
    await recordFrames(sub.page, pubId);
    const stoppedAt = Date.now();
    await setFullLayer(false);
    const fellAt = await decodedWidth(sub.page, (w) => w === 160, 'subscriber decodes the 160-wide layer once the full one stopped', 5000);
    await sleep(1000);
    const resumedAt = Date.now();
    await setFullLayer(true);
    const backAt = await decodedWidth(sub.page, (w) => w === 320, 'subscriber decodes the 320-wide layer again once it resumed', 5000);
    await sleep(500);
    const stopFrames = (await sub.page.evaluate(() => (window as unknown as Hooks).__frames!)) ?? [];
    const stopGap = Math.max(...stopFrames.slice(1).map((f, i) => f.t - stopFrames[i]!.t));
    const stopLogs = logs.filter((l) => /simulcast layer/.test(l.msg ?? '')).map((l) => l.msg);
    console.log(`simulcast: published ${publishedAfter} ms after the join with the full layer held back; full layer stopped → 160 wide in ${fellAt - stoppedAt} ms, resumed → 320 wide in ${backAt - resumedAt} ms; longest gap ${Math.round(stopGap)} ms; ${JSON.stringify(stopLogs)}`);
    expect(fellAt - stoppedAt, 'full layer stopped → the next one down decoded').toBeLessThanOrEqual(2500);
    expect(backAt - resumedAt, 'full layer resumed → decoded again').toBeLessThanOrEqual(3000);
    expect(stopGap, 'the tile froze no longer than the stop takes to see (1 s) and a keyframe').toBeLessThan(2000);
    expect(stopLogs).toEqual(expect.arrayContaining(['sfu: publisher stopped a simulcast layer', 'sfu: publisher resumed a simulcast layer']));
    // The recording's track file followed the same way: down to the 160-wide layer at its keyframe, back up, and no
    // hole in its numbering or longer than the stop takes to see.
    const keys = archived.filter((a) => a.key && a.at >= stoppedAt).map((a) => a.key);
    const archiveGap = Math.max(...archived.slice(1).map((a, i) => a.at - archived[i]!.at));
    const seqSteps = new Set(archived.slice(1).map((a, i) => (a.seq - archived[i]!.seq) & 0xffff));
    console.log(`simulcast: tapped video through the stop: keyframes ${keys.join(' ')}, longest gap ${archiveGap} ms, sequence steps ${[...seqSteps].join(',')}`);
    expect(keys[0], 'the track file went down to the layer still sent').toBe('160x120');
    expect(keys.at(-1), 'and back to the full layer').toBe('320x240');
    expect(archiveGap).toBeLessThan(2000);
    expect([...seqSteps].every((d) => d >= 1 && d <= 3), 'numbering continuous (reordering aside)').toBe(true);
    expect(pub.consoleErrors.concat(sub.consoleErrors).filter((e) => !/favicon|Failed to load resource/.test(e))).toEqual([]);
  }, 60_000);
  // Chromium sends its 720p layer only once its uplink estimate allows it: the SFU's answer starts that estimate at
  // 2 Mbit/s (--publisher-start-kbps); from Chromium's own 300 kbit/s it took up to 15 s on a busy machine and this
  // test failed in about a third of runs. See README, Simulcast.
  it('a 720p camera: an unpinned tile in a grid gets ≤ 360p, pinning it brings 1280x720 within 2 s, unpinning lowers it again', async () => {
    const logs: Array<{ msg?: string; fromLayer?: string; toLayer?: string; waitedMs?: number }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const server = await startServer({ port: 0, host: '127.0.0.1', logger });
    cleanups.push(() => server.close());
    // Chromium's own simulcast for a 720p camera (no field trial): 320x180, 640x360, 1280x720; the top layer starts once
    // its bandwidth estimate allows it (~1.3 Mbit/s).
    const camera = await videoFixture({ kind: 'color', color: HD_COLOR, width: 1280, height: 720, fps: 10, seconds: 1 });
    const mic = await audioFixture({ freq: 440, seconds: 2 });
    const [pub, sub] = await Promise.all([launchParticipant({ name: 'pub', video: camera, audio: mic }), launchParticipant({ name: 'sub', audio: mic })]);
    cleanups.push(() => pub.close(), () => sub.close());
    // On a busy machine Chromium's CPU adaptation scales a 720p camera down (and its top layer away) within seconds; what
    // is tested here is the SFU's choice of layer, so the publisher keeps resolution and gives up frame rate instead.
    await pub.page.addInitScript(() => {
      const add = RTCPeerConnection.prototype.addTransceiver;
      RTCPeerConnection.prototype.addTransceiver = function (this: RTCPeerConnection, ...args: Parameters<typeof add>) {
        const t = add.apply(this, args);
        if (t.sender.track?.kind === 'video') {
          const params = t.sender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
          params.degradationPreference = 'maintain-resolution';
          // A flat colour needs a fraction of a 720p camera's rates; low caps let Chromium keep all three layers on
          // whatever estimate it reaches (it drops the top layer below q + h + f's minimum, which the cap lowers).
          const caps = [60_000, 150_000, 400_000];
          if (params.encodings.length === 3) params.encodings.forEach((e, i) => (e.maxBitrate = caps[i]));
          void t.sender.setParameters(params).catch(() => {});
        }
        return t;
      };
    });
    await pub.page.goto(`${server.url}/room/hd?name=Pub&autojoin=1&agc=0`);
    const pubId = await waitFor(() => pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.id), { timeoutMs: 15_000, description: 'publisher joined' });
    let lastSent: unknown;
    const layers = await waitFor(
      async () => {
        const sent = (await pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.outboundStats())).filter((s) => s.kind === 'video' && s.packetsSent > 0 && s.frameWidth);
        lastSent = sent;
        return sent.length === 3 && sent.some((l) => l.frameWidth === 1280) ? sent : undefined;
      },
      { timeoutMs: 20_000, description: 'publisher sends three video layers, the top one 1280 wide' },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(lastSent)}`);
    });
    expect(Object.fromEntries(layers.map((l) => [l.rid, l.frameWidth]))).toEqual({ q: 320, h: 640, f: 1280 });

    // The subscriber's page (1280x720 window, its own microphone tile and the publisher's: a grid of two ~620 px tiles).
    await sub.page.goto(`${server.url}/room/hd?name=Sub&autojoin=1&video=0&agc=0`);
    const tile = sub.page.locator(`[data-testid="tile"][data-peer="${pubId}"]`);
    await tile.waitFor({ timeout: 15_000 });
    await decodedWidth(sub.page, (w) => w > 0 && w <= 640, 'the unpinned tile decodes ≤ 640x360', 20_000);
    await waitTileColor(sub.page, pubId, HD_COLOR, 10_000);
    await sleep(1000);
    const gridWidth = (await video(sub.page))!.frameWidth;
    const gridTile = await tile.evaluate((el) => el.getBoundingClientRect().width);

    // The publisher's estimate may have dropped its top layer meanwhile (a busy machine): the pin needs it flowing.
    const hdTrack = server.sfu.room('hd')!.tracks.find((t) => t.kind === 'video')!;
    hdTrack.layerRates();
    // A flat colour's 720p layer needs ~10-30 kbit/s: being sent is what counts.
    await waitFor(() => (!hdTrack.layersStopped[2] && (hdTrack.layerRates()[2] ?? 0) > 5_000) || undefined, { timeoutMs: 15_000, intervalMs: 250, description: 'the SFU receives the 1280x720 layer' }).catch(async (err: Error) => {
      const sent = await pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.outboundStats());
      throw new Error(`${err.message}: SFU kbit/s per layer ${JSON.stringify(hdTrack.layerRates().map((r) => Math.round(r / 1000)))}, stopped ${JSON.stringify(hdTrack.layersStopped)}; publisher sends ${JSON.stringify(sent)}`);
    });
    // Pin (a click on the tile): the full 1280x720 layer within 2 s.
    const pinAt = Date.now();
    await tile.click();
    const pinnedAt = await decodedWidth(sub.page, (w) => w === 1280, 'the pinned tile decodes 1280x720', 5000).catch(async (err) => {
      const sent = await pub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.outboundStats());
      const rates = server.sfu.room('hd')?.tracks.find((t) => t.kind === 'video')?.layerRates().map((r) => Math.round(r / 1000));
      throw new Error(`${(err as Error).message}\n${JSON.stringify(await video(sub.page))}\npublisher sends ${JSON.stringify(sent)}\nSFU receives (kbit/s per layer) ${JSON.stringify(rates)}\n${JSON.stringify(await sub.page.evaluate(() => (window as unknown as Hooks).rtcRoom.tileSizes))}\n${logs.filter((l) => /sfu|tile/.test(l.msg ?? '')).slice(-60).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    const pinnedTile = await tile.evaluate((el) => el.getBoundingClientRect().width);
    await waitTileColor(sub.page, pubId, HD_COLOR, 5000);
    const pinnedSize = (await video(sub.page))!;
    // Unpin: back to the grid's layer.
    const unpinAt = Date.now();
    await tile.click();
    const unpinnedAt = await decodedWidth(sub.page, (w) => w > 0 && w <= 640, 'the unpinned tile decodes ≤ 640x360 again', 5000);
    const switches = logs.filter((l) => l.msg === 'sfu: layer switched').map((s) => `${s.fromLayer}→${s.toLayer} ${s.waitedMs} ms`);
    console.log(`simulcast 720p: grid tile ${Math.round(gridTile)} px → ${gridWidth} wide; pinned tile ${Math.round(pinnedTile)} px → 1280x${pinnedSize.frameHeight} in ${pinnedAt - pinAt} ms; unpinned → ≤ 640 in ${unpinnedAt - unpinAt} ms; switches ${JSON.stringify(switches)}`);
    expect(gridWidth, 'grid tile: at most 360p').toBeLessThanOrEqual(640);
    expect(pinnedAt - pinAt, 'pin → 1280x720 decoded').toBeLessThanOrEqual(2000);
    expect(pinnedSize.frameHeight).toBe(720);
    expect(unpinnedAt - unpinAt, 'unpin → ≤ 360p decoded').toBeLessThanOrEqual(2000);
    expect(pub.consoleErrors.concat(sub.consoleErrors).filter((e) => !/favicon|Failed to load resource/.test(e))).toEqual([]);
  }, 60_000);
});
