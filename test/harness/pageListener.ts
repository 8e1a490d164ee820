// What a room page hears, measured in the page: the live mix's track (rtcRoom.mixStream) through WebAudio, each tone's
// level from a Goertzel over the last ~85 ms, sampled every 100 ms; and the onset of sound for latency probes. Runs in
// the browser (page.evaluate), so it judges exactly what the listener's ear would get after Chromium's jitter buffer.
import type { Page } from 'playwright-core';

export interface HeardSample {
  /** Epoch ms (the page's clock: the same machine as the test). */
  t: number;
  /** Per frequency asked for: amplitude of that tone (0..1 of full scale). */
  levels: number[];
}

interface PageEar {
  samples: HeardSample[];
  onsets: number[];
}

/** Starts listening to the page's live mix; `freqs` are the tones to measure. Resolves once the mix plays. */
export async function listenToMix(page: Page, freqs: readonly number[]): Promise<void> {
  await page.waitForFunction(() => Boolean((window as unknown as { rtcRoom: { mixStream?: MediaStream } }).rtcRoom.mixStream), undefined, { timeout: 30_000 });
  await page.evaluate((freqs) => {
    const w = window as unknown as { rtcRoom: { mixStream: MediaStream }; __ear?: PageEar };
    const ctx = new AudioContext({ sampleRate: 48_000 });
    const source = ctx.createMediaStreamSource(w.rtcRoom.mixStream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 4096;
    source.connect(analyser);
    // Onsets: a block's RMS jumps from below 0.005 to above 0.05 (ScriptProcessor: 256 samples, 5.3 ms; the callback's
    // wall time is the moment the sound was available to play).
    const probe = ctx.createScriptProcessor(256, 1, 1);
    let quiet = true;
    const ear: PageEar = { samples: [], onsets: [] };
    w.__ear = ear;
    probe.onaudioprocess = (e) => {
      const x = e.inputBuffer.getChannelData(0);
      let sum = 0;
      for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!;
      const rms = Math.sqrt(sum / x.length);
      if (quiet && rms > 0.05) {
        ear.onsets.push(performance.timeOrigin + performance.now());
        quiet = false;
      } else if (!quiet && rms < 0.005) quiet = true;
    };
    source.connect(probe);
    probe.connect(ctx.destination);
    const buf = new Float32Array(analyser.fftSize);
    // Hann window: tones 150+ Hz apart leak < -60 dB into each other's bins at this length.
    const hann = buf.map((_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (buf.length - 1)));
    const gain = hann.reduce((a, b) => a + b, 0) / 2;
    setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      const levels = freqs.map((f) => {
        const k = (2 * Math.PI * f) / ctx.sampleRate;
        const c = 2 * Math.cos(k);
        let s1 = 0;
        let s2 = 0;
        for (let i = 0; i < buf.length; i++) {
          const s0 = buf[i]! * hann[i]! + c * s1 - s2;
          s2 = s1;
          s1 = s0;
        }
        return Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - c * s1 * s2)) / gain;
      });
      ear.samples.push({ t: Date.now(), levels });
    }, 100);
    void ctx.resume();
  }, freqs);
}

export async function heardSamples(page: Page): Promise<HeardSample[]> {
  return page.evaluate(() => (window as unknown as { __ear: PageEar }).__ear.samples);
}

export async function heardOnsets(page: Page): Promise<number[]> {
  return page.evaluate(() => (window as unknown as { __ear: PageEar }).__ear.onsets);
}

/**
 * Mean level of each tone over [fromMs, toMs): tone bursts have gaps, so the mean of the amplitude (not a median)
 * stands for "how loud it is heard".
 */
export function meanLevels(samples: readonly HeardSample[], fromMs: number, toMs: number): number[] {
  const inside = samples.filter((s) => s.t >= fromMs && s.t < toMs);
  if (inside.length === 0) throw new Error(`no samples heard between ${fromMs} and ${toMs}`);
  return inside[0]!.levels.map((_, i) => inside.reduce((a, s) => a + s.levels[i]!, 0) / inside.length);
}

export const toDb = (x: number): number => 20 * Math.log10(Math.max(x, 1e-6));
