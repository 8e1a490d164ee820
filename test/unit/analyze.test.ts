import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFfmpeg } from '../../src/media/ffmpeg/FfmpegProcess.js';
import {
  audioEnvelopeTimeline,
  colorDistance,
  decodeAudioPcm,
  decodeErrors,
  detectBeepOnsets,
  detectFlashOnsets,
  dominantTones,
  flashBeepOffsets,
  frameCount,
  frameRgb,
  nearestNamedColor,
  probe,
  regionMean,
  sampleColor,
  streamDuration,
  toneLevels,
  tonePresence,
  videoBrightnessTimeline,
} from '../harness/analyze.js';

let dir: string;
const f = (name: string): string => join(dir, name);

/** Builds a fixture from lavfi sources: `inputs` are lavfi graphs, `out` is the codec/format args. */
async function make(name: string, inputs: string[], out: string[]): Promise<string> {
  const args = inputs.flatMap((g) => ['-f', 'lavfi', '-i', g]);
  await runFfmpeg(['-v', 'error', ...args, ...out, '-y', f(name)], { timeoutMs: 60_000 });
  return f(name);
}

const SR = 48_000;
/** White full frame between 0.5 and 0.6 s of every second. */
const flashVideo = (d: number): string =>
  `color=c=black:s=160x120:r=30:d=${d},format=yuv420p,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='between(mod(t\\,1)\\,0.5\\,0.6)'`;
/** 1 kHz beep between 0.5 and 0.6 s of every second, shifted by `offset` s. */
const beepAudio = (d: number, offset: number): string =>
  `aevalsrc=exprs='0.5*sin(2*PI*1000*t)*between(mod(t-(${offset})\\,1)\\,0.5\\,0.6)':s=${SR}:d=${d}`;
