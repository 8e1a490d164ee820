import { EventEmitter } from 'node:events';
import { RtcpSrPacket, type RtcpPacket, type RtpPacket } from 'werift';
import { NackStats } from '../../media/rtp/NackStats.js';
import { RtpStreamStats } from '../../media/rtp/RtpStreamStats.js';
import { ntpToUnixMs, SenderReportSteps } from '../../media/rtp/senderReport.js';
import type { RemoteTrack } from '../../peer/RecorderPeerTypes.js';
import type { RtcRecordError } from '../../errors.js';
import type { RtpNtpMapping } from '../ManifestTypes.js';

export interface TrackObserverEvents {
  /** Something worth putting in the manifest changed (first packet, keyframe request, sender report…). */
  update: [];
  /** Writing failed (disk full, unwritable); what was written stays on disk. */
  error: [err: RtcRecordError];
}

/**
 * What the manifest says about one remote track — packets received and lost, the first RTP timestamp, the first and
 * latest sender reports — without writing anything. Used as is when per-track files are off (`--no-tracks`); the
 * track file sink builds on it.
 */
export class TrackObserver extends EventEmitter<TrackObserverEvents> {
  readonly stats = new RtpStreamStats();
  readonly nacks = new NackStats();
  keyframesRequested = 0;
  bytesWritten = 0;
  firstRtpTimestamp?: number;
  firstSenderReport?: RtpNtpMapping;
  lastSenderReport?: RtpNtpMapping;
  /** Reports after the first that moved the sender's mapping (see SenderReportSteps). */
  readonly senderReportSteps: SenderReportSteps<RtpNtpMapping>;
  private observing = true;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(protected readonly remote: RemoteTrack) {
    super();
    this.senderReportSteps = new SenderReportSteps(remote.codec.clockRate);
    const rtpSub = remote.track.onReceiveRtp.subscribe((rtp) => this.onRtp(rtp));
    const rtcpSub = remote.track.onReceiveRtcp.subscribe((rtcp) => this.onRtcp(rtcp));
    const nackSub = remote.onNack((lost) => this.nacks.onNack(lost));
    this.unsubscribe.push(() => rtpSub.unSubscribe(), () => rtcpSub.unSubscribe(), nackSub);
  }

  /** PLIs sent for the track (by the file sink and the composite alike). */
  get plisSent(): number {
    return this.remote.plisSent;
  }

  /** Whether anything worth keeping arrived (a file sink: a playable frame was written). */
  get hasMedia(): boolean {
    return this.stats.packetsReceived > 0;
  }

  /** Every packet, after it was counted; `first` on the track's first. */
  protected onPacket(_rtp: RtpPacket, _first: boolean): void {}

  private onRtp(rtp: RtpPacket): void {
    if (!this.observing) return;
    const first = this.stats.packetsReceived === 0;
    this.stats.onPacket(rtp.header.sequenceNumber, rtp.payload.length);
    this.nacks.onPacket(rtp.header.sequenceNumber);
    if (first) this.firstRtpTimestamp = rtp.header.timestamp;
    this.onPacket(rtp, first);
    if (first) this.emit('update');
  }

  private onRtcp(rtcp: RtcpPacket): void {
    if (rtcp.type !== RtcpSrPacket.type) return;
    const { ntpTimestamp, rtpTimestamp } = (rtcp as RtcpSrPacket).senderInfo;
    const mapping: RtpNtpMapping = { rtpTimestamp, ntpTimeMs: Math.round(ntpToUnixMs(ntpTimestamp)), receivedAtMs: Date.now() };
    this.firstSenderReport ??= mapping;
    this.lastSenderReport = mapping;
    this.senderReportSteps.add(mapping);
    this.emit('update');
  }

  /** Stops observing. Safe to call twice. */
  async stop(): Promise<void> {
    this.observing = false;
    this.unsubscribe.splice(0).forEach((u) => u());
  }
}
