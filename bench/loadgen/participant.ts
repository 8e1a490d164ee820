/**
 * One synthetic participant: a werift peer that joins the room through our signaling exactly as the room page does
 * (role participant, one sending RTCPeerConnection offered to the recorder with `to` and a `session` of its own), and
 * sends pre-encoded VP8 + Opus at real-time pace from a shared scheduler.
 */
import { randomInt } from 'node:crypto';
import {
  MediaStream,
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpRrPacket,
  RtpHeader,
  RtpPacket,
  RTP_EXTENSION_URI,
  useFIR,
  useNACK,
  useOPUS,
  usePLI,
  useREMB,
  useSdesRTPStreamId,
  useTWCC,
  useVP8,
  type RTCRtpSender,
  type RTCRtpTransceiver,
} from 'werift';
import { peerConnectionConfig } from '../../src/peer/peerConnectionConfig.js';
import type { PeerInfo } from '../../src/signaling/messages.js';
import { SignalingClient, type JoinedInfo } from '../../src/signaling/SignalingClient.js';
import { VP8_MAX_CHUNK, vp8Descriptor, type AudioClip, type VideoClip } from './media.js';
import type { ParticipantStats, SchedulerStats, StreamStats } from './protocol.js';
import { layerOutlet, simulcastOffer, type SimulcastLayer } from './simulcast.js';

// ---------------------------------------------------------------------------------------------
// Real-time scheduling

interface ScheduledStream {
  /** performance.now() time the next frame/packet is due; Infinity when not started or stopped. */
  nextDue: number;
  sendNext(nowMs: number): void;
  /** Drops what is overdue (as a real client starved of CPU does: its camera does not queue seconds of frames). */
  skipTo(nowMs: number): number;
  /** Sends queued packets as the pacing budget allows (video). */
  drain?(nowMs: number): void;
}

/** Later than this, overdue frames are dropped instead of sent in a burst the recorder would be blamed for. */
const SKIP_LATE_MS = 150;

/**
 * One timer for every stream of every participant: each tick sends whatever is due. Due times are absolute (start +
 * n × frame duration), so timer jitter never accumulates into drift; a late tick sends its backlog at once.
 */
export class MediaScheduler {
  private readonly streams = new Set<ScheduledStream>();
  private timer?: NodeJS.Timeout;
  private whole = new Lateness();
  /** Since mark(): the measurement window. */
  private window = new Lateness();

  add(s: ScheduledStream): void {
    this.streams.add(s);
    this.timer ??= setInterval(() => this.tick(), 4);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.streams) s.nextDue = Infinity;
    this.streams.clear();
  }

  /** Starts the window statistics afresh. */
  mark(): void {
    this.window = new Lateness();
  }

  private tick(): void {
    const now = performance.now();
    for (const s of this.streams) {
      if (now - s.nextDue > SKIP_LATE_MS) {
        const skipped = s.skipTo(now);
        this.whole.skipped += skipped;
        this.window.skipped += skipped;
      }
      for (let n = 0; n < 100 && s.nextDue <= now; n++) {
        const lateMs = now - s.nextDue;
        this.whole.add(lateMs);
        this.window.add(lateMs);
        s.sendNext(now);
      }
      s.drain?.(now);
    }
  }

  stats(): { whole: SchedulerStats; window: SchedulerStats } {
    return { whole: this.whole.stats(), window: this.window.stats() };
  }
}

/** Lateness histogram in 1 ms buckets (last bucket = 1 s or more). */
class Lateness {
  private readonly late = new Uint32Array(1001);
  private max = 0;
  private count = 0;
  skipped = 0;

  add(lateMs: number): void {
    this.late[Math.min(1000, Math.floor(lateMs))]!++;
    if (lateMs > this.max) this.max = lateMs;
    this.count++;
  }

  stats(): SchedulerStats {
    let over20 = 0;
    for (let i = 21; i < this.late.length; i++) over20 += this.late[i]!;
    const target = this.count * 0.99;
    let acc = 0;
    let p99 = 0;
    for (let i = 0; i < this.late.length; i++) {
      acc += this.late[i]!;
      if (acc >= target) {
        p99 = i;
        break;
      }
    }
    return { lateMaxMs: Math.round(this.max * 10) / 10, lateP99Ms: p99, lateOver20ms: over20, sends: this.count, skipped: this.skipped };
  }
}

