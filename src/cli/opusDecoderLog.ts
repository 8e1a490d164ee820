import type { Logger } from '../logger.js';
import { libopus, libopusError } from '../media/audio/libopus.js';

/**
 * Says at startup which Opus decoder this process will use. The WASM fallback works but decodes 3-5× slower and cannot
 * recover lost packets from FEC, so a machine without a loadable libopus should hear about it once, with the reason,
 * instead of silently paying for it in every room.
 */
export function logOpusDecoder(logger: Logger): void {
  const lib = libopus();
  if (lib) logger.info({ version: lib.version }, 'opus: decoding with the system libopus');
  else logger.warn({ reason: libopusError() }, 'opus: no system libopus, decoding with WASM (slower, no FEC recovery); install libopus0');
}
