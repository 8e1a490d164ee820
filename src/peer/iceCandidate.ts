import type { RTCPeerConnection } from 'werift';
import type { Logger } from '../logger.js';

/** A trickled ICE candidate as signaling carries it (the browser's RTCIceCandidate JSON). */
export type Candidate = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null };

/** Adds a remote candidate; one werift refuses (stale, malformed) is logged at debug and otherwise ignored. */
export async function addRemoteCandidate(pc: RTCPeerConnection, c: Candidate, logger: Logger): Promise<void> {
  await pc
    .addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined })
    .catch((err: Error) => logger.debug({ err: err.message }, 'addIceCandidate failed'));
}