function newStats(kind: 'audio' | 'video', ssrc: number): StreamStats {
  return { kind, ssrc, packetsSent: 0, bytesSent: 0, mediaSeconds: 0, framesSent: 0, framesSkipped: 0, keyframesSent: 0, pliReceived: 0, keyframeJumps: 0, nackedPackets: 0 };
}

function send(sender: RTCRtpSender, packet: RtpPacket): void {
  sender.sendRtp(packet).catch(() => {}); // a closed transport only means the run is ending
}

/**
 * Told of every packet as it leaves (sequence number, performance.now(); audio: which packet of the clip it was): the
 * SFU bench's delay and loss figures, the MCU bench's tone onsets.
 */
export type SentHook = (kind: 'audio' | 'video', sequenceNumber: number, atMs: number, clipIndex?: number) => void;

/** Where a VideoOut's packets go: a werift sender, or one simulcast layer of one (simulcast.ts). */
export interface VideoOutlet {
  readonly ssrc: number;
  send(packet: RtpPacket): void;
  onPictureLoss(listener: () => void): void;
  onNack(listener: (lost: number) => void): void;
}

/** A plain (single-stream) sender's outlet. */
function senderOutlet(sender: RTCRtpSender): VideoOutlet {
  return {
    ssrc: sender.ssrc,
    send: (packet) => send(sender, packet),
    onPictureLoss: (listener) => void sender.onPictureLossIndication.subscribe(listener),
    onNack: (listener) => void sender.onGenericNack.subscribe((nack) => listener(nack.lost.length)),
  };
}

/** VP8 frames of a looping clip at the clip's frame rate; a PLI makes the next frame the clip's next keyframe. */
export class VideoOut implements ScheduledStream {
  nextDue = Infinity;
  readonly stats: StreamStats;
  private startAt = 0;
  private frameNo = 0;
  private index: number;
  private seq = randomInt(0, 0x10000);
  private readonly ts0 = randomInt(0, 0x7fffffff);
  private pictureId = randomInt(0, 0x8000);
  private pliPending = false;
  private resync = false;
  /** Packets of the current frame(s) not sent yet: a pacer spreads them like Chrome's (2.5 × the media bitrate). */
  private readonly queue: RtpPacket[] = [];
  private readonly pacingBytesPerMs: number;
  private credit = 0;
  private lastDrain = 0;

  constructor(
    private readonly clip: VideoClip,
    private readonly sender: VideoOutlet,
    startKeyframe: number,
    firstSeq?: number,
    private readonly onSent?: SentHook,
  ) {
    if (firstSeq !== undefined) this.seq = firstSeq & 0xffff;
    const clipBytes = clip.frames.reduce((a, f) => a + f.bytes, 0);
    this.pacingBytesPerMs = (2.5 * clipBytes) / ((clip.frames.length / clip.fps) * 1000);
    // Participants sharing a clip start at different keyframes, so their keyframes do not all land together.
    this.index = clip.keyframeIndices[startKeyframe % clip.keyframeIndices.length]!;
    this.stats = newStats('video', sender.ssrc);
    sender.onPictureLoss(() => {
      this.stats.pliReceived++;
      this.pliPending = true;
    });
    sender.onNack((lost) => (this.stats.nackedPackets += lost));
  }

  /** The RTP timestamp this stream stamps a frame captured at `nowMs` with (for its sender reports). */
  timestampAt(nowMs: number): number {
    return (this.ts0 + Math.round(((nowMs - this.startAt) * 90000) / 1000)) >>> 0;
  }

  start(atMs: number): void {
    this.startAt = atMs;
    this.nextDue = atMs;
    this.lastDrain = atMs;
  }

