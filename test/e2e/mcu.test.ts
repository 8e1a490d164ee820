// MCU audio end to end: five real Chromium participants in one room of the real `rtc-record serve --room-audio mcu`.
// Each page gets one audio track from the server, the live mix, and analyses it itself (WebAudio + Goertzel in the
// page): a listener outside the three loudest hears exactly those three; a loud talker hears the other two and never
// itself; the quiet fifth is heard by nobody; when a loud one stops, the next loudest comes in within a second. The
// recording (tapping the SFU, mixing on its own) agrees on who was mixed. A second test measures mouth-to-ear latency
// through the server: a tone onset made in one page's WebAudio → heard in another's.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { launchParticipant, type Participant } from '../harness/browser.js';
import { favourProcess } from '../harness/priority.js';
import { CliProcess, serveTestLifecycle } from '../harness/cli.js';
import { audioFixture } from '../harness/fixtures.js';
import { heardOnsets, heardSamples, listenToMix, meanLevels, toDb } from '../harness/pageListener.js';
import { waitFor } from '../harness/util.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups = serveTestLifecycle();

/**
 * Three loud voices, a fourth 8+ dB below the third (it cannot displace it: the ranking needs 6 dB) and a quiet fifth.
 * Tones far apart, none a harmonic of another.
 */
const VOICES = [
  { name: 'Ann', freq: 440, amplitude: 0.5 },
  { name: 'Bob', freq: 620, amplitude: 0.4 },
  { name: 'Cat', freq: 830, amplitude: 0.32 },
  { name: 'Dan', freq: 1150, amplitude: 0.12 },
  { name: 'Eve', freq: 1390, amplitude: 0.03 },
] as const;
const FREQS = VOICES.map((v) => v.freq);
/** A tone counts as heard above this level relative to the loudest tone heard, and as absent below ABSENT_DB. */
const HEARD_DB = -20;
const ABSENT_DB = -30;

interface InboundStat {
  kind: string;
  source?: string;
  jitterBufferDelay?: number;
  jitterBufferTargetDelay?: number;
  jitterBufferEmittedCount?: number;
}
interface RoomHooks {
  rtcRoom: { id?: string; audio: string; mixSpeakers: string[]; mixHistory: Array<{ at: number; speakers: string[] }>; setMicEnabled(on: boolean): void; inboundStats(): Promise<InboundStat[]> };
}
const hooks = (page: Page) => page.evaluate(() => {
  const r = (window as unknown as RoomHooks).rtcRoom;
  return { id: r.id, audio: r.audio, mixSpeakers: r.mixSpeakers, mixHistory: r.mixHistory };
});

async function startServe(extra: string[]): Promise<{ url: string; cli: CliProcess; out: string }> {
  const out = mkdtempSync(join(tmpdir(), 'rtc-mcu-'));
  const cli = new CliProcess(['serve', '--port', '0', '--out', out, '--room-audio', 'mcu', ...extra, '--log-level', process.env.RTC_RECORD_LOG_LEVEL ?? 'info'], {}, undefined, { detached: true });
  // RTC_RECORD_TEST_LOG=file: keep the server's log (with RTC_RECORD_LOG_LEVEL=debug: the mix's voices every 5 s).
  if (process.env.RTC_RECORD_TEST_LOG) cleanups.push(() => writeFileSync(process.env.RTC_RECORD_TEST_LOG!, cli.stderr.join('\n')));
  cleanups.push(async () => {
    cli.kill('SIGINT');
    await Promise.race([cli.exited, sleep(15_000)]);
    cli.kill('SIGKILL');
  });
  const url = (await cli.waitForLine(/^rtc-record server listening on /, 30_000)).replace(/^rtc-record server listening on /, '');
  // The server is what is tested; the browsers stand for other machines (see test/e2e/sfu.test.ts).
  favourProcess(cli.pid);
  return { url, cli, out };
}

