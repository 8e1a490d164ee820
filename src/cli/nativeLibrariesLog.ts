import type { Logger } from '../logger.js';
import { libopus, libopusError } from '../media/audio/libopus.js';
import { posixSpawn, posixSpawnError } from '../native/posixSpawn.js';
import { SrtpUdpWriter } from '../peer/SrtpUdpWriter.js';
import { installOpensslSrtp } from '../peer/srtp/opensslSrtp.js';

/**
 * Says at startup which system libraries this process found and uses: libopus for decoding voices, libcrypto for
 * SRTP, libc's sendto for forwarded packets and posix_spawn for ffmpeg. Without them it still works (WASM Opus: 3-5× slower, no FEC recovery; node's crypto: a cipher object per
 * packet), so a machine without them should hear about it once, with the reason, instead of silently paying for it
 * in every room.
 */
export function logNativeLibraries(logger: Logger): void {
  const opus = libopus();
  if (opus) logger.info({ version: opus.version }, 'opus: decoding with the system libopus');
  else logger.warn({ reason: libopusError() }, 'opus: no system libopus, decoding with WASM (slower, no FEC recovery); install libopus0');
  const srtp = installOpensslSrtp();
  if (srtp.installed) logger.info({ version: srtp.version }, 'srtp: AES-GCM through the system libcrypto');
  else logger.warn({ reason: srtp.reason }, "srtp: AES-GCM through node's crypto (slower); install libssl3");
  const udpReason = SrtpUdpWriter.unavailableReason();
  if (udpReason === undefined) logger.info('udp: forwarded RTP encrypted in place and sent with sendto(2)');
  else logger.info({ reason: udpReason }, "udp: forwarded RTP sent through node's dgram");
  if (posixSpawn()) logger.info('ffmpeg: children started with posix_spawn(3)');
  else logger.info({ reason: posixSpawnError() }, "ffmpeg: children started with node's spawn (forks the whole process)");
}