  drain(nowMs: number): void {
    // Credit accrues at the pacing rate, at most 10 ms worth, so an idle pacer never releases a burst.
    this.credit = Math.min(this.credit + (nowMs - this.lastDrain) * this.pacingBytesPerMs, 10 * this.pacingBytesPerMs + VP8_MAX_CHUNK);
    this.lastDrain = nowMs;
    while (this.queue.length > 0 && this.credit > 0) {
      const packet = this.queue.shift()!;
      const at = performance.now();
      this.sender.send(packet);
      this.onSent?.('video', packet.header.sequenceNumber, at);
      this.credit -= packet.payload.length;
      this.stats.packetsSent++;
      this.stats.bytesSent += packet.payload.length;
    }
  }

  /** Drops the overdue frames; the stream resumes at a keyframe so it stays decodable. */
  skipTo(nowMs: number): number {
    const frameMs = 1000 / this.clip.fps;
    const skip = Math.max(0, Math.floor((nowMs - this.nextDue) / frameMs));
    this.frameNo += skip;
    this.index = (this.index + skip) % this.clip.frames.length;
    this.nextDue = this.startAt + this.frameNo * frameMs;
    this.stats.framesSkipped += skip;
    if (skip > 0) this.resync = true;
    return skip;
  }

  sendNext(): void {
    const { clip } = this;
    if (this.pliPending || this.resync) {
      if (this.pliPending) this.stats.keyframeJumps++;
      this.pliPending = false;
      this.resync = false;
      if (!clip.frames[this.index]!.keyframe) this.index = clip.nextKeyframe[this.index]!;
    }
    const frame = clip.frames[this.index]!;
    const timestamp = (this.ts0 + Math.round((this.frameNo * 90000) / clip.fps)) >>> 0;
    const last = frame.chunks.length - 1;
    for (let j = 0; j <= last; j++) {
      const payload = Buffer.concat([vp8Descriptor(j === 0, this.pictureId), frame.chunks[j]!]);
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: this.seq, timestamp, marker: j === last, ssrc: this.sender.ssrc });
      this.seq = (this.seq + 1) & 0xffff;
      this.queue.push(new RtpPacket(header, payload));
    }
    const now = Date.now();
    this.stats.firstSentAtMs ??= now;
    this.stats.lastSentAtMs = now;
    this.stats.framesSent++;
    if (frame.keyframe) this.stats.keyframesSent++;
    this.pictureId = (this.pictureId + 1) & 0x7fff;
    this.index = (this.index + 1) % clip.frames.length;
    this.frameNo++;
    this.stats.mediaSeconds = this.frameNo / clip.fps;
    this.nextDue = this.startAt + (this.frameNo * 1000) / clip.fps;
  }
}

/**
 * Simulcast: one VideoOut per layer on its own SSRC, all starting at the same keyframe and instant, each with a
 * sender report a second (what ties the layers' timestamps together for the SFU). Returns the streams, lowest first.
 */
function startSimulcast(sender: RTCRtpSender, mid: string, layers: readonly SimulcastLayer[], startOffset: number, startAt: number, scheduler: MediaScheduler): VideoOut[] {
  const outs = layers.map((layer) => {
    const outlet = layerOutlet(sender, layer.rid, mid);
    const out = new VideoOut(layer.clip, outlet, startOffset);
    out.start(startAt);
    scheduler.add(out);
    const timer = setInterval(() => {
      if (out.nextDue === Infinity) return clearInterval(timer);
      outlet.sendReport(out.timestampAt(performance.now()), out.stats.packetsSent, out.stats.bytesSent);
    }, 1000);
    timer.unref();
    return out;
  });
  return outs;
}

/** Opus packets of a looping clip, each sent when its predecessors' duration has elapsed. */
class AudioOut implements ScheduledStream {
  nextDue = Infinity;
  readonly stats: StreamStats;
  private startAt = 0;
  private samples = 0;
  private index: number;
  private seq = randomInt(0, 0x10000);
  private readonly ts0 = randomInt(0, 0x7fffffff);

  constructor(
    private readonly clip: AudioClip,
    private readonly sender: RTCRtpSender,
    startIndex: number,
    firstSeq?: number,
    private readonly onSent?: SentHook,
  ) {
    if (firstSeq !== undefined) this.seq = firstSeq & 0xffff;
    this.index = startIndex % clip.packets.length;
    this.stats = newStats('audio', sender.ssrc);
  }