/** The tones `levels` holds, relative to the loudest one there (dB). */
function relative(levels: number[]): number[] {
  const top = Math.max(...levels);
  return levels.map((l) => toDb(l) - toDb(top));
}

describe('MCU audio (the server mixes the 3 loudest voices live)', () => {
  it('five voices: each hears the loudest three without its own, the quiet ones nobody; the next comes in when one stops; the recording agrees', async () => {
    const { url, out } = await startServe(['--auto-record', '--no-video']);
    const room = 'mcu';
    const fixtures = await Promise.all(VOICES.map((v) => audioFixture({ freq: v.freq, amplitude: v.amplitude, seconds: 4 })));
    // Browsers first (blank pages), then all five open the room: audio only, no voice processing (levels compared).
    const people: Array<{ name: string; p: Participant; page: Page; id: string }> = await Promise.all(
      VOICES.map(async (v, i) => {
        const p = await launchParticipant({ name: v.name, audio: fixtures[i] });
        cleanups.push(() => p.close());
        return { name: v.name, p, page: p.page, id: '' };
      }),
    );
    await Promise.all(people.map((x) => x.page.goto(`${url}/room/${room}?name=${x.name}&autojoin=1&video=0&agc=0&audio=mcu`)));
    for (const x of people) x.id = (await waitFor(async () => (await hooks(x.page)).id, { timeoutMs: 20_000, description: `${x.name} joined` }))!;
    expect((await hooks(people[0]!.page)).audio).toBe('mcu');
    await Promise.all(people.map((x) => listenToMix(x.page, FREQS)));
    const idsOf = (...names: string[]) => names.map((n) => people.find((x) => x.name === n)!.id).sort();

    // One audio track each from the server (the mix), none per participant.
    for (const x of people) {
      const sources = async () => (await x.page.evaluate(() => (window as unknown as RoomHooks).rtcRoom.inboundStats())).filter((s) => s.kind === 'audio').map((s) => s.source);
      await waitFor(async () => (await sources()).length > 0, { timeoutMs: 10_000, description: `${x.name} receives audio` });
      expect(await sources(), x.name).toEqual(['mix']);
    }

    // The server's ranking settles on the three loud voices (every page is told).
    await waitFor(async () => {
      const sets = await Promise.all(people.map(async (x) => [...(await hooks(x.page)).mixSpeakers].sort().join()));
      return sets.every((s) => s === idsOf('Ann', 'Bob', 'Cat').join());
    }, { timeoutMs: 20_000, description: 'mix = Ann, Bob, Cat on every page' });
    await sleep(3_000);
    const settledAt = Date.now();

    const expectHears = (who: string, levels: number[], heard: string[], when: string) => {
      const rel = relative(levels);
      const report = VOICES.map((v, i) => `${v.name} ${rel[i]!.toFixed(1)} dB`).join(', ');
      for (const [i, v] of VOICES.entries()) {
        if (heard.includes(v.name)) expect(rel[i], `${who} hears ${v.name} ${when} (${report})`).toBeGreaterThan(HEARD_DB);
        else expect(rel[i], `${who} does not hear ${v.name} ${when} (${report})`).toBeLessThan(ABSENT_DB);
      }
      return report;
    };
    const loud = ['Ann', 'Bob', 'Cat'];
    for (const x of people) {
      const levels = meanLevels(await heardSamples(x.page), settledAt - 2_500, settledAt);
      const report = expectHears(x.name, levels, loud.filter((n) => n !== x.name), 'with Ann, Bob, Cat loud');
      console.log(`[mcu] ${x.name} hears: ${report}`);
    }

    // Ann stops talking: Dan, the next loudest, comes in (once Ann's level has fallen 6 dB below his).
    const ann = people[0]!;
    const mutedAt = Date.now();
    await ann.page.evaluate(() => (window as unknown as RoomHooks).rtcRoom.setMicEnabled(false));
    await sleep(5_000);
    const eve = people[4]!;
    const history = (await hooks(eve.page)).mixHistory;
    const danIn = history.find((h) => h.at >= mutedAt && h.speakers.includes(idsOf('Dan')[0]!));
    expect(danIn, `Dan enters the mix after Ann stops: ${JSON.stringify(history)}`).toBeDefined();
    const enteredMs = danIn!.at - mutedAt;
    // Heard by Eve (what she hears, through the same path for both): Ann gone (below -20 dB of the loudest), then Dan
    // there (within 20 dB of it). Chromium takes a few hundred ms to turn a disabled track's audio into silence, so
    // "Ann stopped" is when Eve stops hearing her, not the click.
    const samples = await heardSamples(eve.page);
    const annGone = samples.find((x) => x.t >= mutedAt && relative(x.levels)[0]! < HEARD_DB);
    const danHeard = samples.find((x) => x.t >= mutedAt && relative(x.levels)[3]! > HEARD_DB);
    console.log(`[mcu] Eve after the mute (ms: Ann/Dan dB rel. loudest): ${samples.filter((x) => x.t >= mutedAt - 200 && x.t < mutedAt + 1600).map((x) => `${x.t - mutedAt}:${relative(x.levels)[0]!.toFixed(0)}/${relative(x.levels)[3]!.toFixed(0)}`).join(' ')}`);
    expect(annGone, 'Eve stops hearing Ann').toBeDefined();
    expect(danHeard, 'Eve hears Dan after Ann stopped').toBeDefined();
    const entryMs = danHeard!.t - annGone!.t;
    console.log(`[mcu] Ann muted → Eve stops hearing her after ${annGone!.t - mutedAt} ms, hears Dan ${entryMs} ms later; the server put Dan in the mix ${enteredMs} ms after the click`);
    expect(entryMs, 'the next loudest is heard within 1 s of the stop').toBeLessThan(1_000);
    expect(enteredMs).toBeLessThan(1_500);

    const after = Date.now();
    for (const x of people) {
      const levels = meanLevels(await heardSamples(x.page), after - 2_500, after);
      const report = expectHears(x.name, levels, ['Bob', 'Cat', 'Dan'].filter((n) => n !== x.name), 'after Ann stopped');
      console.log(`[mcu] ${x.name} hears after Ann stopped: ${report}`);
    }

    // The recording (its own decode and ranking of the voices it taps) agrees on who was mixed before and after.
    for (const x of people) await x.p.close();
    const roomDir = join(out, room);
    const manifest = await waitFor(() => {
      const dirs = existsSync(roomDir) ? readdirSync(roomDir).filter((d) => existsSync(join(roomDir, d, 'manifest.json'))) : [];
      const m = dirs.length ? (JSON.parse(readFileSync(join(roomDir, dirs[0]!, 'manifest.json'), 'utf8')) as Manifest) : undefined;
      return m && m.state !== 'recording' && m.state !== 'finalizing' ? m : undefined;
    }, { timeoutMs: 60_000, description: 'the recording finalized' });
    const start = Date.parse(manifest.startedAt);
    const setAt = (epochMs: number) => {
      let current: readonly string[] = [];
      for (const c of manifest.speakerTimeline ?? []) if (c.atMs <= epochMs - start) current = c.speakers;
      return [...current].sort();
    };
    const timeline = JSON.stringify(manifest.speakerTimeline);
    expect(setAt(mutedAt - 1_000), `recording's mix before Ann stopped: ${timeline}`).toEqual(idsOf('Ann', 'Bob', 'Cat'));
    expect(setAt(after), `recording's mix after: ${timeline}`).toEqual(idsOf('Bob', 'Cat', 'Dan'));
  });

  it('mouth-to-ear through the server: every tone onset in one page is heard live in another (p50 under 300 ms; goal 150)', async () => {
    const { url } = await startServe(['--no-composite']);
    const room = 'mcu-latency';
    const [talker, listener] = await Promise.all(['Tia', 'Leo'].map(async (name) => {
      const p = await launchParticipant({ name });
      cleanups.push(() => p.close());
      return p;
    }));
    await Promise.all([talker!, listener!].map((p) => p.page.goto(`${url}/room/${room}?name=${p.name}&autojoin=1&video=0&agc=0&audio=mcu`)));
    await listenToMix(listener!.page, [1000]);
    await waitFor(async () => (await hooks(talker!.page)).id, { timeoutMs: 20_000, description: 'talker joined' });
    // The talker's voice becomes a WebAudio oscillator behind a gain we switch: each onset's wall time is known.
    await talker!.page.evaluate(async () => {
      const ctx = new AudioContext({ sampleRate: 48_000 });
      const osc = ctx.createOscillator();
      osc.frequency.value = 1000;
      const gain = ctx.createGain();
      gain.gain.value = 0;
      const dest = ctx.createMediaStreamDestination();
      osc.connect(gain).connect(dest);
      osc.start();
      await ctx.resume();
      const w = window as unknown as RoomHooks & { __burst(): number; rtcRoom: { replaceAudioTrack(t: MediaStreamTrack): Promise<void> } };
      await w.rtcRoom.replaceAudioTrack(dest.stream.getAudioTracks()[0]!);
      w.__burst = () => {
        gain.gain.setValueAtTime(0.5, ctx.currentTime);
        gain.gain.setValueAtTime(0, ctx.currentTime + 0.4);
        return performance.timeOrigin + performance.now();
      };
    });
    await sleep(2_000);
    const sent: number[] = [];
    // 8 onsets (12 before: 10 s more of CI for the same two checks; p95 of 8 is their slowest, as it was of 12).
    for (let i = 0; i < 8; i++) {
      sent.push(await talker!.page.evaluate(() => (window as unknown as { __burst(): number }).__burst()));
      // 2.5 s apart: the talker falls silent and leaves the mix between bursts (its hold is 1.5 s), so each onset also
      // measures getting back into the mix.
      await sleep(2_500);
    }
    const onsets = await heardOnsets(listener!.page);
    const delays = sent.map((t) => onsets.find((o) => o >= t && o < t + 1_000)).map((o, i) => (o === undefined ? undefined : o - sent[i]!));
    const heard = delays.filter((d): d is number => d !== undefined).sort((a, b) => a - b);
    const q = (p: number) => heard[Math.min(heard.length - 1, Math.floor(p * heard.length))]!;
    // Where the time goes on the listener's side: Chromium's jitter buffer (NetEq), mean and target.
    const mixIn = (await listener!.page.evaluate(() => (window as unknown as RoomHooks).rtcRoom.inboundStats())).find((s) => s.source === 'mix');
    const perSample = (total?: number) => (mixIn?.jitterBufferEmittedCount ? ((total ?? 0) / mixIn.jitterBufferEmittedCount) * 1000 : NaN).toFixed(0);
    console.log(
      `[mcu] mouth-to-ear through the server: p50 ${q(0.5).toFixed(0)} ms, p95 ${q(0.95).toFixed(0)} ms (${heard.length}/${sent.length} onsets heard: ${heard.map((d) => d.toFixed(0)).join(' ')}); ` +
        `listener's jitter buffer ${perSample(mixIn?.jitterBufferDelay)} ms (target ${perSample(mixIn?.jitterBufferTargetDelay)} ms)`,
    );
    expect(heard.length, 'every burst heard').toBe(sent.length);
    // The goal (p50 ≤ 150 ms) is a speed goal: a test on this shared 2-core machine checks that the mix is live (a
    // voice queued behind a backlog, or a grown buffer, would be heard 300+ ms late), and the README keeps the runs'
    // figures against the goal (one CI run read 197 ms on a busy machine, others 87-135 ms).
    expect(q(0.5), `p50 of ${heard.map((d) => d.toFixed(0)).join(' ')}; listener's jitter buffer ${perSample(mixIn?.jitterBufferDelay)} ms`).toBeLessThan(300);
  });
});
