import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RtcpSrPacket, type RtcpPacket, type RtpPacket } from 'werift';
import { JitterBufferCallback } from 'werift/nonstandard';
import { RtcRecordError } from '../errors.js';
import type { Logger } from '../logger.js';
import { opusPacketSamples } from '../media/audio/opusPacket.js';
import { RoomAudioMixer } from '../media/audio/RoomAudioMixer.js';
import type { SpeakerChange } from '../media/audio/RoomAudioMixerTypes.js';
import { Mp4Encoder } from '../media/encoder/Mp4Encoder.js';
import { ParticipantClock, type TrackClock } from '../media/rtp/ParticipantClock.js';
import { ntpToUnixMs } from '../media/rtp/senderReport.js';
import { VideoFrameAssembler } from '../media/rtp/VideoFrameAssembler.js';
import { Compositor } from '../media/video/Compositor.js';
import type { TileContent } from '../media/video/CompositorTypes.js';
import { computeLayout } from '../media/video/layouts.js';
import type { LayoutParticipant, TileRect } from '../media/video/LayoutTypes.js';
import { TextRenderer } from '../media/video/TextRenderer.js';
import type { TextMask } from '../media/video/TextRendererTypes.js';
import { VideoTileDecoder } from '../media/video/VideoTileDecoder.js';
import type { DecodedFrame, YuvFrame } from '../media/video/VideoTileDecoderTypes.js';
import type { RemoteTrack, TileSizedTrack } from '../peer/RecorderPeerTypes.js';
import type { PeerInfo } from '../signaling/messages.js';
import type {
  AudioMixer,
  AudioMixerFactory,
  CompositeInfo,
  CompositeRecorderEvents,
  CompositeRecorderOptions,
  MixedAudioTrackInfo,
} from './CompositeRecorderTypes.js';
import { finalizeComposite, PART_FILES } from './finalizeComposite.js';
import { type ArrivingVoice, StallCatchUp } from './StallCatchUp.js';

export { finalizeComposite };

const SAMPLE_RATE = 48_000;
const AUDIO_FRAME_MS = 20;
const AUDIO_ONLY_TICK_MS = 100;
/** A voice above this (dBFS) counts as speaking (layout "most recently active", speaker layout). */
const ACTIVE_DB = -50;
/** Speaker layout: a new speaker must be the loudest this long (and 3 dB above the current one) to take the big tile. */
const SPEAKER_HOLD_MS = 1000;
const SPEAKER_MARGIN_DB = 3;
const RELAYOUT_CHECK_MS = 200;
/** A tick this late (after its scheduled wait of at most AUDIO_ONLY_TICK_MS) means the process did not run: see StallCatchUp. */
const STALLED_TICK_MS = 250;
const KEYFRAME_REQUEST_MIN_INTERVAL_MS = 400;
const MAX_QUEUED_PICTURES = 60;

type QueuedPicture = DecodedFrame & { from: VideoTileDecoder };

/** A picture leaves its queue for good: its buffer goes back to the decoder's pool. */
function releasePicture(p: QueuedPicture): void {
  p.from.release(p.data);
}

interface VideoSource {
  key: string;
  remote: RemoteTrack;
  /** Simulcast through the in-process SFU: `remote` is this view, whose layer follows the tile (undefined otherwise). */
  tiled?: TileSizedTrack;
  /** The track as the source gave it (its trackEnded names it). */
  origin: RemoteTrack;
  clock: TrackClock;
  decoder?: VideoTileDecoder;
  /** The previous size's decoder, kept until the new one outputs (re-layout without a gap). */
  retiring?: VideoTileDecoder;
  frames: QueuedPicture[];
  lastKeyframeRequest: number;
  /** Our clock when the last RTP packet arrived (stall detection). */
  lastPacketAt: number;
  ended: boolean;
  dispose: () => void;
}

interface AudioSource extends ArrivingVoice {
  trackId: string;
  remote: RemoteTrack;
  clock: TrackClock;
  ended: boolean;
  dispose: () => void;
}

interface ParticipantState {
  info: PeerInfo;
  clock: ParticipantClock;
  present: boolean;
  lastActiveMs?: number;
  videos: VideoSource[];
  audios: AudioSource[];
}

interface LayoutEntry {
  /** Composite timeline ms from which this layout applies. */
  atMs: number;
  tiles: TileRect[];
}

const nowMs = (): number => performance.timeOrigin + performance.now();

