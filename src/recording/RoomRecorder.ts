import { existsSync, rmSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { RtcRecordError } from '../errors.js';
import type { Logger } from '../logger.js';
import { RecorderPeer } from '../peer/RecorderPeer.js';
import type { RemoteTrack, TrackSource } from '../peer/RecorderPeerTypes.js';
import { ROOM_NAME, type PeerInfo } from '../signaling/messages.js';
import { CompositeRecorder } from './CompositeRecorder.js';
import type { Manifest, TrackEntry } from './ManifestTypes.js';
import { ManifestWriter } from './ManifestWriter.js';
import { newRecordingId } from './recordingId.js';
import type { RoomRecorderEvents, RoomRecorderOptions } from './RoomRecorderTypes.js';
import { TrackObserver } from './sinks/TrackObserver.js';
import { isRecordableCodec, trackFileExtension, WebmTrackSink } from './sinks/WebmTrackSink.js';
import { StallWatch } from './StallWatch.js';
import { createRecordingDir, DEFAULT_OUTPUT_ROOT, partDirName } from './storage.js';

interface ActiveTrack {
  /** A WebmTrackSink; with per-track files off, an observer that only keeps the manifest's figures. */
  sink: TrackObserver;
  entry: TrackEntry;
  /** What the source gave (its trackEnded names it). */
  track: RemoteTrack;
}

/**
 * Records one room: taps the SFU in-process or joins as a recorder peer, and writes every participant's tracks to `recordings/<room>/<id>/tracks/`,
 * with a manifest.json kept current on disk while recording (so a crash leaves a usable one).
 */
export class RoomRecorder extends EventEmitter<RoomRecorderEvents> {
  private readonly active = new Map<TrackObserver, ActiveTrack>();
  private readonly manifestWriter: ManifestWriter;
  private readonly refreshTimer: NodeJS.Timeout;
  private readonly stallWatch = new StallWatch();
  private stopping?: Promise<Manifest>;

  private constructor(
    private readonly peer: TrackSource,
    readonly dir: string,
    manifest: Manifest,
    private readonly logger: Logger,
    private readonly writeTracks: boolean,
    private readonly composite?: CompositeRecorder,
  ) {
    super();
    this.manifestWriter = new ManifestWriter(dir, manifest);
    if (composite) this.attachComposite(composite);
    peer.on('participantJoined', (p) => this.onParticipantJoined(p));
    peer.on('participantLeft', (p) => void this.onParticipantLeft(p));
    peer.on('track', (t) => this.onTrack(t));
    peer.on('trackEnded', (t) => void this.onTrackEnded(t));
    peer.on('disconnected', () => logger.warn('signaling connection lost; media already flowing keeps being recorded'));
    // Packet counters change constantly; refreshing them on a timer keeps the manifest current without per-packet work.
    this.refreshTimer = setInterval(() => this.refreshEntries(), 2000).unref();
    this.stallWatch.on('stall', (stall) => {
      logger.warn({ atMs: stall.atMs, ms: stall.ms }, `recorder did not run for ${(stall.ms / 1000).toFixed(1)} s (starved of CPU or stopped): media of that time may be missing`);
      this.manifest.stalls = [...this.stallWatch.stalls];
      this.manifestWriter.touch();
    });
    peer.start();
  }

  static async start(options: RoomRecorderOptions, logger: Logger): Promise<RoomRecorder> {
    if (!ROOM_NAME.test(options.room)) {
      throw new RtcRecordError('BAD_ROOM_NAME', `bad room name ${JSON.stringify(options.room)}: use 1-64 of A-Z a-z 0-9 _ -`);
    }
    const writeTracks = options.tracks !== false;
    assertSomethingToRecord(options.composite, writeTracks);
    const root = options.outputRoot ?? DEFAULT_OUTPUT_ROOT;
    const id = options.recordingId ?? newRecordingId();
    const part = options.part ?? 1;
    // In the server's own process an SFU room is read straight from the SFU; otherwise join as a WebRTC peer.
    const peer =
      options.tap?.(options.room) ??
      (await RecorderPeer.join(
        // Without per-track files the composite is the only consumer, so the SFU may send it tile-sized layers.
        { serverUrl: options.serverUrl, room: options.room, iceAddress: options.iceAddress, iceServers: options.iceServers, tileSizedLayers: !writeTracks && !!options.composite },
        logger,
      ));
    let dir: string;
    try {
      dir = createRecordingDir(root, options.room, id, part > 1 ? partDirName(part) : undefined);
    } catch (err) {
      await peer.close();
      throw err;
    }
    const manifest: Manifest = {
      version: 1,
      id,
      room: options.room,
      state: 'recording',
      startedAt: new Date().toISOString(),
      ...(part > 1 ? { part } : {}),
      participants: [],
      tracks: [],
    };
    let composite: CompositeRecorder | undefined;
    try {
      if (options.composite) composite = await CompositeRecorder.start({ ...options.composite, dir }, logger);
    } catch (err) {
      await peer.close();
      throw err;
    }
    return new RoomRecorder(peer, dir, manifest, logger, writeTracks, composite);
  }

  /** The mixed recording follows the room (registered before the peer starts, so nobody is missed). */
  private attachComposite(composite: CompositeRecorder): void {
    this.peer.on('participantJoined', (p) => composite.addParticipant(p));
    this.peer.on('participantLeft', (p) => composite.removeParticipant(p));
    this.peer.on('track', (t) => composite.addTrack(t));
    this.peer.on('trackEnded', (t) => composite.endTrack(t));
    composite.on('update', () => {
      Object.assign(this.manifest, composite.manifestFields());
      this.manifestWriter.touch();
    });
    composite.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  get manifest(): Manifest {
    return this.manifestWriter.manifest;
  }

  get id(): string {
    return this.manifest.id;
  }

  /** Stops receiving, finalizes every track file and writes the final manifest. Idempotent. */
  stop(): Promise<Manifest> {
    this.stopping ??= (async () => {
      clearInterval(this.refreshTimer);
      this.stallWatch.stop();
      // Started first: the composite ends at this instant (its duration is the wall-clock recording time).
      const composite = this.composite?.stop();
      await this.peer.close();
      await Promise.all([...this.active.keys()].map((sink) => this.endTrack(sink)));
      const m = this.manifest;
      if (composite) {
        await composite;
        Object.assign(m, this.composite!.manifestFields());
      }
      m.stoppedAt = new Date().toISOString();
      for (const p of m.participants) p.leftAtMs ??= Date.now();
      m.state = 'done';
      this.manifestWriter.writeNow();
      if (this.manifestWriter.error) {
        m.state = 'failed';
        m.error = this.manifestWriter.error.message;
      }
      return m;
    })();
    return this.stopping;
  }

  private onParticipantJoined(peer: PeerInfo): void {
    this.manifest.participants.push({ id: peer.id, name: peer.name, joinedAtMs: Date.now() });
    this.manifestWriter.touch();
    this.emit('participantJoined', peer);
  }

  private async onParticipantLeft(peer: PeerInfo): Promise<void> {
    const entry = this.manifest.participants.find((p) => p.id === peer.id && p.leftAtMs === undefined);
    if (entry) entry.leftAtMs = Date.now();
    const sinks = [...this.active.values()].filter((a) => a.entry.participantId === peer.id).map((a) => a.sink);
    await Promise.all(sinks.map((s) => this.endTrack(s)));
    this.manifestWriter.touch();
    this.emit('participantLeft', peer);
  }

  private onTrack(track: RemoteTrack): void {
    if (this.stopping) return;
    const { participant, kind, codec } = track;
    if (!isRecordableCodec(codec.name)) {
      this.logger.warn({ participant: participant.name, codec: codec.name }, 'codec not recordable; track skipped');
      return;
    }
    const base = `${safeFileName(participant.name)}-${participant.id}-${track.mid}`;
    const ext = trackFileExtension(codec.name);
    let id = base;
    for (let n = 2; this.manifest.tracks.some((t) => t.id === id) || existsSync(join(this.dir, 'tracks', `${id}.${ext}`)); n++) id = `${base}-${n}`;
    let sink: TrackObserver;
    let file: string | undefined;
    if (this.writeTracks) {
      file = `tracks/${id}.${ext}`;
      try {
        sink = new WebmTrackSink(track, join(this.dir, file), this.logger);
      } catch (err) {
        this.logger.error({ err: (err as Error).message, file }, 'cannot open track file');
        this.emit('error', err as Error);
        return;
      }
    } else {
      sink = new TrackObserver(track);
    }
    const entry: TrackEntry = {
      id,
      participantId: participant.id,
      participantName: participant.name,
      kind,
      codec: codec.name,
      clockRate: codec.clockRate,
      ssrc: track.ssrc,
      file,
      packetsReceived: 0,
      packetsLost: 0,
      keyframesRequested: 0,
      bytesWritten: 0,
    };
    this.manifest.tracks.push(entry);
    this.active.set(sink, { sink, entry, track });
    sink.on('update', () => {
      const waiting = entry.firstPacketAtMs === undefined;
      this.refreshEntry(sink, entry);
      // When media began to arrive: a negotiated track is not yet a received one (a slow connection, a late keyframe).
      if (waiting && entry.firstPacketAtMs !== undefined) this.logger.info({ participant: participant.name, kind }, 'first packet of track');
      this.manifestWriter.touch();
    });
    sink.on('error', (err) => this.emit('error', err));
    this.manifestWriter.touch();
    this.logger.info({ participant: participant.name, kind, codec: codec.name, file: file ?? '(no file: --no-tracks)' }, 'recording track');
    this.emit('trackStarted', entry);
  }

  /** A participant stopped sending a track (a screen share) and stays: its file ends now (`endedAtMs`). */
  private async onTrackEnded(track: RemoteTrack): Promise<void> {
    const active = [...this.active.values()].find((a) => a.track === track);
    if (!active) return;
    this.logger.info({ participant: track.participant.name, kind: track.kind, file: active.entry.file }, 'track ended');
    await this.endTrack(active.sink);
  }

  private async endTrack(sink: TrackObserver): Promise<void> {
    const active = this.active.get(sink);
    if (!active) return;
    this.active.delete(sink);
    await sink.stop();
    if (!sink.hasMedia) {
      // Negotiated but nothing playable arrived (no media, or video without a keyframe): a header-only file plays
      // nowhere, so it goes.
      if (sink instanceof WebmTrackSink) rmSync(sink.path, { force: true });
      this.manifest.tracks.splice(this.manifest.tracks.indexOf(active.entry), 1);
      this.logger.warn({ participant: active.entry.participantName, kind: active.entry.kind }, 'track received no media; file removed');
    } else {
      this.refreshEntry(sink, active.entry);
      active.entry.endedAtMs = Date.now();
    }
    this.manifestWriter.touch();
  }

  private refreshEntries(): void {
    for (const { sink, entry } of this.active.values()) this.refreshEntry(sink, entry);
    this.manifestWriter.touch();
  }

  private refreshEntry(sink: TrackObserver, entry: TrackEntry): void {
    entry.packetsReceived = sink.stats.packetsReceived;
    entry.packetsLost = sink.stats.packetsLost;
    entry.firstPacketAtMs = sink.stats.firstPacketAtMs;
    entry.lastPacketAtMs = sink.stats.lastPacketAtMs;
    entry.firstRtpTimestamp = sink.firstRtpTimestamp;
    entry.firstSenderReport = sink.firstSenderReport;
    entry.lastSenderReport = sink.lastSenderReport;
    const steps = sink.senderReportSteps.steps;
    if (steps.length > 0) entry.senderReportSteps = [...steps];
    entry.keyframesRequested = sink.plisSent;
    entry.nacksSent = sink.nacks.nacksSent;
    entry.packetsNacked = sink.nacks.packetsNacked;
    entry.packetsRecovered = sink.nacks.packetsRecovered;
    entry.bytesWritten = sink.bytesWritten;
  }
}

/** Per-track files off and no mixed recording: refused up front (INVALID_FIELD) rather than joining to write nothing. */
export function assertSomethingToRecord(composite: RoomRecorderOptions['composite'], tracks: boolean): void {
  if (!composite && !tracks) throw new RtcRecordError('INVALID_FIELD', 'nothing to record: per-track files and the mixed recording are both off');
}

/** Participant names are free text; file names get a conservative ASCII form of them. */
function safeFileName(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[^A-Za-z0-9_-]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 32) || 'participant'
  );
}
