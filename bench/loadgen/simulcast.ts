/**
 * VP8 simulcast from a werift peer, which cannot send it by itself: the offer is rewritten to announce the layers
 * (`a=rid:<rid> send`, `a=simulcast:send q;h;f`, no a=ssrc, as Chromium's simulcast offers look), and each layer's
 * RTP leaves with an SSRC of its own and the rid and mid header extensions, through the connected sender's DTLS
 * transport (its SRTP session and ICE pair). The receiving werift (the SFU) learns each layer's SSRC from its rid.
 * Each layer sends RTCP sender reports once a second (the SFU aligns the layers' timestamps through them); PLIs the
 * SFU sends for a layer's SSRC reach that layer's stream.
 */
import { randomInt } from 'node:crypto';
import { RTP_EXTENSION_URI, RtcpPayloadSpecificFeedback, RtcpSenderInfo, RtcpSrPacket, PictureLossIndication, ntpTime, type RTCRtpSender, type RtpPacket } from 'werift';
import type { VideoClip } from './media.js';
import type { VideoOutlet } from './participant.js';

/** One simulcast layer: its rid and the clip it sends (the same pictures at its own size). */
export interface SimulcastLayer {
  rid: string;
  clip: VideoClip;
}

/** werift 0.25's sender internals used here (TypeScript calls them private). */
interface SenderInternals {
  headerExtensions: { id: number; uri: string }[];
  dtlsTransport: RTCRtpSender['dtlsTransport'];
}

/** `sdp` with the media section `mid` announcing `rids` (lowest first) as send layers and its own SSRCs removed. */
export function simulcastOffer(sdp: string, mid: string, rids: readonly string[]): string {
  const sections = sdp.split(/\r\n(?=m=)/);
  return sections
    .map((section) => {
      if (!section.startsWith('m=video') || !section.includes(`\r\na=mid:${mid}\r\n`)) return section;
      const lines = section.split('\r\n').filter((l) => l !== '' && !l.startsWith('a=ssrc:') && !l.startsWith('a=ssrc-group:'));
      return [...lines, ...rids.map((r) => `a=rid:${r} send`), `a=simulcast:send ${rids.join(';')}`].join('\r\n') + '\r\n';
    })
    .join('\r\n');
}

/** One layer's outlet: packets get the layer's SSRC and the mid + rid extensions, and go out through the sender's transport. */
export function layerOutlet(sender: RTCRtpSender, rid: string, mid: string): VideoOutlet & { sendReport(rtpTimestamp: number, packets: number, octets: number): void } {
  const s = sender as unknown as SenderInternals;
  const ssrc = randomInt(1, 2 ** 32 - 1);
  const idOf = (uri: string) => s.headerExtensions.find((e) => e.uri === uri)?.id;
  const pliListeners: Array<() => void> = [];
  let subscribed = false;
  const dtls = () => s.dtlsTransport;
  const listen = () => {
    if (subscribed || !dtls()) return;
    subscribed = true;
    dtls()!.onRtcp.subscribe((rtcp) => {
      if (rtcp.type !== RtcpPayloadSpecificFeedback.type) return;
      const fb = (rtcp as RtcpPayloadSpecificFeedback).feedback;
      if (fb instanceof PictureLossIndication && fb.mediaSsrc === ssrc) pliListeners.forEach((l) => l());
    });
  };
  listen();
  return {
    ssrc,
    send(packet: RtpPacket) {
      const transport = dtls();
      if (!transport || transport.state !== 'connected') return;
      listen();
      const header = packet.header;
      header.ssrc = ssrc;
      const midId = idOf(RTP_EXTENSION_URI.sdesMid);
      const ridId = idOf(RTP_EXTENSION_URI.sdesRTPStreamID);
      header.extensions = [
        ...(midId !== undefined ? [{ id: midId, payload: Buffer.from(mid) }] : []),
        ...(ridId !== undefined ? [{ id: ridId, payload: Buffer.from(rid) }] : []),
      ];
      header.extension = header.extensions.length > 0;
      void transport.sendRtp(packet.payload, header).catch(() => {});
    },
    onPictureLoss: (listener) => void pliListeners.push(listener),
    onNack: () => {},
    sendReport(rtpTimestamp, packets, octets) {
      const transport = dtls();
      if (!transport || transport.state !== 'connected') return;
      const senderInfo = new RtcpSenderInfo({ ntpTimestamp: ntpTime(), rtpTimestamp, packetCount: packets, octetCount: octets });
      void transport.sendRtcp([new RtcpSrPacket({ ssrc, senderInfo })]).catch(() => {});
    },
  };
}
