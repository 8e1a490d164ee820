import { describe, expect, it } from 'vitest';
import { capabilityChecks, ffmpegCapabilities, requireUsableFfmpeg } from '../../../src/media/ffmpeg/capabilities.js';
import { fitScaleFilter, fpsModeArgs } from '../../../src/media/ffmpeg/compat.js';
import { resolveFfmpeg } from '../../../src/media/ffmpeg/ffmpegBinary.js';
import { runFfmpeg } from '../../../src/media/ffmpeg/FfmpegProcess.js';

// The system ffmpeg (Debian's 5.1) and the bundled one (@ffmpeg-installer: a 2018 4.1 static build) side by side.
const system = resolveFfmpeg({ env: { PATH: process.env.PATH }, loadStatic: () => null }).path;
const bundled = resolveFfmpeg({ env: { PATH: '' }, loadStatic: () => null }).path;

describe('ffmpeg capabilities', () => {
  it('the bundled 4.1 build has everything required, with fallbacks for the newer options', () => {
    const caps = ffmpegCapabilities(bundled);
    expect(caps.version).toMatch(/^N-\d+-g[0-9a-f]+-static$/);
    expect(caps.fpsMode).toBe(false);
    expect(caps.scaleDivisibleBy).toBe(false);
    const checks = capabilityChecks(caps);
    expect(checks.filter((c) => c.required && !c.ok)).toEqual([]);
    expect(checks.filter((c) => !c.ok).map((c) => [c.name, c.effect])).toEqual([
      ['option -fps_mode', '-vsync used instead'],
      ['scale force_divisible_by', 'even tile sizes computed in the scale expression instead'],
    ]);
    expect(fpsModeArgs('cfr', caps)).toEqual(['-vsync', 'cfr']);
  });

  it('the system ffmpeg gets the current spellings', () => {
    const caps = ffmpegCapabilities(system);
    expect(caps.fpsMode && caps.scaleDivisibleBy).toBe(true);
    expect(capabilityChecks(caps).every((c) => c.ok)).toBe(true);
    expect(fpsModeArgs('passthrough', caps)).toEqual(['-fps_mode', 'passthrough']);
  });

  it('probes each binary once', () => {
    expect(ffmpegCapabilities(bundled)).toBe(ffmpegCapabilities(bundled));
  });

  it('the fallback fit filter scales to the same even sizes as force_divisible_by', async () => {
    const sizeOut = async (binary: string, filter: string, input: string): Promise<string> => {
      const { stderr } = await runFfmpeg(['-loglevel', 'info', '-f', 'lavfi', '-i', `testsrc=s=${input}:d=0.04`, '-vf', `${filter},showinfo=checksum=0`, '-f', 'null', '-'], { binaryPath: binary });
      return /showinfo.* s:(\d+x\d+)/.exec(stderr)?.[1] ?? 'none';
    };
    for (const input of ['641x479', '1280x720', '480x640', '333x333', '1920x1080']) {
      const modern = await sizeOut(system, fitScaleFilter(320, 180, ffmpegCapabilities(system)), input);
      const old = await sizeOut(bundled, fitScaleFilter(320, 180, ffmpegCapabilities(bundled)), input);
      expect(old, input).toBe(modern);
      expect(old.split('x').every((n) => Number(n) % 2 === 0)).toBe(true);
    }
  });

  it('a binary that lacks a required encoder is refused at start-up with what it lacks', () => {
    const saved = process.env.FFMPEG_PATH;
    const caps = ffmpegCapabilities(bundled);
    (caps.encoders as Set<string>).delete('libx264');
    try {
      process.env.FFMPEG_PATH = bundled;
      expect(() => requireUsableFfmpeg()).toThrow(/lacks encoder libx264.*rtc-record doctor/);
    } finally {
      (caps.encoders as Set<string>).add('libx264');
      if (saved === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = saved;
    }
  });
});