  start(atMs: number): void {
    this.startAt = atMs;
    this.nextDue = atMs;
  }

  /** Drops the overdue packets (each Opus packet decodes on its own). */
  skipTo(nowMs: number): number {
    let skipped = 0;
    while (this.startAt + this.samples / 48 < nowMs - 20) {
      this.samples += this.clip.packets[this.index]!.samples;
      this.index = (this.index + 1) % this.clip.packets.length;
      skipped++;
    }
    this.nextDue = this.startAt + this.samples / 48;
    this.stats.framesSkipped += skipped;
    return skipped;
  }

  /** The negotiated id of the audio level extension (RFC 6464), if any. */
  private audioLevelId(): number | undefined {
    const extensions = (this.sender as unknown as { headerExtensions?: { id: number; uri: string }[] }).headerExtensions;
    return extensions?.find((e) => e.uri === RTP_EXTENSION_URI.audioLevelIndication)?.id;
  }

  sendNext(): void {
    const packet = this.clip.packets[this.index]!;
    const header = new RtpHeader({ payloadType: 111, sequenceNumber: this.seq, timestamp: (this.ts0 + this.samples) >>> 0, marker: this.samples === 0, ssrc: this.sender.ssrc });
    const levelId = packet.levelDbov === undefined ? undefined : this.audioLevelId();
    if (levelId !== undefined) {
      header.extension = true;
      header.extensions = [{ id: levelId, payload: Buffer.of(packet.levelDbov! & 0x7f) }];
    }
    this.seq = (this.seq + 1) & 0xffff;
    const at = performance.now();
    send(this.sender, new RtpPacket(header, packet.data));
    this.onSent?.('audio', header.sequenceNumber, at, this.index);
    const now = Date.now();
    this.stats.firstSentAtMs ??= now;
    this.stats.lastSentAtMs = now;
    this.stats.packetsSent++;
    this.stats.framesSent++;
    this.stats.bytesSent += packet.data.length;
    this.samples += packet.samples;
    this.stats.mediaSeconds = this.samples / 48000;
    this.index = (this.index + 1) % this.clip.packets.length;
    this.nextDue = this.startAt + this.samples / 48;
  }
}

// ---------------------------------------------------------------------------------------------
// The participant

/** Offer only what a browser would for this traffic: Opus, VP8 (+RTX) with NACK/PLI/FIR/REMB/transport-cc. */
function senderConfig(iceServers: JoinedInfo['iceServers'], simulcast: boolean) {
  const base = peerConnectionConfig({ iceServers, iceAddress: '127.0.0.1' });
  return {
    ...base,
    // Simulcast layers are told apart by the rid header extension, as a browser's are.
    ...(simulcast ? { headerExtensions: { audio: base.headerExtensions?.audio ?? [], video: [...(base.headerExtensions?.video ?? []), useSdesRTPStreamId()] } } : {}),
    codecs: {
      audio: [useOPUS({ rtcpFeedback: [useTWCC()] })],
      video: [
        useVP8({ payloadType: 96, rtcpFeedback: [useNACK(), usePLI(), useFIR(), useREMB(), useTWCC()] }),
        new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: 97, parameters: 'apt=96' }),
      ],
    },
  };
}

export interface ParticipantOptions {
  serverUrl: string;
  room: string;
  name: string;
  video?: VideoClip;
  audio?: AudioClip;
  /** Which keyframe / packet of the clips to start at (spreads participants sharing a clip). */
  startOffset: number;
  scheduler: MediaScheduler;
  /** First RTP sequence number of each stream (random by default); tests start near 65535 to cross the wrap. */
  firstSequenceNumber?: number;
  /**
   * Test hooks: the offer we send and the answer we apply pass through these (e.g. to point both ends' candidates at an
   * impairment relay on loopback).
   */
  rewriteOffer?: (sdp: string) => string | Promise<string>;
  rewriteAnswer?: (sdp: string) => string | Promise<string>;
  /** Every packet sent (the SFU bench matches them with what subscribers receive). */
  onSent?: SentHook;
  /** SFU rooms: publish these layers (lowest first) as VP8 simulcast instead of `video` alone (see simulcast.ts). */
  simulcast?: SimulcastLayer[];
}