const burst = (hz: number, phase = 0): string => `0.4*sin(2*PI*${hz}*t)*lt(mod(t+${phase}\\,0.25)\\,0.18)`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtc-analyze-test-'));
  const opus = ['-c:a', 'libopus', '-b:a', '64k'];
  await Promise.all([
    make('tones.webm', ['sine=f=440:d=2', 'sine=f=1000:d=2'], ['-filter_complex', 'amix=inputs=2:normalize=0', ...opus]),
    // Two tone-burst sources (180 ms on / 70 ms off) out of phase, like two meeting participants.
    make('bursts.webm', [`aevalsrc=exprs='${burst(440)}+${burst(1320, 0.125)}':s=${SR}:d=3`], opus),
    make('silence.webm', [`anullsrc=r=${SR}:cl=mono:d=1`], opus),
    make('colors.mp4', ['color=c=red:s=320x240:r=25:d=1'], [
      '-vf', 'drawbox=x=200:y=20:w=80:h=60:color=blue:t=fill,drawbox=x=20:y=160:w=80:h=60:color=lime:t=fill',
      '-c:v', 'libx264', '-pix_fmt', 'yuv420p',
    ]),
    make('pattern.mp4', ['testsrc=s=320x240:r=25:d=2'], ['-c:v', 'libx264', '-pix_fmt', 'yuv420p']),
    make('sync-late.mp4', [flashVideo(3.2), beepAudio(3.2, 0.04)], ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac']),
    make('sync-early.webm', [flashVideo(3.2), beepAudio(3.2, -0.03)], ['-c:v', 'libvpx', '-b:v', '500k', ...opus]),
  ]);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('probe / decodeErrors / frameCount / streamDuration', () => {
  it('describes streams', async () => {
    const info = await probe(f('sync-late.mp4'));
    expect(info.durationSec).toBeCloseTo(3.2, 1);
    const v = info.streams.find((s) => s.type === 'video')!;
    const a = info.streams.find((s) => s.type === 'audio')!;
    expect(v).toMatchObject({ codec: 'h264', width: 160, height: 120 });
    expect(a).toMatchObject({ codec: 'aac', sampleRate: 48_000, channels: 1 });
    expect(v.durationSec).toBeCloseTo(3.2, 1);
  });

  it('reads WebM per-stream durations from tags', async () => {
    const info = await probe(f('sync-early.webm'));
    expect(info.streams.map((s) => s.codec).sort()).toEqual(['opus', 'vp8']);
    for (const s of info.streams) expect(s.durationSec).toBeCloseTo(3.2, 1);
    expect(info.streams.find((s) => s.type === 'video')?.startSec).toBeGreaterThanOrEqual(0);
  });

  it('counts frames and measures stream durations', async () => {
    expect(await frameCount(f('sync-late.mp4'))).toBe(96);
    expect(await streamDuration(f('sync-late.mp4'), 'video')).toBeCloseTo(3.2, 2);
    expect(await streamDuration(f('sync-early.webm'), 'audio')).toBeCloseTo(3.2, 1);
    expect(await streamDuration(f('tones.webm'), 'video')).toBe(0);
  });

  it('finds no decode errors in a good file and some in a corrupt one', async () => {
    expect(await decodeErrors(f('colors.mp4'))).toEqual([]);
    const bytes = readFileSync(f('sync-early.webm'));
    // Scribble over the middle of the payload; keep the header so the file still opens.
    for (let i = Math.floor(bytes.length * 0.3); i < bytes.length * 0.7; i += 7) bytes[i] = (bytes[i]! * 31 + 17) & 0xff;
    writeFileSync(f('corrupt.webm'), bytes);
    expect((await decodeErrors(f('corrupt.webm'))).length).toBeGreaterThan(0);
    writeFileSync(f('garbage.mp4'), Buffer.alloc(4096, 0x42));
    expect((await decodeErrors(f('garbage.mp4'))).length).toBeGreaterThan(0);
  });
});

describe('audio tone helpers', () => {
  it('decodes mono float PCM with start/duration', async () => {
    const all = await decodeAudioPcm(f('tones.webm'));
    expect(all.length / SR).toBeCloseTo(2, 1);
    const part = await decodeAudioPcm(f('tones.webm'), { sampleRate: 16_000, startSec: 0.5, durationSec: 1 });
    expect(part.length).toBe(16_000);
    expect(Math.max(...part.map(Math.abs))).toBeGreaterThan(0.2); // two lavfi sines (amplitude 1/8) summed
  });

  it('measures Goertzel levels as sine amplitudes', () => {
    const pcm = new Float32Array(SR);
    for (let i = 0; i < pcm.length; i++) pcm[i] = 0.25 * Math.sin((2 * Math.PI * 700 * i) / SR);
    const windows = toneLevels(pcm, SR, [700, 900], { windowMs: 40 });
    expect(windows.length).toBe(49); // hop 20 ms
    for (const w of windows) {
      expect(w.levels[0]).toBeCloseTo(0.25, 2);
      expect(w.levels[1]).toBeLessThan(0.001);
    }
  });

  it('detects mixed continuous tones and rejects absent ones', async () => {
    const res = tonePresence(await decodeAudioPcm(f('tones.webm')), SR, [300, 440, 660, 1000, 1500, 2000]);
    expect(res.present).toEqual([440, 1000]);
    expect(res.absent).toEqual([300, 660, 1500, 2000]);
  });

  it('detects alternating tone bursts, not their harmonics or neighbours', async () => {
    const pcm = await decodeAudioPcm(f('bursts.webm'));
    const res = tonePresence(pcm, SR, [440, 660, 880, 1000, 1320, 2640]);
    expect(res.present).toEqual([440, 1320]);
    const d440 = res.details.find((d) => d.freq === 440)!;
    expect(d440.activeFraction).toBeGreaterThan(0.4);
    expect(d440.levelDb).toBeGreaterThan(-12);

    const dom = dominantTones(pcm, SR, [440, 1320], { windowMs: 40, hopMs: 10 });
    const at = (t: number): number | null => dom.find((w) => w.startSec >= t)!.freq;
    // 440 Hz is on 0–0.18 s of every 250 ms, 1320 Hz on 0.125–0.305 s: each is alone part of the time.
    expect(at(0.07)).toBe(440);
    expect(at(0.19)).toBe(1320);
    expect(at(0.31)).toBe(440);
    expect(at(0.44)).toBe(1320);
  });

  it('finds nothing in silence', async () => {
    const pcm = await decodeAudioPcm(f('silence.webm'));
    expect(tonePresence(pcm, SR, [440, 1000]).present).toEqual([]);
    expect(dominantTones(pcm, SR, [440, 1000]).every((w) => w.freq === null)).toBe(true);
  });
});

describe('video colour helpers', () => {
  it('samples region colours and names them', async () => {
    const bg = await sampleColor(f('colors.mp4'), { timeSec: 0.5, x: 10, y: 10, w: 40, h: 40 });
    const box = await sampleColor(f('colors.mp4'), { timeSec: 0.5, x: 220, y: 30 });
    const lime = await sampleColor(f('colors.mp4'), { timeSec: 0.2, x: 40, y: 180, w: 20, h: 20 });
    expect(nearestNamedColor(bg).name).toBe('red');
    expect(nearestNamedColor(box).name).toBe('blue');
    expect(nearestNamedColor(lime).name).toBe('lime');
    expect(colorDistance(bg, { r: 255, g: 0, b: 0 })).toBeLessThan(20);
    expect(colorDistance(bg, box)).toBeGreaterThan(300);
  });

  it('rejects a time past the end', async () => {
    await expect(sampleColor(f('colors.mp4'), { timeSec: 5, x: 0, y: 0 })).rejects.toThrow(/no frame/);
  });

  it('reads a whole frame whose regions average exactly as sampleColor does (odd positions, edges, several times)', async () => {
    const regions = [
      { x: 0, y: 0 },
      { x: 197, y: 17, w: 16, h: 16 },
      { x: 101, y: 63, w: 20, h: 20 },
      { x: 300, y: 220, w: 20, h: 20 },
      { x: 33, y: 151, w: 1, h: 1 },
    ];
    const [early, late] = await Promise.all([frameRgb(f('pattern.mp4'), 0.3), frameRgb(f('pattern.mp4'), 1.13)]);
    for (const [timeSec, frame] of [[0.3, early], [1.13, late]] as const) {
      expect([frame.width, frame.height, frame.data.length]).toEqual([320, 240, 320 * 240 * 3]);
      const want = await Promise.all(regions.map((r) => sampleColor(f('pattern.mp4'), { timeSec, ...r })));
      regions.forEach((r, i) => expect(regionMean(frame, r), `${timeSec} s ${JSON.stringify(r)}`).toEqual(want[i]));
    }
    // The moving pattern: different moments are different frames.
    expect(regionMean(early, regions[3]!)).not.toEqual(regionMean(late, regions[3]!));
    expect(() => regionMean({ width: 320, height: 240, data: Buffer.alloc(320 * 240 * 3) }, { x: 310, y: 0, w: 20, h: 20 })).toThrow(/outside/);
    await expect(frameRgb(f('colors.mp4'), 5)).rejects.toThrow(/no frame/);
  });

  it('gives per-frame luma with pts', async () => {
    const tl = await videoBrightnessTimeline(f('sync-late.mp4'));
    expect(tl).toHaveLength(96);
    const lumaAt = (t: number): number => tl.find((x) => Math.abs(x.ptsSec - t) < 0.01)!.luma;
    expect(lumaAt(0.2)).toBeLessThan(30);
    expect(lumaAt(0.5)).toBeGreaterThan(200);
    expect(lumaAt(47 / 30)).toBeGreaterThan(200);
    expect(lumaAt(1.7)).toBeLessThan(30);
    const resampled = await videoBrightnessTimeline(f('sync-late.mp4'), { fps: 10 });
    expect(resampled.length).toBeGreaterThanOrEqual(31);
    expect(resampled.length).toBeLessThanOrEqual(33);
  });
});

describe('A/V sync helpers', () => {
  it('tracks the audio envelope on the file timeline', async () => {
    const env = await audioEnvelopeTimeline(f('sync-late.mp4'), { windowMs: 10 });
    const rmsAt = (t: number): number => env.find((w) => w.tSec >= t)!.rms;
    expect(rmsAt(0.3)).toBeLessThan(0.01);
    expect(rmsAt(0.6)).toBeGreaterThan(0.3); // beep 0.54–0.64 s
    expect(rmsAt(0.7)).toBeLessThan(0.01);
  });

  it('detects beep onsets to the sample', () => {
    const pcm = new Float32Array(SR);
    for (let i = 12_000; i < 16_800; i++) pcm[i] = 0.5 * Math.sin((2 * Math.PI * 440 * (i - 12_000)) / SR + 1);
    for (let i = 30_000; i < 34_800; i++) pcm[i] = 0.5 * Math.sin((2 * Math.PI * 440 * (i - 30_000)) / SR + 1);
    expect(detectBeepOnsets(pcm, SR)).toEqual([12_000 / SR, 30_000 / SR]);
    expect(detectBeepOnsets(new Float32Array(SR), SR)).toEqual([]);
  });

  it('measures audio 40 ms late in H.264/AAC MP4', async () => {
    const offsets = await flashBeepOffsets(f('sync-late.mp4'));
    expect(offsets).toHaveLength(3);
    for (const o of offsets) {
      expect(o).toBeGreaterThan(30);
      expect(o).toBeLessThan(50);
    }
  });

  it('measures audio 30 ms early in VP8/Opus WebM, also with a band-pass', async () => {
    for (const opts of [{}, { beepHz: 1000 }]) {
      const offsets = await flashBeepOffsets(f('sync-early.webm'), opts);
      expect(offsets).toHaveLength(3);
      // ffmpeg 5.1's Matroska muxer also delays the video by Opus's 7 ms codec delay (a real skew
      // in the file, visible in ffprobe start_time), so ≈ -37 ms here; newer muxers give ≈ -30.
      for (const o of offsets) {
        expect(o).toBeGreaterThan(-42);
        expect(o).toBeLessThan(-26);
      }
    }
  });

  it('finds no flashes in a steady picture, and fails loudly without audio', async () => {
    expect(detectFlashOnsets(await videoBrightnessTimeline(f('colors.mp4')))).toEqual([]);
    await expect(flashBeepOffsets(f('colors.mp4'))).rejects.toThrow(/matches no streams/);
  });
});
