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
  /**
   * How far (samples) a track's placement may be moved at once to follow a changed mapping (new sender report, better
   * clock offset): a difference up to this is slewed (packets stretched or squeezed by `slewRate`), a larger one jumps.
   */
  maxSlewSamples: number;
  /** Largest stretch of one packet, as a fraction of its length (0.02: 0.4 ms per 20 ms packet, a 2 % pitch change). */
  slewRate: number;
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
  /** Missing media (beyond one concealed packet) left as silence. */
  gaps: number;
  /** The placement jumped to follow a mapping change larger than maxSlewSamples (a timestamp jump, a new anchor). */
  reanchors: number;
  /** Samples added (+) or removed (−) by stretching packets to follow mapping changes. */
  slewedSamples: number;
  /** Samples filled by packet-loss concealment (one packet per loss; a fade to silence follows). */
  concealedSamples: number;
  /**
   * Lost packets decoded from the next packet's in-band FEC data instead of concealed (system libopus only; libopus
   * conceals when the packet carries none, as an encoder without FEC or without expected loss sends).
   */
  fecDecoded: number;
  /** Where the track's media position 0 (its first packet) sits on the timeline now (samples); undefined before any. */
  placement?: number;
  /** Packets waiting to be decoded now. */
  queued: number;
  /** Decoded samples not yet read. */
  bufferedSamples: number;
}

/**
 * A loss is concealed for up to three packets (60 ms of 20 ms packets: libopus fades its guess out itself), longer
 * ones then fade to silence. Random loss of a few per cent loses 2-3 packets in a row now and then; one concealed
 * packet left 20-40 ms holes there.
 */
const MAX_CONCEALED_PACKETS = 3;

interface QueuedPacket extends PacketSlot {
  /** Position in the sender's own sample clock (its RTP timestamps, unwrapped): says which packets are contiguous. */
  media: number;
  samples: number;
}

