import { EventEmitter } from 'node:events';
import type { RecorderPeerEvents, RemoteTrack, TrackSource } from '../peer/RecorderPeerTypes.js';
import type { PeerInfo } from '../signaling/messages.js';
import type { LocalMember } from '../signaling/SignalingServerTypes.js';
import type { PublishedTrack } from './PublishedTrack.js';
import type { SfuRoom } from './SfuRoom.js';
import type { SwitchTiming } from './DownTrackTypes.js';
import { TileLayerTrack } from './TileLayerTrack.js';

/** Told of each layer switch of a recording's tile-sized simulcast track. */
export type TapLayerSwitch = (track: PublishedTrack, from: number, to: number, waitedMs: number, time: SwitchTiming) => void;

/**
 * A recording's view of an SFU room in the same process: the publishers' received tracks, read straight from the
 * SFU's receivers (no second WebRTC leg, nothing extra on anyone's uplink). It is a room member of role `recorder`, so
 * pages show "● Recording" as for a recorder peer.
 */
export class SfuTap extends EventEmitter<RecorderPeerEvents> implements TrackSource {
  private held: Array<() => void> | undefined = [];
  private closed = false;
  private readonly onJoined = (p: PeerInfo) =>
    this.deliver(() => this.emit('participantJoined', p));
  private readonly onLeft = (p: PeerInfo) => this.deliver(() => this.emit('participantLeft', p));
  private readonly onTrack = (t: PublishedTrack) =>
    this.deliver(() => {
      const recorded = this.recordedTrack(t);
      this.recorded.set(t, recorded);
      this.emit('track', recorded);
    });
  private readonly onTrackEnded = (t: PublishedTrack) =>
    this.deliver(() => {
      const recorded = this.recorded.get(t);
      if (!recorded) return;
      this.recorded.delete(t);
      this.emit('trackEnded', recorded);
      closeArchive(recorded);
    });
  /**
   * What the recording was given for each published track (told again when it ends). A simulcast camera's is the
   * stream of its track file, taking packets until the track ends or the tap closes.
   */
  private readonly recorded = new Map<PublishedTrack, RemoteTrack>();
  private readonly onClosed = () => this.deliver(() => this.emit('disconnected'));

  constructor(
    private readonly room: SfuRoom,
    private readonly member: LocalMember,
    /** Told of each layer switch of the composite's simulcast tracks (logging, tests). */
    private readonly onSwitch?: TapLayerSwitch,
  ) {
    super();
    room.markLocal(member.id);
    // Everybody already there, then whatever comes: all held until start().
    for (const peer of room.peers.values()) if (peer.role === 'participant') this.onJoined(peer);
    for (const track of room.tracks) this.onTrack(track);
    room.on('participantJoined', this.onJoined);
    room.on('participantLeft', this.onLeft);
    room.on('track', this.onTrack);
    room.on('trackEnded', this.onTrackEnded);
    room.on('closed', this.onClosed);
  }

  start(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const event of held) event();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.room.off('participantJoined', this.onJoined);
    this.room.off('participantLeft', this.onLeft);
    this.room.off('track', this.onTrack);
    this.room.off('trackEnded', this.onTrackEnded);
    this.room.off('closed', this.onClosed);
    for (const recorded of this.recorded.values()) closeArchive(recorded);
    this.recorded.clear();
    this.member.leave();
  }

  /**
   * What the recording gets of a published track. Simulcast video: the highest layer the publisher sends (per-track
   * files are the archive, kept at the best quality there is), following it down when the publisher stops it and back
   * up when it resumes or starts late (switched at keyframes, numbering continuous: no hole in the file), with a
   * `tileSized()` view that follows the composite's tile (a 640x360 tile of a 2x2 grid decodes the 640x360 layer, not
   * the 1280x720 one). Other tracks as received.
   */
  private recordedTrack(t: PublishedTrack): RemoteTrack {
    if (!t.simulcast || t.kind !== 'video') return t.remote;
    const onSwitch = this.onSwitch;
    return Object.assign(new TileLayerTrack(t), {
      tileSized: () => new TileLayerTrack(t, onSwitch && ((from, to, waitedMs, time) => onSwitch(t, from, to, waitedMs, time))),
    });
  }

  private deliver(event: () => void): void {
    if (this.closed) return;
    if (this.held) this.held.push(event);
    else event();
  }
}

/** A simulcast camera's archive stream stops taking packets (other tracks are the SFU's own receivers: nothing to close). */
function closeArchive(recorded: RemoteTrack): void {
  if (recorded instanceof TileLayerTrack) recorded.close();
}
