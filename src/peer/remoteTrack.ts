import type { MediaStreamTrack, RTCPeerConnection } from 'werift';
import type { PeerInfo } from '../signaling/messages.js';
import type { RemoteTrack } from './RecorderPeerTypes.js';

/**
 * Wraps a werift track received on `pc` as the recording layer sees it (codec, ssrc, keyframe requests, NACKs).
 * Undefined when the track never got a codec and ssrc (nothing arrived within `waitMs`).
 */
export async function remoteTrackOf(pc: RTCPeerConnection, track: MediaStreamTrack, participant: PeerInfo, waitMs = 10_000): Promise<RemoteTrack | undefined> {
  const transceiver = pc.getTransceivers().find((t) => t.receiver.tracks.includes(track));
  if (!transceiver) return undefined;
  // Chrome's offers carry a=ssrc, so codec and ssrc are known now; otherwise (a simulcast layer, known by its rid) wait
  // for the first packet: werift never sets a rid track's ssrc, the packet's header has it.
  const ssrcOf = () => track.ssrc ?? (track.rid !== undefined ? track.header?.ssrc : undefined);
  if (!track.codec || ssrcOf() === undefined) await track.onReceiveRtp.asPromise(waitMs).catch(() => undefined);
  const ssrc = ssrcOf();
  if (!track.codec || ssrc === undefined) return undefined;
  const receiver = transceiver.receiver;
  let plisSent = 0;
  return {
    participant,
    kind: track.kind as 'audio' | 'video',
    codec: { name: track.codec.name.toLowerCase(), clockRate: track.codec.clockRate, payloadType: track.codec.payloadType ?? 0 },
    ssrc,
    mid: transceiver.mid ?? String(pc.getTransceivers().indexOf(transceiver)),
    ...(track.rid !== undefined ? { rid: track.rid } : {}),
    remoteTrackId: receiver.remoteTrackId,
    track,
    requestKeyframe: () => {
      plisSent++;
      return receiver.sendRtcpPLI(ssrc);
    },
    get plisSent() {
      return plisSent;
    },
    onNack: (listener) => {
      // werift's NackHandler is per receiver and repeats a NACK (every 5 ms, up to 10 times) until the packet comes.
      const sub = receiver.onPacketLost.subscribe((nack) => {
        if (nack.mediaSourceSsrc === ssrc) listener(nack.lost);
      });
      return () => sub.unSubscribe();
    },
  };
}