/** Name label size for a tile of height h. */
const labelPx = (h: number): number => Math.max(12, Math.min(28, Math.round(h / 14) * 2));

/**
 * The "MCU" part of a recording: one mixed `recording.mp4` (or audio-only `.m4a`) next to the per-track files, made
 * live. Each video track is decoded once (a VideoTileDecoder per shown track, at its tile size), tiles are composed in
 * JS on a fixed frame clock, the room audio mixer's 20 ms frames are pulled on the same clock, and one Mp4Encoder
 * encodes both into a fragmented MP4 that is remuxed (faststart) on stop.
 *
 * Timeline: 0 = construction; frame n covers n/fps. Media is placed on it from RTP timestamps (sender reports per
 * participant, see ParticipantClock) and composed `latencyMs` behind live, so jitter and decoder latency never show
 * as A/V offset. Layout changes are stamped on the same timeline when they happen (join, leave, speaker, share).
 */
export class CompositeRecorder extends EventEmitter<CompositeRecorderEvents> {
  private readonly originMs = nowMs();
  private readonly participants = new Map<string, ParticipantState>();
  private readonly layouts: LayoutEntry[] = [{ atMs: 0, tiles: [] }];
  private readonly text: TextRenderer;
  private readonly compositor?: Compositor;
  private readonly encoder: Mp4Encoder;
  private readonly mixer: AudioMixer;
  private readonly placeholders = new Map<string, YuvFrame | null>();
  private readonly labels = new Map<string, TextMask | null>();
  private readonly width: number;
  private readonly height: number;
  private readonly fps: number;
  private readonly latencyMs: number;
  private readonly stallMs: number;
  private readonly info: CompositeInfo;
  private readonly speakerTimeline: SpeakerChange[] = [];
  private videoFrames = 0;
  private audioFrames = 0;
  private timer?: NodeJS.Timeout;
  private lastRelayoutCheck = 0;
  private lastUpdate = 0;
  /** After a stall: no frames are produced until what arrived meanwhile has been read. */
  private readonly catchUp = new StallCatchUp(AUDIO_ONLY_TICK_MS + STALLED_TICK_MS);
  private activeSpeaker?: string;
  private speakerCandidate?: { id: string; since: number };
  private stopping?: Promise<CompositeInfo>;
  private failed = false;

  private constructor(
    private readonly options: CompositeRecorderOptions,
    createMixer: AudioMixerFactory | undefined,
    private readonly logger: Logger,
  ) {
    super();
    const video = options.video ?? true;
    this.width = options.width ?? 1280;
    this.height = options.height ?? 720;
    this.fps = options.fps ?? 30;
    this.latencyMs = options.latencyMs ?? 1000;
    this.stallMs = options.stallMs ?? 2000;
    const maxSpeakers = options.maxSpeakers ?? 3;
    if (this.width % 2 || this.height % 2 || this.width < 64 || this.height < 64) {
      throw new RtcRecordError('INVALID_FIELD', `composite size must be even and at least 64x64, got ${this.width}x${this.height}`);
    }
    if (!(this.fps >= 1 && this.fps <= 60)) throw new RtcRecordError('INVALID_FIELD', `fps must be 1-60, got ${this.fps}`);
    const format = video ? 'mp4' : 'm4a';
    this.info = {
      file: PART_FILES[format],
      state: 'recording',
      format,
      ...(video ? { width: this.width, height: this.height, fps: this.fps, layout: options.layout ?? 'grid' } : {}),
      maxSpeakers,
      // Epoch ms for the manifest (Date clock); the timeline itself runs on the monotonic clock from originMs.
      startedAtMs: Date.now(),
      videoFramesWritten: 0,
      videoFramesDropped: 0,
      audioFramesWritten: 0,
      layoutChanges: 0,
    };
    this.text = new TextRenderer(logger);
    if (video) this.compositor = new Compositor(this.width, this.height);
    const mixerOptions = { sampleRate: SAMPLE_RATE, channels: 1 as const, maxSpeakers, frameMs: AUDIO_FRAME_MS };
    this.mixer = createMixer ? createMixer(mixerOptions) : new RoomAudioMixer(mixerOptions);
    this.mixer.on('speakersChanged', (change) => {
      this.speakerTimeline.push(change);
      this.emit('speakersChanged', change);
      this.emit('update');
    });
    this.encoder = new Mp4Encoder({
      path: join(options.dir, PART_FILES[format]),
      video: video ? { width: this.width, height: this.height, fps: this.fps, bitrateKbps: options.videoBitrateKbps } : undefined,
      audio: { sampleRate: SAMPLE_RATE, channels: 1 },
      logger,
    });
    this.encoder.on('error', (err) => this.fail(err));
    this.schedule();
  }

