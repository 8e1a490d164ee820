import { PacketBytes, type PacketSlot } from './PacketBytes.js';
import { opusPacketSamples } from './opusPacket.js';
import { OpusTrackDecoder } from './OpusTrackDecoder.js';
import { PcmRing } from './PcmRing.js';

export interface OpusTrackTimelineOptions {
  sampleRate: number;
  /** Timeline sample index of the first frame this track will be read at (the mixer's cursor when it was added). */
  startIndex: number;
  /** Packets starting this far (samples) beyond the read position are dropped. */
  maxAheadSamples: number;
  /** A packet within this many samples of where the previous one ended is placed right after it (timestamp jitter). */
  snapSamples: number;
  /** Encoded packets held at most (bounds memory even if the caller floods us). */
  maxQueuedPackets: number;
}

/** Counters for diagnostics (packets unless noted). */
export interface OpusTrackStats {
  received: number;
  decoded: number;
  /** Arrived after the mix had already played their time. */
  late: number;
  /** More than `maxAheadSamples` ahead of the mix. */
  tooFarAhead: number;
  /** Empty or malformed TOC. */
  invalid: number;
  /** Overlapped audio already decoded (duplicates, reordered stragglers). */
  overlapping: number;
  /** Dropped because the queue was full. */
  overflow: number;
  /** Due before the WASM decoder had started. */
  notReady: number;
  /** Jumps forward on the timeline (beyond one concealed packet) left as silence. */
  gaps: number;
  /** Samples filled by packet-loss concealment (one packet per loss; a fade to silence follows). */
  concealedSamples: number;
  /** Packets waiting to be decoded now. */
  queued: number;
  /** Decoded samples not yet read. */
  bufferedSamples: number;
}

interface QueuedPacket extends PacketSlot {
  start: number;
  samples: number;
}

/**
 * Turns one track's timestamped Opus packets into mono PCM on the mix timeline. Packets wait encoded, sorted by
 * timeline position, and are decoded only when the mix reaches them: reordered packets still decode in order, and
 * memory is a few KB per second of queue. Decoded PCM is written at its timeline position (never appended), so loss
 * and timestamp jumps cannot shift later audio. The first missing packet of a loss is concealed by libopus (a single
 * loss is inaudible), the rest of a longer gap fades to silence.
 */
export class OpusTrackTimeline {
  /**
   * No more packets will come (the track was removed): running out of audio is then the end, not a loss to conceal.
   * Cleared again if the track comes back.
   */
  ended = false;

  private readonly decoder: OpusTrackDecoder;
  private readonly ring: PcmRing;
  private readonly queue: QueuedPacket[] = [];
  private readonly bytes = new PacketBytes();
  /** Where the last decoded packet ended (timeline samples); undefined before the first one. */
  private nextExpected?: number;
  private lastPacketSamples = 0;
  /** Concealment ran since the last decoded packet (conceal once per loss, then silence). */
  private concealing = false;
  /** Scratch for the fade after concealment (10 ms). */
  private readonly fadeBuf: Float32Array;
  private readonly counters: Omit<OpusTrackStats, 'queued' | 'bufferedSamples'> = {
    received: 0,
    decoded: 0,
    late: 0,
    tooFarAhead: 0,
    invalid: 0,
    overlapping: 0,
    overflow: 0,
    notReady: 0,
    gaps: 0,
    concealedSamples: 0,
  };

  constructor(private readonly opts: OpusTrackTimelineOptions) {
    this.decoder = new OpusTrackDecoder(opts.sampleRate);
    // Holds the frame being read plus the furthest a due packet can reach past it (120 ms) and concealment; 2^16
    // samples (1.4 s at 48 kHz) is ample and fixed.
    this.ring = new PcmRing(65_536, opts.startIndex);
    this.fadeBuf = new Float32Array(Math.round(opts.sampleRate / 100));
  }

  get ready(): Promise<void> {
    return this.decoder.ready;
  }

  /** Nothing queued and nothing decoded left to read. */
  get idle(): boolean {
    return this.queue.length === 0 && this.ring.buffered === 0;
  }

  stats(): OpusTrackStats {
    return { ...this.counters, queued: this.queue.length, bufferedSamples: this.ring.buffered };
  }

