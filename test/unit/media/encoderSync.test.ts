// The encoder's timeline: frame n at n/fps and audio sample k at k/48000 must come out aligned in the final MP4 (AAC
// priming, edit lists and skipped frames must not shift one against the other), with the duration of what was fed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Mp4Encoder } from '../../../src/media/encoder/Mp4Encoder.js';
import { solidYuv } from '../../../src/media/video/TextRenderer.js';
import { finalizeComposite } from '../../../src/recording/finalizeComposite.js';
import { decodeErrors, flashBeepOffsets, streamDuration } from '../../harness/analyze.js';

describe('Mp4Encoder A/V alignment', () => {
  it('keeps a flash and a beep written at the same timeline position together, also across skipped frames', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtc-enc-'));
    const fps = 30;
    const enc = new Mp4Encoder({ path: join(dir, 'recording.part.mp4'), video: { width: 320, height: 180, fps }, audio: { sampleRate: 48_000, channels: 1 } });
    const black = solidYuv(320, 180, 0, 0, 0);
    const white = solidYuv(320, 180, 255, 255, 255);
    const seconds = 6;
    const pcm = new Int16Array(960);
    let sample = 0;
    for (let n = 0; n < seconds * fps; n++) {
      // Frames skipped as if the encoder were behind (never frame 0): a gap the encoder must fill, not close.
      const skipped = n > 0 && n % 7 === 3;
      const flash = n % fps < 2;
      if (!skipped) enc.writeVideo(Buffer.from(flash ? white : black), n);
      while (sample < ((n + 1) * 48_000) / fps) {
        for (let i = 0; i < 960; i++) {
          const s = sample + i;
          pcm[i] = s % 48_000 < 4800 ? Math.round(12000 * Math.sin((2 * Math.PI * 1000 * s) / 48_000)) : 0;
        }
        enc.writeAudio(pcm);
        sample += 960;
      }
    }
    expect((await enc.stop()).code).toBe(0);
    await finalizeComposite(dir);
    const file = join(dir, 'recording.mp4');
    expect(await decodeErrors(file)).toEqual([]);
    const offsets = await flashBeepOffsets(file, { beepHz: 1000 });
    expect(offsets.length).toBeGreaterThanOrEqual(5);
    // Exact where frames were written; a skipped frame is filled with the next one: at most one frame early.
    const sorted = offsets.map(Math.abs).sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length / 2)], offsets.join(', ')).toBeLessThanOrEqual(5);
    for (const o of offsets) expect(Math.abs(o), offsets.join(', ')).toBeLessThanOrEqual(1000 / fps + 2);
    expect(Math.abs((await streamDuration(file, 'video')) - seconds)).toBeLessThan(0.05);
    expect(Math.abs((await streamDuration(file, 'audio')) - seconds)).toBeLessThan(0.05);
  });
});