  /** Starts the encoder and the clock (the room audio mixer unless `createMixer` is given). */
  static async start(options: CompositeRecorderOptions, logger: Logger): Promise<CompositeRecorder> {
    return new CompositeRecorder(options, options.createMixer, logger);
  }

  /** For manifest.json. */
  manifestFields(): { composite: CompositeInfo; speakerTimeline: SpeakerChange[] } {
    this.info.videoFramesWritten = this.encoder.videoFramesWritten;
    this.info.videoFramesDropped = this.encoder.videoFramesDropped;
    this.info.audioFramesWritten = this.audioFrames;
    this.info.audioTracks = this.audioTrackInfo();
    return { composite: { ...this.info }, speakerTimeline: [...this.speakerTimeline] };
  }

  private audioTrackInfo(): Record<string, MixedAudioTrackInfo> {
    const ms = (samples: number): number => (samples * 1000) / SAMPLE_RATE;
    const out: Record<string, MixedAudioTrackInfo> = {};
    for (const [id, s] of this.mixer.trackStats()) {
      const p = this.participants.get(id.split(':')[0]!);
      out[id] = {
        participantId: p?.info.id ?? id,
        participantName: p?.info.name ?? id,
        firstPacketTimelineMs: s.placement === undefined ? undefined : Math.round(ms(s.placement) * 10) / 10,
        packetsReceived: s.received,
        packetsDecoded: s.decoded,
        packetsLate: s.late,
        packetsOverlapping: s.overlapping,
        packetsDropped: s.tooFarAhead + s.overflow + s.invalid + s.notReady,
        concealedMs: Math.round(ms(s.concealedSamples)),
        packetsFecDecoded: s.fecDecoded,
        gaps: s.gaps,
        slewedMs: Math.round(ms(s.slewedSamples)),
        reanchors: s.reanchors,
      };
      const stalled = p?.audios.filter((a) => a.trackId === id).reduce((sum, a) => sum + a.clock.stalledMs, 0);
      if (stalled) out[id]!.senderStalledMs = Math.round(stalled);
    }
    return out;
  }

  // ─────────────────────────── room events ───────────────────────────

  addParticipant(peer: PeerInfo): void {
    if (this.stopping) return;
    let p = this.participants.get(peer.id);
    if (!p) {
      p = { info: peer, clock: new ParticipantClock(this.originMs), present: true, videos: [], audios: [] };
      this.participants.set(peer.id, p);
    }
    p.present = true;
    this.relayout('join');
  }

  removeParticipant(peer: PeerInfo): void {
    const p = this.participants.get(peer.id);
    if (!p) return;
    p.present = false;
    for (const v of p.videos) this.endVideo(v);
    for (const a of p.audios) this.endAudio(a);
    if (this.activeSpeaker === peer.id) this.activeSpeaker = undefined;
    this.relayout('leave');
  }

  /** A participant stopped sending `track` and stays (a stopped screen share): its tile or voice goes now. */
  endTrack(track: RemoteTrack): void {
    const p = this.participants.get(track.participant.id);
    if (!p) return;
    const video = p.videos.find((v) => v.origin === track && !v.ended);
    const audio = p.audios.find((a) => a.remote === track && !a.ended);
    if (video) this.endVideo(video);
    if (audio) this.endAudio(audio);
    if (video) this.relayout('track ended');
  }

  addTrack(track: RemoteTrack): void {
    if (this.stopping) return;
    if (!this.participants.has(track.participant.id)) this.addParticipant(track.participant);
    const p = this.participants.get(track.participant.id)!;
    if (track.kind === 'audio') {
      if (track.codec.name !== 'opus') return this.logger.warn({ codec: track.codec.name }, 'composite: audio codec not mixable');
      this.addAudio(p, track);
    } else {
      if (track.codec.name !== 'vp8' && track.codec.name !== 'h264') {
        return this.logger.warn({ codec: track.codec.name }, 'composite: video codec not decodable; placeholder shown');
      }
      if (this.compositor) this.addVideo(p, track);
    }
  }

