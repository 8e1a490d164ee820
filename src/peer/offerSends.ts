import type { MediaStreamTrack, RTCPeerConnection } from 'werift';

/**
 * Whether the remote side's latest offer still sends `track` on its media section: not after a `removeTrack` there
 * (recvonly or inactive; werift keeps the section and its track object for a later `addTrack`), nor a stopped
 * transceiver (port 0).
 */
export function offerStillSends(pc: RTCPeerConnection, track: MediaStreamTrack): boolean {
  const t = pc.getTransceivers().find((x) => x.receiver.tracks.includes(track));
  if (!t || t.stopped || t.stopping || t.pendingRejection) return false;
  return t.offerDirection === 'recvonly' || t.offerDirection === 'sendrecv';
}