export class SyntheticParticipant {
  id = '';
  connectedAtMs?: number;
  /** Resolves when the sending connection to the recorder is up and media is flowing. */
  readonly flowing: Promise<number>;
  private resolveFlowing!: (atMs: number) => void;
  private rejectFlowing!: (err: Error) => void;
  private signaling?: SignalingClient;
  private pc?: RTCPeerConnection;
  private session = '';
  /** Who our media goes to (the SFU, or the recorder in a mesh). */
  private sendingTo?: string;
  private videoOut?: VideoOut;
  /** Simulcast: one stream per layer, lowest first. */
  private layerOuts: VideoOut[] = [];
  private audioOut?: AudioOut;
  private closed = false;
  /** Connection state changes (epoch ms:state), for diagnosis. */
  readonly states: string[] = [];
  /** RTCP receiver reports about our streams: proof the recorder receives (and what it says it lost). */
  private receiverReports = 0;
  private firstReceiverReportAtMs?: number;

  constructor(private readonly opts: ParticipantOptions) {
    this.flowing = new Promise((resolve, reject) => {
      this.resolveFlowing = resolve;
      this.rejectFlowing = reject;
    });
    this.flowing.catch(() => {}); // observed by the caller through Promise.all
  }

  async join(): Promise<void> {
    const signaling = await SignalingClient.connect(this.opts.serverUrl);
    this.signaling = signaling;
    const joined = await signaling.join(this.opts.room, this.opts.name, 'participant', undefined, { subscribe: false });
    this.id = joined.id;
    signaling.on('answer', (from, session, sdp) => {
      if (session !== this.session || !this.pc) return;
      const pc = this.pc;
      const rewrite = this.opts.rewriteAnswer ?? ((s: string) => s);
      Promise.resolve(rewrite(sdp.sdp))
        .then((rewritten) => pc.setRemoteDescription({ type: 'answer', sdp: rewritten }))
        .catch((err: Error) => this.rejectFlowing(new Error(`${this.opts.name}: bad answer from ${from}: ${err.message}`)));
    });
    signaling.on('candidate', (_from, session, candidate) => {
      if (session !== this.session || !this.pc || !candidate?.candidate) return;
      this.pc
        .addIceCandidate({ candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? undefined, sdpMLineIndex: candidate.sdpMLineIndex ?? undefined })
        .catch(() => {});
    });
    signaling.on('serverError', (code, message) => this.rejectFlowing(new Error(`${this.opts.name}: signaling error ${code}: ${message}`)));
    signaling.on('close', () => {
      if (!this.closed) this.rejectFlowing(new Error(`${this.opts.name}: signaling connection closed`));
    });
    // Like room.js: in an SFU room publish once, to the SFU (the recording taps it); in a mesh send to the recorder,
    // present now or joining later (never to other participants: a mesh between synthetic participants is not measured).
    const sfu = joined.mode === 'sfu' ? joined.peers.find((p) => p.role === 'sfu') : undefined;
    if (sfu) {
      void this.startSending(sfu, joined.iceServers);
      return;
    }
    const recorder = joined.peers.find((p) => p.role === 'recorder');
    if (recorder) void this.startSending(recorder, joined.iceServers);
    else {
      signaling.on('peerJoined', (peer) => {
        if (peer.role === 'recorder' && !this.pc) void this.startSending(peer, joined.iceServers);
      });
    }
  }

  /**
   * Stops sending video as a page's `removeTrack` does (a stopped screen share): the frames stop and the next offer
   * (same session) marks the video's media section inactive. Resolves once that offer is sent.
   */
  async stopVideo(): Promise<void> {
    const pc = this.pc;
    const sender = pc?.getSenders().find((s) => s.track?.kind === 'video');
    if (!pc || !sender || !this.sendingTo) return;
    if (this.videoOut) this.videoOut.nextDue = Infinity;
    for (const l of this.layerOuts) l.nextDue = Infinity;
    pc.removeTrack(sender);
    await pc.setLocalDescription(await pc.createOffer());
    this.signaling!.sendOffer(this.sendingTo, this.session, { type: 'offer', sdp: pc.localDescription!.sdp });
  }