/**
 * Turns one track's timestamped Opus packets into mono PCM on the mix timeline. Packets wait encoded, sorted by their
 * position in the sender's sample clock, and are decoded only when the mix reaches them: reordered packets still
 * decode in order, and memory is a few KB per second of queue.
 *
 * Placement: a packet goes at its media position plus the track's placement offset, so packets that follow each other
 * in the sender's clock follow each other on the timeline, sample for sample, and a loss leaves exactly its own length.
 * The caller's mapping (each push's `target`) may change while the track plays (a new sender report, a better
 * clock offset): the placement then follows it by stretching or squeezing packets a little (`slewRate`), never by
 * cutting or doubling audio; only a change beyond `maxSlewSamples` jumps. The first missing packet of a loss is
 * concealed by libopus (a single loss is inaudible), the rest of a longer gap fades to silence.
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
  /** Where the last decoded (or concealed) audio ended (timeline samples); undefined before the first packet. */
  private nextExpected?: number;
  /** …and in media samples. */
  private nextMedia?: number;
  /** Timeline − media of the placement; undefined until the first packet is decoded. */
  private placement?: number;
  /**
   * Timeline − media as the caller's mapping says now (from the latest push): packets wait ~1 s before they are
   * decoded, and by then the mapping may have improved (a sender report, a better offset after a busy start).
   */
  private wanted?: number;
  /** Media tolerance (1 ms): a sender's timestamps may disagree with its packets' TOC durations by a few samples. */
  private readonly tolerance: number;
  /** Scratch for a stretched packet (up to 120 ms plus the largest stretch). */
  private stretchBuf = new Float32Array(0);
  private lastPacketSamples = 0;
  /** Packets concealed since the last decoded one (up to MAX_CONCEALED_PACKETS per loss, then silence). */
  private concealed = 0;
  /** Scratch for the fade after concealment (10 ms). */
  private readonly fadeBuf: Float32Array;
  private readonly counters: Omit<OpusTrackStats, 'placement' | 'queued' | 'bufferedSamples'> = {
    received: 0,
    decoded: 0,
    late: 0,
    tooFarAhead: 0,
    invalid: 0,
    overlapping: 0,
    overflow: 0,
    notReady: 0,
    gaps: 0,
    reanchors: 0,
    slewedSamples: 0,
    concealedSamples: 0,
    fecDecoded: 0,
  };

  constructor(private readonly opts: OpusTrackTimelineOptions) {
    this.decoder = new OpusTrackDecoder(opts.sampleRate);
    this.tolerance = opts.sampleRate / 1000;
    // Holds the frame being read plus the furthest a due packet can reach past it (120 ms) and concealment; 2^16
    // samples (1.4 s at 48 kHz) is ample and fixed.
    this.ring = new PcmRing(65_536, opts.startIndex);
    this.fadeBuf = new Float32Array(Math.round(opts.sampleRate / 100));
  }

  get ready(): Promise<void> {
    return this.decoder.ready;
  }

  /**
   * A new source continues this track (the participant's track was replaced): its media positions start afresh, so
   * its first packet anchors on the caller's mapping instead of following the old source's positions. What the old
   * source still had queued (its last second, numbered differently) is dropped.
   */
  restartMedia(): void {
    this.counters.overflow += this.queue.length;
    this.queue.length = 0;
    this.placement = this.wanted = this.nextMedia = undefined;
  }

  /** Nothing queued and nothing decoded left to read. */
  get idle(): boolean {
    return this.queue.length === 0 && this.ring.buffered === 0;
  }

  stats(): OpusTrackStats {
    return { ...this.counters, placement: this.placement ?? this.wanted, queued: this.queue.length, bufferedSamples: this.ring.buffered };
  }

  /**
   * Queues a packet that the caller's mapping puts at timeline sample `target`; `media` is its position in the sender's
   * own sample clock (default: `target`, i.e. a caller whose mapping never changes). Returns false when it was dropped
   * (see stats).
   */
  push(data: Uint8Array, target: number, media = target): boolean {
    this.counters.received++;
    const samples = opusPacketSamples(data, this.opts.sampleRate);
    if (samples === 0 || !Number.isFinite(target) || !Number.isFinite(media)) return this.drop('invalid');
    this.wanted = target - media;
    const start = this.placedStart(media);
    const readIndex = this.ring.readIndex;
    if (start + samples <= readIndex) return this.drop('late');
    if (start - readIndex > this.opts.maxAheadSamples) return this.drop('tooFarAhead');
    if (this.queue.length >= this.opts.maxQueuedPackets) return this.drop('overflow');
    // Copied: the caller's packet is typically a view into a datagram buffer we must not pin or see changed.
    const entry: QueuedPacket = { media, samples, offset: this.bytes.add(data, this.queue), length: data.length };
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.media > media) i--;
    if (i === this.queue.length) this.queue.push(entry);
    else this.queue.splice(i, 0, entry);
    return true;
  }

  /** Fills `out` with the track's PCM for timeline samples [frameStart, frameStart + out.length). */
  read(frameStart: number, out: Float32Array): void {
    if (this.ring.readIndex < frameStart) this.ring.skipTo(frameStart);
    const frameEnd = frameStart + out.length;
    while (this.queue.length > 0) {
      const p = this.queue[0]!;
      if (this.placedStart(p.media) >= frameEnd) break;
      this.decodeOne(this.queue.shift()!);
    }
    // The audio runs out within this frame and the next packet is not here: it is lost (or the sender went quiet).
    // The last lost packet before a queued one comes from that one's FEC data where it has some.
    while (this.nextExpected !== undefined && this.nextExpected < frameEnd && this.concealed < MAX_CONCEALED_PACKETS && !this.ended) {
      const next = this.queue[0];
      if (!next || !this.recoverFrom(next)) this.conceal(this.nextExpected);
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

  /** Where a packet would be placed now: the current placement, or the caller's mapping as of now. */
  private placedStart(media: number): number {
    const d = this.wanted!;
    const p = this.placement;
    return p === undefined || Math.abs(d - p) > this.opts.maxSlewSamples ? media + d : media + p;
  }

  private decodeOne(p: QueuedPacket): void {
    if (!this.decoder.isReady) {
      this.counters.notReady++;
      return;
    }
    const wanted = this.wanted!;
    if (this.placement === undefined || Math.abs(wanted - this.placement) > this.opts.maxSlewSamples) {
      if (this.placement !== undefined) this.counters.reanchors++;
      this.placement = wanted;
      this.nextMedia = undefined;
    }
    const tolerance = this.tolerance;
    let skip = 0;
    if (this.nextMedia !== undefined) {
      const delta = p.media - this.nextMedia;
      if (delta > tolerance) {
        // A hole before this packet that read() did not see yet (several packets due in one frame): conceal it first.
        while (p.media - this.nextMedia! > tolerance && this.concealed < MAX_CONCEALED_PACKETS) {
          if (!this.recoverFrom(p)) this.conceal(this.nextExpected!);
        }
        if (p.media - this.nextMedia! > tolerance) this.counters.gaps++;
      } else if (delta < -tolerance) {
        if (p.media + p.samples <= this.nextMedia + tolerance) {
          // Entirely inside audio we already have: a duplicate or a straggler; skipping it keeps the decoder state clean.
          this.counters.overlapping++;
          return;
        }
        skip = this.nextMedia - p.media;
      }
    }
    // Contiguous with what was placed before: right after it, whatever the mapping says now.
    const contiguous = this.nextMedia !== undefined && Math.abs(p.media - this.nextMedia) <= tolerance;
    const at = contiguous ? this.nextExpected! : p.media + this.placement;
    let pcm = this.decoder.decode(this.bytes.view(p));
    this.counters.decoded++;
    if (skip > 0) pcm = pcm.subarray(Math.min(skip, pcm.length));
    // Follow the mapping: stretch (or squeeze) this packet by at most slewRate towards where it wants to be.
    const behind = p.media + skip + wanted - at;
    const maxAdj = Math.floor(pcm.length * this.opts.slewRate);
    const adj = Math.max(-maxAdj, Math.min(maxAdj, Math.round(behind)));
    if (adj !== 0) {
      pcm = this.stretch(pcm, pcm.length + adj);
      this.counters.slewedSamples += adj;
    }
    this.ring.write(at, pcm);
    this.placement = at - (p.media + skip) + adj;
    this.nextExpected = at + pcm.length;
    this.nextMedia = p.media + skip + pcm.length - adj;
    this.lastPacketSamples = p.samples;
    this.concealed = 0;
  }

  /** Linear-interpolation resampling of `pcm` to `length` samples (a change of a few per cent: no audible artefact). */
  private stretch(pcm: Float32Array, length: number): Float32Array {
    if (this.stretchBuf.length < length) this.stretchBuf = new Float32Array(length + 256);
    const out = this.stretchBuf.subarray(0, length);
    const n = pcm.length;
    if (n < 2 || length < 2) return pcm;
    const ratio = (n - 1) / (length - 1);
    for (let i = 0; i < length; i++) {
      const x = i * ratio;
      const j = Math.min(n - 2, Math.floor(x));
      const f = x - j;
      out[i] = pcm[j]! * (1 - f) + pcm[j + 1]! * f;
    }
    return out;
  }

  /**
   * The audio before `next` is missing, and it is at most one packet: decode it from `next`'s in-band FEC data (the
   * sender's coarse copy of the packet before), placed where the lost packet belonged. False when the gap is longer
   * (conceal first), the decoder cannot use FEC (WASM), or libopus gives nothing.
   */
  private recoverFrom(next: QueuedPacket): boolean {
    if (this.nextMedia === undefined || this.nextExpected === undefined || !this.decoder.canRecover || !this.decoder.isReady) return false;
    const gap = next.media - this.nextMedia;
    if (gap <= this.tolerance || gap > this.lastPacketSamples + this.tolerance) return false;
    // libopus decodes FEC in whole 2.5 ms steps.
    const step = this.opts.sampleRate / 400;
    const pcm = this.decoder.recover(this.bytes.view(next), Math.max(step, Math.round(gap / step) * step));
    if (!pcm) return false;
    this.ring.write(this.nextExpected, pcm);
    this.nextExpected += pcm.length;
    this.nextMedia += pcm.length;
    this.counters.fecDecoded++;
    this.concealed = 0;
    return true;
  }

  /**
   * The packet at `at` is missing: libopus conceals one packet's worth (so a loss does not click or leave a hole),
   * followed by a short fade to silence that the next packet (or concealment) overwrites if it does come. Concealing
   * also moves the decoder past the audio from before the loss, so it does not leak into the packet after a long gap.
   */
  private conceal(at: number): void {
    this.concealed++;
    const pcm = this.decoder.conceal();
    const n = Math.min(this.lastPacketSamples, pcm.length);
    this.ring.write(at, pcm, 0, n);
    const fade = this.fadeBuf;
    const f = Math.min(fade.length, pcm.length - n);
    for (let i = 0; i < f; i++) fade[i] = pcm[n + i]! * (1 - (i + 1) / f);
    this.ring.write(at + n, fade, 0, f);
    this.counters.concealedSamples += n;
    this.nextExpected = at + n;
    if (this.nextMedia !== undefined) this.nextMedia += n;
  }
}
