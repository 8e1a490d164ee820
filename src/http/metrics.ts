import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RoomRegistry } from '../cluster/RoomRegistry.js';
import { ProgressTracker } from '../recording/progress.js';
import type { RecordingService } from '../recording/RecordingService.js';
import type { WebhookNotifier } from '../recording/webhooks.js';
import type { SignalingServer } from '../signaling/SignalingServer.js';
import { DELAY_BUCKETS_MS } from '../sfu/ForwardMeter.js';
import type { Sfu } from '../sfu/Sfu.js';

interface LiveSample {
  id: string;
  room: string;
  bytes: number;
  received: number;
  lost: number;
  fps?: number;
  speed?: number;
}

/**
 * `GET /metrics` (Prometheus text format). Values are read when scraped (rooms from the signaling server, live figures
 * from each running recording's manifest), so nothing is counted on the media path. A registry per server, so tests can
 * run several servers in one process.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly trackers = new Map<string, ProgressTracker>();
  /** Totals only ever grow, even if a finished recording's final size differs from its last live figure. */
  private readonly high = { bytes: 0, received: 0, lost: 0 };
  /** Live figures of the running recordings, sampled once per scrape and shared by every metric of it. */
  private cache?: LiveSample[];

  constructor(signaling: SignalingServer, service?: RecordingService, webhooks?: WebhookNotifier, sfu?: Sfu, cluster?: RoomRegistry) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'rtc_record_' });
    if (sfu) this.sfuMetrics(sfu);
    if (cluster) this.clusterMetrics(cluster);

    new Gauge({
      name: 'rtc_record_rooms',
      help: 'Rooms with at least one member',
      registers,
      collect() {
        this.set(signaling.listRooms().length);
      },
    });
    new Gauge({
      name: 'rtc_record_participants',
      help: 'Participants in all rooms (recorders not counted)',
      registers,
      collect() {
        const rooms = signaling.listRooms();
        this.set(rooms.reduce((n, r) => n + r.participants.filter((p) => p.role === 'participant' || p.role === 'seed-sender').length, 0));
      },
    });
    if (!service) return;

    const live = () => this.sampleLive(service);
    const high = this.high;
    new Gauge({
      name: 'rtc_record_active_recordings',
      help: 'Recordings running (including finalizing)',
      registers,
      collect() {
        this.set(service.activeRecordings().length);
      },
    });
    const totals = (key: 'bytes' | 'received' | 'lost', finished: () => number) =>
      function (this: Counter) {
        const sum = finished() + live().reduce((s, p) => s + p[key], 0);
        high[key] = Math.max(high[key], sum);
        this.reset();
        this.inc(high[key]);
      };
    new Counter({
      name: 'rtc_record_bytes_written_total',
      help: 'Bytes written to recordings (track files and mixed files)',
      registers,
      collect: totals('bytes', () => service.finished.bytesWritten),
    });
    new Counter({
      name: 'rtc_record_packets_received_total',
      help: 'RTP packets received by recorders',
      registers,
      collect: totals('received', () => service.finished.packetsReceived),
    });
    new Counter({
      name: 'rtc_record_packets_lost_total',
      help: 'RTP packets lost before reaching recorders',
      registers,
      collect: totals('lost', () => service.finished.packetsLost),
    });
    new Gauge({
      name: 'rtc_record_encoder_fps',
      help: 'Mixed video frames encoded per second, per recording',
      labelNames: ['room', 'recording'],
      registers,
      collect() {
        this.reset();
        for (const p of live()) if (p.fps !== undefined) this.set({ room: p.room, recording: p.id }, p.fps);
      },
    });
    new Gauge({
      name: 'rtc_record_encoder_speed',
      help: 'Mixed video encoding speed relative to real time (1 = keeping up), per recording',
      labelNames: ['room', 'recording'],
      registers,
      collect() {
        this.reset();
        for (const p of live()) if (p.speed !== undefined) this.set({ room: p.room, recording: p.id }, p.speed);
      },
    });
    new Counter({
      name: 'rtc_record_ffmpeg_restarts_total',
      help: 'ffmpeg processes restarted after dying (composite decoders)',
      registers,
      collect() {
        this.reset();
        this.inc(service.ffmpegRestarts);
      },
    });
    const ended = new Counter({ name: 'rtc_record_recordings_ended_total', help: 'Recordings ended, by final state', labelNames: ['state'], registers });
    service.on('recordingFinished', (m) => ended.inc({ state: m.state }));
    service.on('recordingFailed', (e) => ended.inc({ state: e.id ? 'failed' : 'failed_to_start' }));
    if (webhooks) {
      const deliveries = new Counter({ name: 'rtc_record_webhook_deliveries_total', help: 'Webhook events by outcome', labelNames: ['result'], registers });
      webhooks.on('delivered', () => deliveries.inc({ result: 'delivered' }));
      webhooks.on('attemptFailed', () => deliveries.inc({ result: 'attempt_failed' }));
      webhooks.on('dropped', () => deliveries.inc({ result: 'dropped' }));
    }
  }

  /** The SFU's counters, read when scraped; the delay histogram gets the SFU's samples (1 packet in 16 per track). */
  /** Several servers on one Redis (`serve --redis`): this server's share of the rooms. */
  private clusterMetrics(cluster: RoomRegistry): void {
    const registers = [this.registry];
    new Gauge({
      name: 'rtc_record_cluster_rooms_held',
      help: 'Rooms this server owns in the cluster (claimed in Redis)',
      registers,
      collect() {
        this.set(cluster.heldRooms().length);
      },
    });
    new Gauge({
      name: 'rtc_record_cluster_redis_up',
      help: '1 while the room registry reaches Redis (0: new rooms cannot be placed)',
      registers,
      collect() {
        this.set(cluster.connected ? 1 : 0);
      },
    });
    const total = (name: string, help: string, key: keyof RoomRegistry['counts']) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(cluster.counts[key]);
        },
      });
    total('rtc_record_cluster_joins_placed_total', 'Joins that opened a room here (this server claimed it or had it)', 'placedHere');
    total('rtc_record_cluster_joins_redirected_total', 'Joins sent to the server that owns the room', 'redirected');
    total('rtc_record_cluster_rooms_lost_total', 'Rooms another server took over while members were here (they were sent there)', 'lost');
  }

  private sfuMetrics(sfu: Sfu): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, key: 'rooms' | 'publishers' | 'subscribers' | 'downTracksPaused' | 'downTracksPausedForBandwidth') =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(sfu.stats()[key]);
        },
      });
    gauge('rtc_record_sfu_rooms', 'Rooms the SFU forwards in', 'rooms');
    gauge('rtc_record_sfu_publishers', 'Participants publishing to the SFU', 'publishers');
    gauge('rtc_record_sfu_subscribers', 'Peers the SFU sends to (participants and remote recorders)', 'subscribers');
    gauge('rtc_record_sfu_videos_paused', 'Videos not forwarded because their subscriber shows them on another page', 'downTracksPaused');
    gauge('rtc_record_sfu_videos_paused_bandwidth', 'Videos not forwarded because not even their lowest layer fits their subscriber\'s bandwidth estimate', 'downTracksPausedForBandwidth');
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    total('rtc_record_sfu_packets_forwarded_total', 'RTP packets the SFU sent to subscribers (each subscriber counts)', () => sfu.meter.packets);
    total('rtc_record_sfu_keyframes_requested_total', 'Keyframe requests (PLI) the SFU sent to publishers', () => sfu.stats().keyframesRequested);
    const delay = new Histogram({
      name: 'rtc_record_sfu_forward_delay_seconds',
      help: 'SFU forwarding delay of sampled packets (1 in 16 per track): received packet handed over by werift → sent to a subscriber',
      buckets: DELAY_BUCKETS_MS.map((ms) => ms / 1000),
      registers,
    });
    sfu.meter.onDelay((ms) => delay.observe(ms / 1000));
  }

  async render(): Promise<{ contentType: string; body: string }> {
    this.cache = undefined;
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private sampleLive(service: RecordingService): LiveSample[] {
    if (this.cache) return this.cache;
    const active = service.activeRecordings();
    for (const id of this.trackers.keys()) if (!active.some((a) => a.id === id)) this.trackers.delete(id);
    this.cache = active.map((a) => {
      let tracker = this.trackers.get(a.id);
      if (!tracker) this.trackers.set(a.id, (tracker = new ProgressTracker(a.dir)));
      const p = tracker.sample(a.manifest);
      return { id: a.id, room: a.room, bytes: p.bytesWritten, received: p.packetsReceived, lost: p.packetsLost, fps: p.encoderFps, speed: p.encoderSpeed };
    });
    return this.cache;
  }
}
