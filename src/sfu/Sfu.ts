import { prepareDtlsCertificate } from '../peer/peerConnectionConfig.js';
import type { TrackSource } from '../peer/RecorderPeerTypes.js';
import type { RoomAudio } from '../signaling/messages.js';
import type { SignalingServer } from '../signaling/SignalingServer.js';
import { ForwardMeter } from './ForwardMeter.js';
import { SfuRoom } from './SfuRoom.js';
import { SfuTap } from './SfuTap.js';
import type { SfuOptions, SfuStats } from './SfuTypes.js';

const DEFAULT_KEYFRAME_INTERVAL_MS = 500;
/**
 * `auto` rooms mix their voices on the server from this many participants: below it each browser decodes a few voices
 * and hears them unmixed; from it on, N - 1 decoders per browser is what the lecture calls "audio crackling".
 */
export const DEFAULT_MCU_FROM = 8;
/**
 * A publisher's starting uplink estimate: enough for a 720p camera's three layers at the rates a classroom camera
 * needs. From Chromium's 300 kbit/s the estimate grew by probing within 1 s on an idle machine, but where probes
 * failed (a busy machine) by ~0.1 Mbit/s a second: the full layer started 15 s after the join (README, Simulcast).
 */
export const DEFAULT_PUBLISHER_START_KBPS = 2000;
export const DEFAULT_MIX_SPEAKERS = 3;

/**
 * The server's forwarding peer: a member of every room opened in `sfu` mode. Participants publish their tracks to it
 * once and receive everybody else's from it (see docs/protocol.md, "SFU rooms").
 */
export class Sfu {
  private readonly rooms = new Map<string, SfuRoom>();
  /** Packets forwarded and the forwarding delay's samples (also read by /metrics). */
  readonly meter = new ForwardMeter();

  constructor(
    private readonly signaling: SignalingServer,
    private readonly options: SfuOptions,
  ) {
    prepareDtlsCertificate();
    signaling.on('roomOpened', (room, mode, audio) => {
      if (mode === 'sfu') this.open(room, audio);
    });
    signaling.on('roomClosed', (room) => {
      void this.rooms.get(room)?.close();
      this.rooms.delete(room);
    });
  }

  room(name: string): SfuRoom | undefined {
    return this.rooms.get(name);
  }

  /**
   * An in-process track source for recording `room`, opening the room in SFU mode if nobody is there yet; undefined
   * when the room is a mesh (`p2p`): then the recorder must join as a peer.
   */
  tap(room: string): TrackSource | undefined {
    if (this.signaling.modeOf(room) !== 'sfu') return undefined;
    let tap: SfuTap | undefined;
    const member = this.signaling.attachLocal(room, 'recorder', 'recorder', (msg) => {
      if (msg.type === 'left') void tap?.close();
    });
    const sfuRoom = this.rooms.get(room);
    if (!sfuRoom) {
      member.leave();
      return undefined;
    }
    const logger = this.options.logger;
    tap = new SfuTap(sfuRoom, member, (track, from, to, waitedMs, time) =>
      logger.debug({ room, track: track.id, fromLayer: track.layers[from]!.rid, toLayer: track.layers[to]!.rid, waitedMs: Math.round(waitedMs), ...time }, 'sfu: recording layer switched'),
    );
    return tap;
  }

  stats(): SfuStats {
    const rooms = [...this.rooms.values()];
    return {
      rooms: rooms.length,
      publishers: rooms.reduce((n, r) => n + r.publisherCount, 0),
      subscribers: rooms.reduce((n, r) => n + r.subscriberCount, 0),
      packetsForwarded: this.meter.packets,
      downTracksPaused: rooms.reduce((n, r) => n + r.pausedDownTracks, 0),
      downTracksPausedForBandwidth: rooms.reduce((n, r) => n + r.bandwidthPausedDownTracks, 0),
      keyframesRequested: rooms.reduce((n, r) => n + r.tracks.reduce((k, t) => k + t.keyframesRequested, 0), 0),
      forwardDelay: { samples: this.meter.delaySamples, p50Ms: this.meter.delayQuantileMs(0.5), p99Ms: this.meter.delayQuantileMs(0.99) },
    };
  }

  async close(): Promise<void> {
    this.options.logger.debug({ rooms: this.rooms.size }, 'sfu: closing');
    await Promise.all([...this.rooms.values()].map((r) => r.close()));
    this.options.logger.debug('sfu: closed');
    this.rooms.clear();
  }

  private open(name: string, audio: RoomAudio): void {
    const room = new SfuRoom(name, {
      iceServers: this.options.iceServers,
      iceAddress: this.options.iceAddress,
      keyframeIntervalMs: this.options.keyframeRequestIntervalMs ?? DEFAULT_KEYFRAME_INTERVAL_MS,
      meter: this.meter,
      audio,
      mcuFrom: this.options.mcuFrom ?? DEFAULT_MCU_FROM,
      mixSpeakers: this.options.mixSpeakers ?? DEFAULT_MIX_SPEAKERS,
      mixPacketMs: this.options.mixPacketMs ?? 'auto',
      publisherStartKbps: this.options.publisherStartKbps ?? DEFAULT_PUBLISHER_START_KBPS,
      bandwidthAdaptation: this.options.bandwidthAdaptation ?? true,
      logger: this.options.logger,
    });
    this.rooms.set(name, room);
    room.attach(this.signaling.attachLocal(name, 'sfu', 'sfu', room.deliver));
  }
}
