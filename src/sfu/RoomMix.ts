import { EventEmitter } from 'node:events';
import { LiveAudioMix } from '../media/audio/LiveAudioMix.js';
import type { LiveMixFrame } from '../media/audio/LiveAudioMixTypes.js';
import type { Logger } from '../logger.js';
import type { MixDownTrack } from './MixDownTrack.js';
import { MixClock } from './MixClock.js';
import { MixPacketizer, type MixTicksPerPacket } from './MixPacketizer.js';
import type { PacketSink, PublishedTrack } from './PublishedTrack.js';

const FRAME_MS = 20;

/** Mix packets of 20 ms, 40 ms, or 40 ms from MIX_40MS_FROM_LISTENERS listeners on (`auto`). */
export type MixPacketMs = 20 | 40 | 'auto';
/**
 * `auto`: from this many listeners, 40 ms packets. Below, the fan-out is a small part of the mix's cost and 20 ms
 * less latency is worth more; above, sending is most of it (measured at 50 listeners: 27 % of the server's CPU).
 */
export const MIX_40MS_FROM_LISTENERS = 20;

export interface RoomMixOptions {
  /** Voices mixed at most (the N loudest). */
  maxSpeakers: number;
  /** Each voice's playout buffer (ms) before the mix. Default 20. */
  jitterTargetMs?: number;
  /** Packet duration sent to listeners. Default 'auto'. */
  packetMs?: MixPacketMs;
  logger: Logger;
}

export interface RoomMixEvents {
  /** Participant ids in the mix now, loudest first. */
  speakersChanged: [speakers: string[]];
}

export interface RoomMixStats {
  voices: number;
  listeners: number;
  ticks: number;
  /** Ticks the clock skipped after the process stalled longer than it catches up. */
  skippedTicks: number;
  /** Mix packets handed to listeners' senders. */
  packetsSent: number;
  /** Milliseconds of mix in each packet now (20 or 40). */
  packetMs: number;
  /**
   * Time the ticks took (decode, rank, mix, encode, fan-out), ms of the monotonic clock: the mix's own work, the ticks
   * being synchronous. (It was process.cpuUsage() around each tick: two getrusage syscalls a tick, ~1 % of the server.)
   */
  tickMs: number;
}

/**
 * The MCU's live audio of one SFU room: every participant's voice goes in (decoded, ranked like the recording ranks
 * them), and every listening participant gets one track back, the N loudest voices without its own. At most N + 1
 * Opus encodes per 20 ms whatever the room size: the room mix, shared by everybody outside the N, and one
 * mix-minus-self per speaker.
 */
export class RoomMix extends EventEmitter<RoomMixEvents> {
  private readonly mix: LiveAudioMix;
  private readonly clock = new MixClock(
    FRAME_MS,
    (now) => this.tick(now),
    (ticks) => this.mix.skip(ticks),
  );
  private readonly voices = new Map<PublishedTrack, { participant: string; sink: PacketSink }>();
  private readonly outputs = new Map<string, MixDownTrack>();
  private readonly packetizer = new MixPacketizer();
  private ticks = 0;
  private packetsSent = 0;
  private tickMs = 0;
  private closed = false;
  speakers: string[] = [];

  constructor(private readonly opts: RoomMixOptions) {
    super();
    // 20 ms of playout buffer per voice and 40 ms of excess at most (not the media defaults of 40 and 60): it is
    // mouth-to-ear latency. A voice that arrives late once is stretched (concealed) rather than cut, which leaves it a
    // frame deeper; in its next pause silent frames are skipped until one frame of slack is left (measured on loopback:
    // the server's part of mouth-to-ear went from 22-62 ms per run to 27-35), beyond the excess frames are dropped.
    this.mix = new LiveAudioMix({ maxSpeakers: opts.maxSpeakers, jitter: { targetMs: opts.jitterTargetMs ?? 20, excessMs: 40 } });
    this.mix.on('speakersChanged', (speakers) => {
      this.speakers = speakers;
      this.emit('speakersChanged', speakers);
    });
    this.clock.start();
  }

