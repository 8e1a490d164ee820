/**
 * One synthetic subscriber of an SFU room: a werift peer that joins like the room page, answers the SFU's offers and
 * counts what it receives per publisher and kind (packets, bytes, first packet, whether video started at a keyframe).
 * Optionally records each packet's arrival (performance.now) by publisher, kind, sequence number, for delay figures.
 */
import { RTCPeerConnection, type MediaStreamTrack, type RtpPacket } from 'werift';
import { isKeyframePacket } from '../../src/media/rtp/keyframe.js';
import { peerConnectionConfig } from '../../src/peer/peerConnectionConfig.js';
import type { TrackPublished } from '../../src/signaling/messages.js';
import { SignalingClient, type JoinedInfo } from '../../src/signaling/SignalingClient.js';

export interface ReceivedStream {
  participant: string;
  kind: 'audio' | 'video';
  /** `mix`: the server's live audio mix of an MCU room (its participant is the SFU's member id). */
  source: TrackPublished['source'];
  packets: number;
  bytes: number;
  firstAtMs?: number;
  /** Video: the first packet forwarded to us was a keyframe's. */
  startedAtKeyframe?: boolean;
  /** Payloads received, in order (kept only with `keepPayloads`). */
  payloads: Buffer[];
}

export interface SubscriberOptions {
  serverUrl: string;
  room: string;
  name: string;
  keepPayloads?: boolean;
  /** Called for every received packet (delay measurement; the MCU bench's mix packets). */
  onPacket?: (owner: TrackPublished, packet: RtpPacket, atMs: number) => void;
}

export class SyntheticSubscriber {
  id = '';
  joined?: JoinedInfo;
  joinedAtMs = 0;
  readonly streams = new Map<string, ReceivedStream>();
  private readonly owners = new Map<string, TrackPublished>();
  private signaling?: SignalingClient;
  private pc?: RTCPeerConnection;
  private chain = Promise.resolve();

  constructor(private readonly opts: SubscriberOptions) {}

  async join(): Promise<void> {
    const signaling = await SignalingClient.connect(this.opts.serverUrl);
    this.signaling = signaling;
    signaling.on('trackPublished', (t) => this.owners.set(t.mid, t));
    signaling.on('offer', (from, session, sdp) => {
      this.chain = this.chain.then(() => this.answer(from, session, sdp.sdp)).catch(() => {});
    });
    this.joinedAtMs = Date.now();
    this.joined = await signaling.join(this.opts.room, this.opts.name, 'participant');
    this.id = this.joined.id;
  }

  /** The stream of `participant`'s `kind`, once something arrived. */
  stream(participant: string, kind: 'audio' | 'video'): ReceivedStream | undefined {
    return this.streams.get(`${participant}/${kind}`);
  }

  async close(): Promise<void> {
    this.signaling?.close();
    await this.pc?.close().catch(() => {});
  }

  private async answer(from: string, session: string | undefined, sdp: string): Promise<void> {
    if (!this.pc) {
      this.pc = new RTCPeerConnection(peerConnectionConfig({ iceServers: this.joined?.iceServers ?? [], iceAddress: '127.0.0.1' }));
      this.pc.onTrack.subscribe((track) => this.onTrack(track));
    }
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    this.signaling!.sendAnswer(from, session, { type: 'answer', sdp: this.pc.localDescription!.sdp });
  }

  private onTrack(track: MediaStreamTrack): void {
    const mid = this.pc!.getTransceivers().find((t) => t.receiver.tracks.includes(track))?.mid;
    track.onReceiveRtp.subscribe((packet) => {
      const owner = mid ? this.owners.get(mid) : undefined;
      if (!owner) return;
      const key = `${owner.participant}/${owner.kind}`;
      let s = this.streams.get(key);
      if (!s) this.streams.set(key, (s = { participant: owner.participant, kind: owner.kind, source: owner.source, packets: 0, bytes: 0, payloads: [] }));
      const now = performance.now();
      if (s.packets === 0) {
        s.firstAtMs = Date.now();
        if (owner.kind === 'video') s.startedAtKeyframe = isKeyframePacket('vp8', packet.payload);
      }
      s.packets++;
      s.bytes += packet.payload.length;
      if (this.opts.keepPayloads) s.payloads.push(Buffer.from(packet.payload));
      this.opts.onPacket?.(owner, packet, now);
    });
  }
}
