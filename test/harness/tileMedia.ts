// What a room page shows and plays for a peer, read in the page: the tile's video colour (rtcRoom.tileColor) and the
// dominant tone of the tile's audio (WebAudio), with the tolerances of test/e2e/room.test.ts.
import type { Page } from 'playwright-core';
import { colorToRgb } from './fixtures.js';
import { waitFor } from './util.js';

export interface Tone {
  freq: number;
  peakDb: number;
  medianDb: number;
}

/**
 * Page side: dominant frequency (Hz) of the audio the tile of `peerId` plays, or null without an audible tone. Power is
 * summed over ~1 s so the fixture's tone bursts count.
 */
export async function tileTone(peerId: string): Promise<Tone | null> {
  const video = document.querySelector<HTMLVideoElement>(`[data-testid="tile"][data-peer="${peerId}"] video`);
  const track = video?.srcObject instanceof MediaStream ? video.srcObject.getAudioTracks()[0] : undefined;
  if (!track) return null;
  const ctx = new AudioContext();
  try {
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const power = new Float64Array(analyser.frequencyBinCount);
    for (let i = 0; i < 12; i++) {
      await new Promise((r) => setTimeout(r, 90));
      analyser.getFloatFrequencyData(bins);
      for (let j = 0; j < bins.length; j++) if (Number.isFinite(bins[j]!)) power[j]! += 10 ** (bins[j]! / 10);
    }
    const hz = ctx.sampleRate / analyser.fftSize;
    const lo = Math.ceil(150 / hz);
    const hi = Math.floor(4000 / hz);
    let best = lo;
    for (let j = lo; j <= hi; j++) if (power[j]! > power[best]!) best = j;
    if (!(power[best]! > 0)) return null;
    const sorted = [...power.slice(lo, hi + 1)].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const [a, b, c] = [power[best - 1]!, power[best]!, power[best + 1]!].map((p) => 10 * Math.log10(p || 1e-30)) as [number, number, number];
    const shift = a - 2 * b + c === 0 ? 0 : (0.5 * (a - c)) / (a - 2 * b + c);
    return { freq: (best + shift) * hz, peakDb: b, medianDb: 10 * Math.log10(median || 1e-30) };
  } finally {
    await ctx.close();
  }
}

type Rgb = { r: number; g: number; b: number };

/**
 * Waits (≤ timeoutMs) until the page's tiles show each of `want` (peer id → colour, within 48 levels as waitTileColor):
 * one look at all of them per poll, every 500 ms. With six pages on two cores, a poll per tile every 200 ms cost more
 * CPU (Playwright's driver and the renderers' canvas reads) than the browsers' joins. Rejects with what each tile showed.
 */
export async function waitTileColors(page: Page, want: Array<{ peerId: string; color: string }>, timeoutMs = 15_000): Promise<void> {
  let got: Array<Rgb | null> = [];
  const matches = (c: Rgb | null, color: string) => {
    const [r, g, b] = colorToRgb(color);
    return c !== null && Math.max(Math.abs(c.r - r), Math.abs(c.g - g), Math.abs(c.b - b)) <= 48;
  };
  await waitFor(
    async () => {
      got = await page.evaluate((ids) => ids.map((id) => (window as unknown as { rtcRoom: { tileColor(id: string): Rgb | null } }).rtcRoom.tileColor(id)), want.map((w) => w.peerId));
      return want.every((w, i) => matches(got[i] ?? null, w.color));
    },
    { timeoutMs, intervalMs: 500 },
  ).catch(() => {
    const wrong = want.filter((w, i) => !matches(got[i] ?? null, w.color)).map((w) => `${w.peerId}: colour ${JSON.stringify(got[want.indexOf(w)])}, want ${w.color}`);
    throw new Error(`tiles ${wrong.join('; ')}`);
  });
}

/** Waits (≤ timeoutMs) until the page's tile for `peerId` shows `color` (VP8 + YUV round trips: within 48 levels). */
export async function waitTileColor(page: Page, peerId: string, color: string, timeoutMs = 15_000): Promise<Rgb> {
  const [r, g, b] = colorToRgb(color);
  let got: Rgb | null = null;
  await waitFor(
    async () => {
      got = await page.evaluate((id) => (window as unknown as { rtcRoom: { tileColor(id: string): Rgb | null } }).rtcRoom.tileColor(id), peerId);
      return got && Math.max(Math.abs(got.r - r), Math.abs(got.g - g), Math.abs(got.b - b)) <= 48;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch(() => {
    throw new Error(`tile of ${peerId}: colour ${JSON.stringify(got)}, want ${color}`);
  });
  return got!;
}

/** Waits (≤ timeoutMs) until the page's tile for `peerId` plays a clear tone of `freq` Hz (±15 Hz, ≥ 20 dB over the median). */
export async function waitTileTone(page: Page, peerId: string, freq: number, timeoutMs = 15_000): Promise<Tone> {
  let tone: Tone | null = null;
  await waitFor(
    async () => {
      tone = await page.evaluate(tileTone, peerId);
      return tone && Math.abs(tone.freq - freq) <= 15 && tone.peakDb - tone.medianDb >= 20;
    },
    { timeoutMs, intervalMs: 100 },
  ).catch(() => {
    throw new Error(`tile of ${peerId}: tone ${JSON.stringify(tone)}, want ${freq} Hz`);
  });
  return tone!;
}