  /** A participant's published audio joins the mix (one voice per participant: a second audio track is not mixed). */
  addVoice(track: PublishedTrack): void {
    if (this.closed || track.kind !== 'audio' || this.voices.has(track)) return;
    const participant = track.remote.participant.id;
    if ([...this.voices.values()].some((v) => v.participant === participant)) {
      this.opts.logger.warn({ participant: track.remote.participant.name }, 'mcu: a second audio track of one participant is not mixed');
      return;
    }
    const sink: PacketSink = {
      // The mix reads the header fields and keeps the payload (VoiceJitterBuffer.push): no header copy needed.
      readsOnly: true,
      write: (packet) => {
        this.mix.push(participant, packet.header.sequenceNumber, packet.header.timestamp, packet.payload, performance.now(), track.audioLevel);
        return false;
      },
    };
    this.voices.set(track, { participant, sink });
    this.mix.addVoice(participant);
    track.addSink(sink);
  }

  removeVoice(track: PublishedTrack): void {
    const voice = this.voices.get(track);
    if (!voice) return;
    this.voices.delete(track);
    track.removeSink(voice.sink);
    this.mix.removeVoice(voice.participant);
  }

  addOutput(down: MixDownTrack): void {
    this.outputs.set(down.listener, down);
  }

  removeOutput(participant: string): void {
    this.outputs.delete(participant);
  }

  stats(): RoomMixStats {
    return {
      voices: this.voices.size,
      listeners: this.outputs.size,
      ticks: this.ticks,
      skippedTicks: this.clock.skipped,
      packetsSent: this.packetsSent,
      packetMs: this.ticksPerPacket() * FRAME_MS,
      tickMs: this.tickMs,
    };
  }

  /** The mix's own counters: per voice, its playout buffer (late, concealed, underruns…) and level. */
  mixStats(): ReturnType<LiveAudioMix['stats']> {
    return this.mix.stats();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clock.stop();
    for (const track of [...this.voices.keys()]) this.removeVoice(track);
    this.outputs.clear();
    this.mix.close();
  }

  private tick(nowMs: number): void {
    if (this.closed) return;
    // Every 5 s at debug level: each voice's playout depth and repairs (what to look at when the mix lags or breaks).
    if (this.ticks % 250 === 249 && this.opts.logger.isLevelEnabled('debug')) {
      const voices = Object.fromEntries([...this.mix.stats().voices].map(([id, v]) => [id, { depthMs: v.depthMs, concealed: v.concealed, underruns: v.underruns, dropped: v.dropped, silenceSkipped: v.silenceSkipped, undecoded: v.undecoded, late: v.late, resets: v.resets, silent: v.silent, levelDb: Math.round(v.levelDb) }]));
      this.opts.logger.debug({ voices, skippedTicks: this.clock.skipped }, 'mcu: voices');
    }
    const t0 = performance.now();
    try {
      this.send(this.mix.tick(nowMs, this.outputs));
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message }, 'mcu: mix tick failed');
    }
    this.tickMs += performance.now() - t0;
    this.ticks++;
  }

  private ticksPerPacket(): MixTicksPerPacket {
    const ms = this.opts.packetMs ?? 'auto';
    if (ms === 'auto') return this.outputs.size >= MIX_40MS_FROM_LISTENERS ? 2 : 1;
    return ms === 40 ? 2 : 1;
  }

  /** This tick's packets (the room mix, each speaker's mix-minus-self; 20 or 40 ms), fanned out to the listeners. */
  private send(frame: LiveMixFrame): void {
    const packets = this.packetizer.push(frame, this.outputs.keys(), this.ticksPerPacket());
    for (const [listener, list] of packets) {
      const down = this.outputs.get(listener);
      if (!down) continue;
      for (const packet of list) if (down.send(packet)) this.packetsSent++;
    }
  }
}
