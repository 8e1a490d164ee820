import type { MediaStreamTrack, RTCPeerConnection } from 'werift';
import type { PeerInfo } from '../signaling/messages.js';
import type { RemoteTrack } from './RecorderPeerTypes.js';

/**
 * Wraps a werift track received on `pc` as the recording layer sees it (codec, ssrc, keyframe requests, NACKs).
 * Undefined when the track never got a codec and ssrc (nothing arrived within `waitMs`).
 */
export async function remoteTrackOf(pc: RTCPeerConnection, track: MediaStreamTrack, participant: PeerInfo, waitMs = 10_000): Promise<RemoteTrack | undefined> {
  // Chrome's offers carry a=ssrc, so codec and ssrc are known now; otherwise (a simulcast layer, known by its rid) wait
  // for the first packet: werift never sets a rid track's ssrc, the packet's header has it.
  if (!track.codec || ssrcOf(track) === undefined) await firstPacket(track, waitMs);
  if (ssrcOf(track) === undefined) return undefined;
  return remoteTrackNow(pc, track, participant);
}

/** Resolves true at `track`'s first packet (at once if one came), false after `waitMs` without one. */
export async function firstPacket(track: MediaStreamTrack, waitMs: number): Promise<boolean> {
  if (ssrcOf(track) !== undefined && track.codec) return true;
  return track.onReceiveRtp.asPromise(waitMs).then(
    () => true,
    () => false,
  );
}

/**
 * The same wrapper without waiting: a simulcast layer that has not sent yet (its publisher holds it back until its
 * uplink estimate allows it) gets its ssrc at its first packet; until then it is 0 and keyframe requests for it are
 * not sent (its first frame is a keyframe anyway). Undefined when the track has no codec (not negotiated).
 */
export function remoteTrackNow(pc: RTCPeerConnection, track: MediaStreamTrack, participant: PeerInfo): RemoteTrack | undefined {
  const transceiver = pc.getTransceivers().find((t) => t.receiver.tracks.includes(track));
  const codec = track.codec;
  if (!transceiver || !codec) return undefined;
  const receiver = transceiver.receiver;
  let plisSent = 0;
  return {
    participant,
    kind: track.kind as 'audio' | 'video',
    codec: { name: codec.name.toLowerCase(), clockRate: codec.clockRate, payloadType: codec.payloadType ?? 0 },
    get ssrc() {
      return ssrcOf(track) ?? 0;
    },
    mid: transceiver.mid ?? String(pc.getTransceivers().indexOf(transceiver)),
    ...(track.rid !== undefined ? { rid: track.rid } : {}),
    remoteTrackId: receiver.remoteTrackId,
    track,
    requestKeyframe: async () => {
      const ssrc = ssrcOf(track);
      if (ssrc === undefined) return;
      plisSent++;
      return receiver.sendRtcpPLI(ssrc);
    },
    get plisSent() {
      return plisSent;
    },
    onNack: (listener) => {
      // werift's NackHandler is per receiver and repeats a NACK (every 5 ms, up to 10 times) until the packet comes.
      const sub = receiver.onPacketLost.subscribe((nack) => {
        if (nack.mediaSourceSsrc === ssrcOf(track)) listener(nack.lost);
      });
      return () => sub.unSubscribe();
    },
  };
}

function ssrcOf(track: MediaStreamTrack): number | undefined {
  return track.ssrc ?? (track.rid !== undefined ? track.header?.ssrc : undefined);
}