  private async startSending(recorder: PeerInfo, iceServers: JoinedInfo['iceServers']): Promise<void> {
    const { name, video, audio, startOffset, scheduler, simulcast } = this.opts;
    this.sendingTo = recorder.id;
    // Relayed (SDP hooks): one transport for both media from the start, so there is one candidate port to relay.
    const bundle = this.opts.rewriteOffer ? { bundlePolicy: 'max-bundle' as const } : {};
    const pc = new RTCPeerConnection({ ...senderConfig(iceServers, !!simulcast), ...bundle });
    this.pc = pc;
    this.session = `${this.id}-1`;
    const stream = new MediaStream([]);
    let audioSender: RTCRtpSender | undefined;
    let videoSender: RTCRtpSender | undefined;
    let videoTransceiver: RTCRtpTransceiver | undefined;
    let videoMid: string | undefined;
    if (audio) {
      const track = new MediaStreamTrack({ kind: 'audio' });
      stream.addTrack(track);
      audioSender = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] }).sender;
    }
    if (video) {
      const track = new MediaStreamTrack({ kind: 'video' });
      stream.addTrack(track);
      videoTransceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      videoSender = videoTransceiver.sender;
    }
    for (const sender of [audioSender, videoSender]) {
      sender?.onRtcp.subscribe((rtcp) => {
        if (rtcp.type !== RtcpRrPacket.type) return;
        this.receiverReports++;
        this.firstReceiverReportAtMs ??= Date.now();
      });
    }
    pc.connectionStateChange.subscribe((state) => {
      this.states.push(`${Date.now()}:${state}`);
      if (state === 'connected' && this.connectedAtMs === undefined) {
        this.connectedAtMs = Date.now();
        const at = performance.now();
        if (audio && audioSender) {
          this.audioOut = new AudioOut(audio, audioSender, startOffset * 7, this.opts.firstSequenceNumber, this.opts.onSent);
          this.audioOut.start(at + ((startOffset * 3) % 20));
          scheduler.add(this.audioOut);
        }
        if (video && videoSender) {
          const startAt = at + ((startOffset * 7) % Math.floor(1000 / video.fps));
          if (simulcast) {
            // One stream per layer, the same frames at the same instants (their sender reports tie them together).
            this.layerOuts = startSimulcast(videoSender, videoMid!, simulcast, startOffset, startAt, scheduler);
          } else {
            this.videoOut = new VideoOut(video, senderOutlet(videoSender), startOffset, this.opts.firstSequenceNumber, this.opts.onSent);
            this.videoOut.start(startAt);
            scheduler.add(this.videoOut);
          }
        }
        this.resolveFlowing(this.connectedAtMs);
      } else if (state === 'failed') {
        this.rejectFlowing(new Error(`${name}: connection to the recorder failed`));
      }
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      // werift gathers before setLocalDescription resolves: the offer carries our candidates (no trickle needed).
      let sdp = this.opts.rewriteOffer ? await this.opts.rewriteOffer(pc.localDescription!.sdp) : pc.localDescription!.sdp;
      if (simulcast && videoTransceiver?.mid) sdp = simulcastOffer(sdp, (videoMid = videoTransceiver.mid), simulcast.map((l) => l.rid));
      this.signaling!.sendOffer(recorder.id, this.session, { type: 'offer', sdp });
    } catch (err) {
      this.rejectFlowing(new Error(`${name}: cannot create offer: ${(err as Error).message}`));
    }
  }

  stats(): ParticipantStats {
    return {
      name: this.opts.name,
      id: this.id,
      connectedAtMs: this.connectedAtMs,
      streams: [this.audioOut?.stats, this.videoOut?.stats, ...this.layerOuts.map((l) => l.stats)].filter((s): s is StreamStats => s !== undefined),
      states: this.states,
      receiverReports: this.receiverReports,
      firstReceiverReportAtMs: this.firstReceiverReportAtMs,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.signaling?.close();
    await this.pc?.close().catch(() => {});
  }
}