  private addAudio(p: ParticipantState, remote: RemoteTrack): void {
    const trackId = p.audios.some((a) => !a.ended) ? `${p.info.id}:${remote.mid}` : p.info.id;
    const clock = p.clock.track(remote.ssrc, remote.codec.clockRate, 'audio');
    this.mixer.addTrack(trackId, { id: p.info.id, name: p.info.name });
    const source: AudioSource = { trackId, remote, clock, ended: false, dispose: () => {}, lastArrivalAt: 0, lastTimelineMs: 0 };
    let mediaZero: number | undefined;
    const rtpSub = remote.track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      if (source.ended) return;
      // A packet leaves the sender once its last sample is captured: observing its end keeps the packet duration
      // from reading as network delay while the clock settles (60 ms packets put the first lip-sync seconds 60 ms off).
      source.lastArrivalAt = nowMs();
      clock.observe((rtp.header.timestamp + opusPacketSamples(rtp.payload)) >>> 0, source.lastArrivalAt);
      source.lastTimelineMs = clock.toTimeline(rtp.header.timestamp);
      if (rtp.payload.length === 0) return;
      // Media position 0 is the first packet's start, as in the track file (its t = 0).
      mediaZero ??= clock.mediaMs(rtp.header.timestamp);
      // The mixer's timeline copies what it queues (packets wait until their time comes).
      this.mixer.pushOpus(trackId, rtp.payload, source.lastTimelineMs, clock.mediaMs(rtp.header.timestamp) - mediaZero);
    });
    const rtcpSub = remote.track.onReceiveRtcp.subscribe((rtcp: RtcpPacket) => this.onRtcp(clock, rtcp, p));
    source.dispose = () => {
      rtpSub.unSubscribe();
      rtcpSub.unSubscribe();
    };
    p.audios.push(source);
  }

  private addVideo(p: ParticipantState, track: RemoteTrack): void {
    // Simulcast: decode the layer that covers the tile, not the highest (set in relayout, switched at keyframes).
    const tiled = track.tileSized?.();
    const remote = tiled ?? track;
    const live = p.videos.filter((v) => !v.ended);
    // A participant's first video is the camera; a further one is a screen share (featured).
    const key = live.length === 0 ? p.info.id : `${p.info.id}#screen`;
    const clock = p.clock.track(remote.ssrc, remote.codec.clockRate, 'video');
    const source: VideoSource = { key, remote, tiled, origin: track, clock, frames: [], lastKeyframeRequest: 0, lastPacketAt: nowMs(), ended: false, dispose: () => {} };
    const h264 = remote.codec.name === 'h264';
    const jitter = new JitterBufferCallback(remote.codec.clockRate, { latency: 200, bufferSize: 10_000 });
    // Frames end at the marker, and a frame cut off by a layer switch is dropped rather than joined to the new layer's
    // keyframe (see VideoFrameAssembler).
    const frames = new VideoFrameAssembler(h264 ? 'h264' : 'vp8');
    jitter.pipe((out) => {
      if (out.isPacketLost) {
        frames.lost();
        this.onVideoLoss(source);
      }
      if (!out.rtp || source.ended) return;
      const frame = frames.push(out.rtp);
      if (!frame) return;
      const pts = clock.toTimeline(frame.timestamp);
      source.decoder?.push(frame.data, frame.isKeyframe, pts);
      source.retiring?.push(frame.data, frame.isKeyframe, pts);
    });
    const rtpSub = remote.track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      if (source.ended) return;
      source.lastPacketAt = nowMs();
      clock.observe(rtp.header.timestamp, source.lastPacketAt);
      jitter.input({ rtp: rtp.clone() });
    });
    const rtcpSub = remote.track.onReceiveRtcp.subscribe((rtcp: RtcpPacket) => this.onRtcp(clock, rtcp, p));
    source.dispose = () => {
      rtpSub.unSubscribe();
      rtcpSub.unSubscribe();
      jitter.destroy();
      tiled?.close();
    };
    p.videos.push(source);
    this.relayout('track');
  }

  private onRtcp(clock: TrackClock, rtcp: RtcpPacket, p: ParticipantState): void {
    if (rtcp.type !== RtcpSrPacket.type) return;
    const { ntpTimestamp, rtpTimestamp } = (rtcp as RtcpSrPacket).senderInfo;
    if (clock.onSenderReport(rtpTimestamp, ntpToUnixMs(ntpTimestamp), nowMs()) === 'distrusted') {
      this.info.distrustedSenderReports = (this.info.distrustedSenderReports ?? 0) + 1;
      this.logger.warn({ participant: p.info.name, ssrc: rtcp.ssrc }, 'composite: sender report contradicts the sender\'s earlier ones by > 0.5 s; not followed');
    }
  }

  private endVideo(v: VideoSource): void {
    if (v.ended) return;
    v.ended = true;
    v.dispose();
    void v.decoder?.stop();
    void v.retiring?.stop();
    v.decoder = v.retiring = undefined;
  }

  private endAudio(a: AudioSource): void {
    if (a.ended) return;
    a.ended = true;
    a.dispose();
    this.mixer.removeTrack(a.trackId);
  }

  // ─────────────────────────── layout ───────────────────────────

  private desiredLayout(): TileRect[] {
    const present = [...this.participants.values()].filter((p) => p.present);
    const participants: LayoutParticipant[] = present.map((p) => ({ id: p.info.id, name: p.info.name, lastActiveMs: p.lastActiveMs }));
    const sharer = present.find((p) => p.videos.some((v) => !v.ended && v.key.endsWith('#screen')));
    return computeLayout({
      width: this.width,
      height: this.height,
      mode: this.options.layout ?? 'grid',
      participants,
      activeSpeakerId: this.activeSpeaker,
      screenShareOf: sharer?.info.id,
    });
  }

  /** Recomputes the layout now; a change applies on the timeline from now and resizes the decoders. */
  private relayout(reason: string): void {
    if (!this.compositor || this.stopping) return;
    const tiles = this.desiredLayout();
    const current = this.layouts[this.layouts.length - 1]!.tiles;
    const same =
      tiles.length === current.length &&
      tiles.every((t, i) => {
        const c = current[i]!;
        return t.key === c.key && t.x === c.x && t.y === c.y && t.w === c.w && t.h === c.h;
      });
    for (const t of tiles) {
      // Render names and placeholders now, not when the first frame needs them (ffmpeg takes a moment).
      const p = this.participants.get(t.participantId);
      if (!p) continue;
      this.placeholder(p.info.name, t.w, t.h);
      this.label(t.kind === 'screen' ? `${p.info.name} (screen)` : p.info.name, labelPx(t.h));
    }
    if (!same) {
      const atMs = Math.max(0, nowMs() - this.originMs);
      this.layouts.push({ atMs, tiles });
      this.info.layoutChanges++;
      this.logger.debug({ reason, atMs: Math.round(atMs), tiles: tiles.map((t) => `${t.key}@${t.x},${t.y} ${t.w}x${t.h}`) }, 'composite re-layout');
    }
    for (const p of this.participants.values()) {
      for (const v of p.videos) {
        if (v.ended) continue;
        const rect = tiles.find((t) => t.key === v.key);
        // Not shown: 0×0, the lowest layer (cheapest to keep receiving; it is not decoded).
        v.tiled?.setTileSize(rect?.w ?? 0, rect?.h ?? 0);
        if (rect) this.ensureDecoder(p, v, rect.w, rect.h);
        else if (v.decoder) {
          // Not shown: stop decoding it (its queued pictures still cover the part of the timeline not yet composed).
          void v.decoder.stop();
          void v.retiring?.stop();
          v.decoder = v.retiring = undefined;
        }
      }
    }
  }

  private ensureDecoder(p: ParticipantState, v: VideoSource, width: number, height: number): void {
    if (v.decoder && v.decoder.width === width && v.decoder.height === height && v.decoder.running) return;
    if (v.decoder?.running) {
      void v.retiring?.stop();
      v.retiring = v.decoder;
    }
    const decoder = new VideoTileDecoder({
      codec: v.remote.codec.name === 'h264' ? 'h264' : 'vp8',
      width,
      height,
      label: `${p.info.name}/${v.key.endsWith('#screen') ? 'screen' : 'camera'} ${width}x${height}`,
      logger: this.logger,
      pictures: this.compositor?.pictures,
    });
    v.decoder = decoder;
    decoder.on('frame', (f) => this.onPicture(v, decoder, f));
    decoder.on('needKeyframe', () => this.requestKeyframe(v));
    decoder.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'composite: video decoder died; restarting it');
      this.report(err);
      if (v.decoder === decoder && !v.ended && !this.stopping) {
        v.decoder = undefined;
        setTimeout(() => {
          if (!v.decoder && !v.ended && !this.stopping) this.relayout('decoder restart');
        }, 500).unref();
      }
    });
    this.requestKeyframe(v);
  }

  private onPicture(v: VideoSource, from: VideoTileDecoder, f: DecodedFrame): void {
    if (from === v.decoder && v.retiring) {
      // The new size took over: drop what the old decoder made for the same time on, and retire it.
      void v.retiring.stop();
      const old = v.retiring;
      v.retiring = undefined;
      const kept: QueuedPicture[] = [];
      for (const q of v.frames) {
        if (q.from === old && q.ptsMs >= f.ptsMs) releasePicture(q);
        else kept.push(q);
      }
      v.frames = kept;
    } else if (from !== v.decoder && from !== v.retiring) return;
    const q = v.frames;
    const item = { ...f, from };
    if (q.length === 0 || q[q.length - 1]!.ptsMs <= f.ptsMs) q.push(item);
    else {
      let i = q.length - 1;
      while (i > 0 && q[i - 1]!.ptsMs > f.ptsMs) i--;
      q.splice(i, 0, item);
    }
    if (q.length > MAX_QUEUED_PICTURES) for (const old of q.splice(0, q.length - MAX_QUEUED_PICTURES)) releasePicture(old);
  }

  private onVideoLoss(v: VideoSource): void {
    // Inter frames after a loss would decode with smeared artefacts: hold the last good picture until a keyframe.
    v.decoder?.resync();
    v.retiring?.resync();
    this.requestKeyframe(v);
  }

  private requestKeyframe(v: VideoSource): void {
    const now = nowMs();
    if (v.ended || now - v.lastKeyframeRequest < KEYFRAME_REQUEST_MIN_INTERVAL_MS) return;
    v.lastKeyframeRequest = now;
    void v.remote.requestKeyframe().catch(() => {});
  }

  /** Speaker activity from the mixer's levels: "most recently active" and the speaker layout's big tile. */
  private updateSpeakers(now: number): void {
    let levels: Map<string, number>;
    try {
      levels = this.mixer.levels();
    } catch {
      return;
    }
    let loudest: { id: string; db: number } | undefined;
    for (const [id, db] of levels) {
      const p = this.participants.get(id) ?? this.participants.get(id.split(':')[0]!);
      if (!p || !p.present || !(db > ACTIVE_DB)) continue;
      p.lastActiveMs = now;
      if (!loudest || db > loudest.db) loudest = { id: p.info.id, db };
    }
    if (!loudest || loudest.id === this.activeSpeaker) {
      this.speakerCandidate = undefined;
      return;
    }
    const currentDb = this.activeSpeaker !== undefined ? levels.get(this.activeSpeaker) ?? -Infinity : -Infinity;
    if (currentDb > ACTIVE_DB && loudest.db < currentDb + SPEAKER_MARGIN_DB) {
      this.speakerCandidate = undefined;
      return;
    }
    if (this.speakerCandidate?.id !== loudest.id) this.speakerCandidate = { id: loudest.id, since: now };
    else if (now - this.speakerCandidate.since >= SPEAKER_HOLD_MS || this.activeSpeaker === undefined) {
      this.activeSpeaker = loudest.id;
      this.speakerCandidate = undefined;
    }
  }

  // ─────────────────────────── the clock ───────────────────────────

  private schedule(): void {
    if (this.stopping || this.failed) return;
    const pos = nowMs() - this.originMs - this.latencyMs;
    const nextVideo = this.compositor ? (this.videoFrames * 1000) / this.fps : Infinity;
    const nextAudio = this.audioFrames * AUDIO_FRAME_MS;
    // Wake for each video frame (audio frames due by then are produced in the same tick); audio only, once per
    // AUDIO_ONLY_TICK_MS of frames (the encoder takes PCM in such batches anyway) rather than for every 20 ms frame.
    const due = this.compositor ? nextVideo : nextAudio + AUDIO_ONLY_TICK_MS - AUDIO_FRAME_MS;
    const wait = this.catchUp.active ? 20 : Math.max(1, due - pos);
    this.timer = setTimeout(() => this.tick(), Math.min(wait, AUDIO_ONLY_TICK_MS));
  }

  private tick(): void {
    try {
      const now = nowMs();
      const voices = () => [...this.participants.values()].flatMap((p) => p.audios.filter((a) => !a.ended));
      const stalledMs = this.catchUp.tickStarted(now, now - this.originMs, voices);
      // Debug only: RoomRecorder's StallWatch already warns about the stall and lists it in the manifest.
      if (stalledMs !== undefined) this.logger.debug({ stalledMs: Math.round(stalledMs) }, 'composite: the recorder did not run; reading what arrived meanwhile before catching up');
      const catchUp = this.catchUp.check(now);
      if (!catchUp.holding) {
        const ended = catchUp.ended;
        // Said at info for a stall StallWatch lists too (≥ 0.5 s); a long tick of our own, at debug.
        if (ended) this.logger[ended.stalledMs >= 500 ? 'info' : 'debug']({ stalledMs: Math.round(ended.stalledMs), heldMs: Math.round(ended.heldMs), everyVoiceRead: ended.complete }, 'composite: caught up after a stall');
        this.produceUntil(now - this.originMs - this.latencyMs);
      }
      if (now - this.lastRelayoutCheck >= RELAYOUT_CHECK_MS) {
        this.lastRelayoutCheck = now;
        this.updateSpeakers(now);
        this.relayout('activity');
      }
      if (now - this.lastUpdate >= 2000) {
        this.lastUpdate = now;
        this.emit('update');
        if (this.logger.isLevelEnabled('debug')) this.logger.debug(this.debugState(now), 'composite state');
      }
    } catch (err) {
      this.fail(err instanceof RtcRecordError ? err : new RtcRecordError('INTERNAL', `composite: ${(err as Error).message}`, { cause: err }));
    }
    this.schedule();
  }

  /** Emits every audio and video frame whose start is before `pos` (timeline ms), in timeline order. */
  private produceUntil(pos: number, final = false): void {
    for (;;) {
      if (this.failed) return;
      const tVideo = this.compositor ? (this.videoFrames * 1000) / this.fps : Infinity;
      const tAudio = this.audioFrames * AUDIO_FRAME_MS;
      if (Math.min(tVideo, tAudio) >= pos) return;
      if (tAudio <= tVideo) this.emitAudio();
      // The final flush (the last latencyMs) skips nothing: at end of stream ffmpeg's cfr repeats the last frame as
      // often as the median of the last three gaps, so gaps there would lengthen the video past the recording.
      else this.emitVideo(tVideo, final);
    }
  }

  private emitAudio(): void {
    let pcm: Int16Array;
    try {
      pcm = this.mixer.mixNext().pcm;
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'audio mixer failed; writing silence');
      pcm = new Int16Array((SAMPLE_RATE * AUDIO_FRAME_MS) / 1000);
    }
    this.encoder.writeAudio(pcm);
    this.audioFrames++;
  }

  private layoutAt(t: number): TileRect[] {
    // Drop layouts that no frame can use any more (the one in force at t stays).
    while (this.layouts.length > 1 && this.layouts[1]!.atMs <= t) this.layouts.shift();
    return this.layouts[0]!.tiles;
  }

  private emitVideo(t: number, final = false): void {
    const index = this.videoFrames++;
    const tiles = this.layoutAt(t);
    if (this.encoder.videoBacklogged && !final && index > 0) {
      // Starved of CPU: skip composing; the encoder repeats the previous picture for this slot.
      for (const p of this.participants.values()) for (const v of p.videos) this.pictureAt(v, t);
      this.encoder.skipVideo();
      return;
    }
    const contents: TileContent[] = [];
    for (const tile of tiles) {
      const p = this.participants.get(tile.participantId);
      if (!p) continue;
      const v = p.videos.find((s) => s.key === tile.key);
      const video = v && this.pictureAt(v, t);
      const name = tile.kind === 'screen' ? `${p.info.name} (screen)` : p.info.name;
      // A placeholder has the name written large already.
      if (video) contents.push({ rect: tile, picture: video, label: this.label(name, labelPx(tile.h)) });
      else contents.push({ rect: tile, picture: this.placeholder(p.info.name, tile.w, tile.h) });
    }
    for (const p of this.participants.values()) for (const v of p.videos) this.trimPictures(v, t);
    // Frames are recycled once the pipe has written them: 1.4 MB a frame would otherwise keep the GC busy.
    const compositor = this.compositor!;
    const frame = compositor.compose(contents);
    const ok = this.encoder.writeVideo(frame, index, () => compositor.release(frame));
    if (!ok) compositor.release(frame);
  }

  /**
   * The picture of `v` shown at timeline `t`: the latest with pts ≤ t (+ half a frame). When nothing newer comes the
   * last one stays (freeze) — a decoder that is merely late (CPU) never blanks a tile — until the stream itself has
   * sent nothing for `stallMs`, or ended: then the placeholder.
   */
  private pictureAt(v: VideoSource, t: number): YuvFrame | undefined {
    const target = t + 500 / this.fps;
    const q = v.frames;
    while (q.length >= 2 && q[1]!.ptsMs <= target) releasePicture(q.shift()!);
    const f = q[0];
    if (!f || f.ptsMs > target) return undefined;
    const silentFor = t - (v.lastPacketAt - this.originMs);
    if (silentFor > this.stallMs && t - f.ptsMs > this.stallMs) return undefined;
    return f;
  }

  /** Pictures of tracks not on screen must not pile up. */
  private trimPictures(v: VideoSource, t: number): void {
    const q = v.frames;
    while (q.length >= 2 && q[1]!.ptsMs <= t) releasePicture(q.shift()!);
    if (v.ended && q.length && q[q.length - 1]!.ptsMs < t - this.stallMs) for (const old of q.splice(0)) releasePicture(old);
  }

  private placeholder(name: string, w: number, h: number): YuvFrame | undefined {
    const key = `${w}x${h}\0${name}`;
    const hit = this.placeholders.get(key);
    if (hit !== undefined) return hit ?? undefined;
    this.placeholders.set(key, null);
    void this.text.placeholder(name, w, h).then((f) => this.placeholders.set(key, f));
    return undefined;
  }

  private label(name: string, fontPx: number): TextMask | undefined {
    const key = `${fontPx}\0${name}`;
    const hit = this.labels.get(key);
    if (hit !== undefined) return hit ?? undefined;
    this.labels.set(key, null);
    void this.text.label(name, fontPx).then((m) => {
      if (m) this.labels.set(key, m);
    });
    return undefined;
  }

  private debugState(now: number): object {
    const t = now - this.originMs - this.latencyMs;
    return {
      t: Math.round(t),
      frames: this.videoFrames,
      skipped: this.encoder.videoFramesDropped,
      encoder: this.encoder.debugState,
      layout: this.layouts.at(-1)!.tiles.map((x) => `${x.key}@${x.x},${x.y} ${x.w}x${x.h}`),
      sources: [...this.participants.values()].flatMap((p) =>
        p.videos.map((v) => ({
          key: v.key,
          name: p.info.name,
          ended: v.ended,
          decoder: v.decoder ? `${v.decoder.width}x${v.decoder.height} in=${v.decoder.framesIn} out=${v.decoder.framesOut} drop=${v.decoder.framesDropped}` : null,
          retiring: !!v.retiring,
          queued: v.frames.length,
          firstPts: v.frames[0] ? Math.round(v.frames[0].ptsMs) : null,
          lastPts: v.frames.length ? Math.round(v.frames[v.frames.length - 1]!.ptsMs) : null,
          offset: p.clock.senderOffsetMs,
        })),
      ),
    };
  }

  // ─────────────────────────── stop ───────────────────────────

  private fail(err: RtcRecordError): void {
    if (this.failed) return;
    this.failed = true;
    this.info.state = 'failed';
    this.info.error = err.message;
    clearTimeout(this.timer);
    this.logger.error({ err: err.message }, 'composite recording failed; per-track recording goes on');
    this.report(err);
    this.emit('update');
  }

  /** 'error' only to listeners: an EventEmitter without one would throw, and nothing here is worth a crash. */
  private report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /**
   * Ends the composite at the current wall-clock time: composes the last `latencyMs` from what was received, closes the
   * encoder and remuxes the fragmented file into a faststart one. Idempotent.
   */
  stop(): Promise<CompositeInfo> {
    this.stopping ??= (async () => {
      const endMs = nowMs() - this.originMs;
      clearTimeout(this.timer);
      // Pictures still in the decoders for the last moments: give them a moment to come out.
      await new Promise((r) => setTimeout(r, 150));
      try {
        if (!this.failed) this.produceUntil(endMs, true);
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'composite: final frames failed');
      }
      for (const p of this.participants.values()) {
        for (const v of p.videos) this.endVideo(v);
        for (const a of p.audios) this.endAudio(a);
      }
      this.info.state = 'finalizing';
      this.info.durationMs = Math.round(endMs);
      this.emit('update');
      // Normally ffmpeg is done at once; on a starved machine let it catch up rather than cut the end off.
      const exit = await this.encoder.stop(20_000);
      this.text.dispose();
      if (exit.forced) this.logger.warn('encoder had to be killed; finalizing what it wrote');
      try {
        const done = await finalizeComposite(this.options.dir, this.logger);
        if (done) this.info.file = done.file;
        if (!this.failed) this.info.state = 'done';
      } catch (err) {
        this.info.state = 'failed';
        this.info.error = (err as Error).message;
        this.report(err as Error);
      }
      const fields = this.manifestFields();
      this.emit('update');
      return fields.composite;
    })();
    return this.stopping;
  }
}
