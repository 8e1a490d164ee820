import {
  RTCDtlsTransport,
  RTCRtpCodecParameters,
  useAbsSendTime,
  useAudioLevelIndication,
  useFIR,
  useH264,
  useNACK,
  useOPUS,
  usePLI,
  useREMB,
  useSdesMid,
  useTransportWideCC,
  useTWCC,
  useVP8,
  type PeerConfig,
} from 'werift';
import type { IceServer } from '../signaling/messages.js';
import { installOpensslSrtp } from './srtp/opensslSrtp.js';

const videoFeedback = () => [useNACK(), usePLI(), useFIR(), useREMB(), useTWCC()];

/**
 * Opus, VP8 and H.264 (each with its RTX), video with the given RTCP feedback.
 * No transport-cc on audio: browsers estimate bandwidth from the video packets alone (as they did before audio joined
 * TWCC), and each audio packet then costs us no TWCC bookkeeping and no feedback to send.
 * useinbandfec=1 tells the sender we take Opus in-band FEC (RFC 7587), so it adds a low-bitrate copy of the previous
 * frame to each packet when it sees loss (browsers do so only when the receiver asks). The mixer conceals a lost
 * packet with Opus PLC; it does not decode the FEC copy yet.
 * RTX entries need explicit payload types: werift ties each to its codec through `apt=`.
 */
export function mediaCodecs(feedback: RTCRtpCodecParameters['rtcpFeedback']): NonNullable<PeerConfig['codecs']> {
  return {
    audio: [useOPUS({ parameters: 'minptime=10;useinbandfec=1' })],
    video: [
      useVP8({ payloadType: 96, rtcpFeedback: feedback }),
      new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: 97, parameters: 'apt=96' }),
      useH264({ payloadType: 102, rtcpFeedback: feedback }),
      new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: 103, parameters: 'apt=102' }),
    ],
  };
}

/**
 * Makes the process's DTLS certificate now (werift makes one per process, in its first createOffer/createAnswer). Made
 * on demand, the first joins of a freshly started server waited for it: createAnswer took 0.8-1.6 s for the first
 * four of six browsers joining at once (webcrypto key generation queued behind the recording's file I/O on libuv's
 * threads), 1-5 ms after.
 */
export function prepareDtlsCertificate(): void {
  void RTCDtlsTransport.SetupCertificate();
}

/**
 * What the recorder accepts: Opus, VP8 and H.264 (when a browser offers only that), with NACK/PLI/FIR and transport-cc
 * so browsers retransmit, send keyframes on request and do not starve their bitrate.
 */
export function peerConnectionConfig(opts: { iceServers: IceServer[]; iceAddress?: string }): Partial<PeerConfig> {
  // Every werift peer of ours encrypts SRTP through libcrypto where the system has it (once per process).
  installOpensslSrtp();
  const ice: Partial<PeerConfig> = opts.iceAddress
    ? {
        // Only the pinned address, bound and advertised; interface scanning off so no unusable candidates appear.
        iceUseIpv4: false,
        iceUseIpv6: false,
        iceAdditionalHostAddresses: [opts.iceAddress],
        iceInterfaceAddresses: { udp4: opts.iceAddress },
      }
    : {
        // werift skips loopback when scanning interfaces; add it so same-host browsers (and loopback-only hosts) work.
        iceAdditionalHostAddresses: ['127.0.0.1'],
      };
  return {
    ...ice,
    // werift's default is a public STUN server: never contact anything the operator did not configure.
    iceServers: opts.iceServers.map((s) => ({ urls: Array.isArray(s.urls) ? s.urls[0]! : s.urls, username: s.username, credential: s.credential })),
    codecs: mediaCodecs(videoFeedback()),
    headerExtensions: {
      audio: [useSdesMid(), useAudioLevelIndication()],
      video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()],
    },
  };
}