  /** Queues a packet starting at timeline sample `start`. Returns false when it was dropped (see stats). */
  push(data: Uint8Array, start: number): boolean {
    this.counters.received++;
    const samples = opusPacketSamples(data, this.opts.sampleRate);
    if (samples === 0 || !Number.isFinite(start)) return this.drop('invalid');
    const readIndex = this.ring.readIndex;
    if (start + samples <= readIndex) return this.drop('late');
    if (start - readIndex > this.opts.maxAheadSamples) return this.drop('tooFarAhead');
    if (this.queue.length >= this.opts.maxQueuedPackets) return this.drop('overflow');
    // Copied: the caller's packet is typically a view into a datagram buffer we must not pin or see changed.
    const entry: QueuedPacket = { start, samples, offset: this.bytes.add(data, this.queue), length: data.length };
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.start > start) i--;
    if (i === this.queue.length) this.queue.push(entry);
    else this.queue.splice(i, 0, entry);
    return true;
  }

  /** Fills `out` with the track's PCM for timeline samples [frameStart, frameStart + out.length). */
  read(frameStart: number, out: Float32Array): void {
    if (this.ring.readIndex < frameStart) this.ring.skipTo(frameStart);
    const frameEnd = frameStart + out.length;
    while (this.queue.length > 0 && this.queue[0]!.start < frameEnd) this.decodeOne(this.queue.shift()!);
    // The audio runs out within this frame and the next packet is not here: it is lost (or the sender went quiet).
    if (this.nextExpected !== undefined && this.nextExpected < frameEnd && !this.concealing && !this.ended) {
      this.conceal(this.nextExpected);
    }
    this.ring.read(out);
  }

  free(): void {
    this.queue.length = 0;
    this.bytes.clear();
    this.decoder.free();
  }

  private drop(reason: 'invalid' | 'late' | 'tooFarAhead' | 'overflow'): false {
    this.counters[reason]++;
    return false;
  }

  private decodeOne(p: QueuedPacket): void {
    if (!this.decoder.isReady) {
      this.counters.notReady++;
      return;
    }
    const snap = this.opts.snapSamples;
    let at = p.start;
    let skip = 0;
    if (this.nextExpected !== undefined) {
      // A hole before this packet that read() did not see yet (several packets due in one frame): conceal it first.
      if (p.start - this.nextExpected > snap && !this.concealing) this.conceal(this.nextExpected);
      const expected = this.nextExpected;
      const delta = p.start - expected;
      if (Math.abs(delta) <= snap) {
        at = expected;
      } else if (delta > 0) {
        this.counters.gaps++;
      } else if (p.start + p.samples <= expected + snap) {
        // Entirely inside audio we already have: a duplicate or a straggler; skipping it keeps the decoder state clean.
        this.counters.overlapping++;
        return;
      } else {
        // The caller's timeline stepped back a little: keep the new part at its true position.
        skip = expected - p.start;
      }
    }
    const pcm = this.decoder.decode(this.bytes.view(p));
    this.counters.decoded++;
    if (pcm.length > skip) this.ring.write(at + skip, pcm, skip);
    this.nextExpected = at + Math.max(pcm.length, p.samples);
    this.lastPacketSamples = p.samples;
    this.concealing = false;
  }

  /**
   * The packet at `at` is missing: libopus conceals one packet's worth (so a single loss does not click), followed by
   * a short fade to silence that the next packet overwrites if it does come. Longer losses stay silent. Concealing also
   * moves the decoder past the audio from before the loss, so it does not leak into the packet after a long gap.
   */
  private conceal(at: number): void {
    this.concealing = true;
    const pcm = this.decoder.conceal();
    const n = Math.min(this.lastPacketSamples, pcm.length);
    this.ring.write(at, pcm, 0, n);
    const fade = this.fadeBuf;
    const f = Math.min(fade.length, pcm.length - n);
    for (let i = 0; i < f; i++) fade[i] = pcm[n + i]! * (1 - (i + 1) / f);
    this.ring.write(at + n, fade, 0, f);
    this.counters.concealedSamples += n;
    this.nextExpected = at + n;
  }
}
