import { ffmpegCapabilities, type FfmpegCapabilities } from './capabilities.js';

// Arguments whose spelling depends on the ffmpeg version, for the resolved binary (or the given capabilities).

/** `-fps_mode <mode>`, or `-vsync <mode>` on builds before 5.1 (the bundled 4.1). */
export function fpsModeArgs(mode: 'cfr' | 'passthrough', caps: FfmpegCapabilities = ffmpegCapabilities()): string[] {
  return [caps.fpsMode ? '-fps_mode' : '-vsync', mode];
}

/**
 * A scale filter fitting the picture inside width x height with its aspect kept and both sides even (yuv420p). Before
 * 4.3 there is no `force_divisible_by`: the same size is computed in the expressions.
 */
export function fitScaleFilter(width: number, height: number, caps: FfmpegCapabilities = ffmpegCapabilities()): string {
  if (caps.scaleDivisibleBy) {
    return `scale=w=${width}:h=${height}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bilinear`;
  }
  const fit = `min(${width}/iw\\,${height}/ih)`;
  return `scale=w=trunc(iw*${fit}/2)*2:h=trunc(ih*${fit}/2)*2:flags=bilinear`;
}
