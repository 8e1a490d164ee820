import { OpusTrackDecoder } from './OpusTrackDecoder.js';
import { lostFramePacket, opusPacketSamples } from './opusPacket.js';
import { PcmRing } from './PcmRing.js';
import type { VoiceJitterBufferOptions, VoiceJitterBufferStats } from './VoiceJitterBufferTypes.js';

/** One pull(): 20 ms at 48 kHz, the live mix's clock. */
export const PULL_SAMPLES = 960;
const PER_MS = 48;
/** libopus's guess fills at most 60 ms per loss or underrun, fading out over the last 20; silence follows. */
const MAX_CONCEAL_SAMPLES = 3 * PULL_SAMPLES;
const CONCEAL_FADE_FROM = 2 * PULL_SAMPLES;
/** Depth beyond the target (ms) from which frames are dropped every few ticks instead of once a second. */
const SPIKE_MS = 200;
/** Beyond SPIKE_MS, one frame in this many is dropped (a third faster: 300 ms of backlog gone in ~1 s). */
const SPIKE_DROP_EVERY = 3;
/** Crossfade over the splice where a frame was dropped (2.5 ms): no click. */
const SPLICE_SAMPLES = 120;
/** A timestamp this far (ms) from where the stream should be is a new stream (sender restart, SSRC switch), not jitter. */
const DISCONTINUITY_MS = 1000;
/** Queue bound (5 s of 20 ms packets); the latency trim and the discontinuity reset keep real queues far below it. */
const MAX_PACKETS = 250;
/**
 * A frame whose samples all stay under this (−66 dBFS) is silence: when the buffer holds more than it needs, such a
 * frame is skipped rather than played, which takes latency out where nobody can hear it.
 */
const SILENCE_PEAK = 0.0005;
/** Sequence numbers remembered as played, to tell a duplicate from a late packet. */
const RECENT_SEQS = 64;

interface Packet {
  /** Unwrapped RTP timestamp (48 kHz samples). */
  ts: number;
  /** Unwrapped sequence number. */
  seq: number;
  samples: number;
  data: Uint8Array;
  /** The sender said it is silence (RFC 6464): played as silence, not decoded. */
  silent: boolean;
}

/**
 * One talker's live playout buffer: Opus RTP packets in (any order, any time), exactly 20 ms of PCM out per pull(),
 * which the mix's clock calls every 20 ms. Packets wait encoded, sorted by timestamp, and are decoded only when
 * their audio is due, so a reordered packet still has until then to arrive. A PCM FIFO holds the rest of a decoded
 * packet when packets are not 20 ms long (10/40/60 ms…).
 *
 * Timing is the sender's: the play point moves along the RTP timestamps, never along arrival times.
 * - Playout starts once targetMs is buffered.
 * - A missing packet with later ones queued is concealed (libopus PLC) when its audio is due; if it turns up
 *   afterwards it is late and dropped.
 * - Nothing queued (underrun): up to 60 ms of PLC then silence is inserted *without* moving the play point, so
 *   packets that were only delayed still play, whole and once (the stream stretches). If the next packet then leaves a
 *   gap (they were lost, or the sender paused: DTX), the inserted time is taken out of that gap.
 * - Silence while the depth is more than a frame above the target (an underrun or a delay spike left it deeper): the
 *   silent frame is skipped, one per pull, so the next words start at the target latency (NetEq does the same in
 *   pauses). Under a steady talker this never fires; the next rule does.
 * - Depth above target + excess for a second (the sender's clock runs fast, or a delay spike passed): one frame is
 *   dropped, spliced with a short crossfade; more than 200 ms above the target (a stall), one in three.
 * - No packet for resetAfterMs: the talker stopped; the buffer resets and re-anchors on the next packet.
 */
export class VoiceJitterBuffer {
  private readonly decoder = new OpusTrackDecoder(48_000);
  private readonly target: number;
  private readonly excess: number;
  private readonly excessHoldFrames: number;
  private readonly resetAfterMs: number;
  private state: 'idle' | 'buffering' | 'playing' | 'freed' = 'idle';
  /** Queued packets, by timestamp. */
  private readonly packets: Packet[] = [];
  /** Decoded (or concealed) audio not played yet; indexed by its own running sample count `fifoEnd`. */
  private readonly fifo = new PcmRing(16_384);
  private fifoEnd = 0;
  /**
   * Media position (unwrapped timestamp) where the decoded or concealed audio ends: everything before it is decided.
   * The play point is decodeTs − (samples in the FIFO). While buffering: the anchor (earliest timestamp seen).
   */
  private decodeTs = 0;
  /** Newest packet's end (unwrapped timestamp). */
  private highEnd = -Infinity;
  /** Unwrapping references: the highest timestamp and sequence number seen since the last reset. */
  private highTs?: number;
  private highSeq?: number;
  private lastArrivalMs?: number;
  /** Sequence number of the last decoded packet; undefined until one was decoded since the last reset. */
  private lastSeq?: number;
  private readonly recentSeqs = new Float64Array(RECENT_SEQS).fill(NaN);
  private recentNext = 0;
  /** TOC byte of the last decoded packet: concealment continues in its mode. */
  private lastToc = 0;
  /** Concealed samples since the last decoded packet (libopus's guess for the first 60 ms, then silence). */
  private plcPos = 0;
  /** The last packet played was silence (RFC 6464): a loss after it stays silent, recovered or not. */
  private lastSilent = false;
  /** Samples inserted by underruns since the last decoded packet (taken out of the next gap). */
  private stretched = 0;
  private excessFrames = 0;
  private underrunFrames = 0;
  /** A frame was just dropped: crossfade from it into the next one (holds the dropped frame). */
  private splicePending = false;
  private readonly dropBuf = new Float32Array(PULL_SAMPLES);
  private readonly scratch = new Float32Array(PULL_SAMPLES);
  private readonly out = new Float32Array(PULL_SAMPLES);
  private readonly counters = { packets: 0, late: 0, duplicates: 0, invalid: 0, concealed: 0, fecDecoded: 0, underruns: 0, dropped: 0, silenceSkipped: 0, resets: 0, silent: 0, undecoded: 0 };

  constructor(opts: VoiceJitterBufferOptions = {}) {
    this.target = (opts.targetMs ?? 40) * PER_MS;
    this.excess = (opts.excessMs ?? 60) * PER_MS;
    this.excessHoldFrames = Math.max(1, Math.round((opts.excessHoldMs ?? 1000) / 20));
    this.resetAfterMs = opts.resetAfterMs ?? 500;
  }

  /**
   * False: packets are played as silence without being decoded, as if their sender had said they were silent (the
   * live mix turns it off for voices too quiet to be heard; timing, depth and repairs go on as before).
   */
  decoding = true;

  /** Resolves when the decoder has started; pull() gives silence until then (packets are kept meanwhile). */
  get ready(): Promise<void> {
    return this.decoder.ready;
  }

  /**
   * One RTP packet: `rtpTimestamp` is the 32-bit RTP timestamp (48 kHz for Opus; wraps), `arrivalMs` any monotonic
   * clock (only gaps between arrivals are used). The payload is copied. A `silent` packet (its sender's audio level
   * says so) keeps its place in the timeline but is played as silence without being decoded.
   */
  push(sequenceNumber: number, rtpTimestamp: number, payload: Uint8Array, arrivalMs: number, silent = false): void {
    if (this.state === 'freed') return;
    const c = this.counters;
    c.packets++;
    const samples = opusPacketSamples(payload);
    if (samples === 0) {
      c.invalid++;
      return;
    }
    if (this.state !== 'idle' && this.lastArrivalMs !== undefined && arrivalMs - this.lastArrivalMs > this.resetAfterMs) this.reset();
    let ts = this.unwrapTs(rtpTimestamp);
    if (this.state !== 'idle' && this.highTs !== undefined && this.lastArrivalMs !== undefined) {
      const expected = this.highTs + (arrivalMs - this.lastArrivalMs) * PER_MS;
      if (Math.abs(ts - expected) > DISCONTINUITY_MS * PER_MS) {
        this.reset();
        ts = this.unwrapTs(rtpTimestamp);
      }
    }
    const seq = this.unwrapSeq(sequenceNumber);
    this.lastArrivalMs = arrivalMs;
    if (this.highTs === undefined || ts > this.highTs) this.highTs = ts;
    if (this.highSeq === undefined || seq > this.highSeq) this.highSeq = seq;

    if (this.state === 'idle') {
      this.state = 'buffering';
      this.decodeTs = ts;
    } else if (this.state === 'buffering') {
      // A reordered start: anchor on the earliest packet.
      if (ts < this.decodeTs) this.decodeTs = ts;
    } else if (ts + samples <= this.decodeTs) {
      if (this.recentSeqs.includes(seq)) c.duplicates++;
      else c.late++;
      return;
    }
    const q = this.packets;
    let i = q.length;
    while (i > 0 && q[i - 1]!.ts > ts) i--;
    if (i > 0 && q[i - 1]!.ts === ts) {
      c.duplicates++;
      return;
    }
    if (q.length >= MAX_PACKETS) {
      c.invalid++;
      return;
    }
    q.splice(i, 0, { ts, seq, samples, data: payload.slice(), silent });
    if (ts + samples > this.highEnd) this.highEnd = ts + samples;
  }

  /** The next 20 ms (960 samples at 48 kHz). The array is reused: valid until the next pull(). */
  pull(): Float32Array {
    const out = this.out;
    if (this.state === 'buffering' && this.decoder.isReady && this.highEnd - this.decodeTs >= this.target) this.state = 'playing';
    if (this.state !== 'playing') {
      out.fill(0);
      return out;
    }

    const depth = this.depth();
    // What stays buffered after this pull. (Underruns still to come out of a gap were played already: not depth.)
    const spare = depth - this.stretched - PULL_SAMPLES;
    if (depth > this.target + this.excess) {
      // Far behind (a burst after a stall): one frame in three goes, so 300 ms of backlog are gone in about a second
      // rather than the 15 s one frame a second would take; a little excess (clock drift) keeps the gentle rate.
      const hold = depth > this.target + SPIKE_MS * PER_MS ? SPIKE_DROP_EVERY : this.excessHoldFrames;
      if (++this.excessFrames >= hold) {
        this.excessFrames = 0;
        if (this.fill(PULL_SAMPLES)) {
          this.fifo.read(this.dropBuf, PULL_SAMPLES);
          this.splicePending = true;
          this.counters.dropped++;
        }
      }
    } else {
      this.excessFrames = 0;
    }

    if (this.fill(PULL_SAMPLES)) {
      this.fifo.read(out, PULL_SAMPLES);
      this.underrunFrames = 0;
      if (!this.splicePending && spare > this.target && isSilent(out) && this.fill(PULL_SAMPLES)) {
        // The silence just read goes unplayed; the next frame starts where it ended, so there is no seam.
        this.fifo.read(out, PULL_SAMPLES);
        this.counters.silenceSkipped++;
      }
      if (this.splicePending) {
        // dropBuf continues what was played last; fade from it into the new audio.
        const d = this.dropBuf;
        for (let i = 0; i < SPLICE_SAMPLES; i++) {
          const w = (i + 0.5) / SPLICE_SAMPLES;
          out[i] = d[i]! * (1 - w) + out[i]! * w;
        }
        this.splicePending = false;
      }
      return out;
    }

    this.counters.underruns++;
    if (++this.underrunFrames * 20 > this.resetAfterMs) {
      this.reset();
      out.fill(0);
      return out;
    }
    const have = this.fifoEnd - this.fifo.readIndex;
    this.fifo.read(out, have);
    out.set(this.concealChunk(PULL_SAMPLES - have), have);
    this.stretched += PULL_SAMPLES - have;
    this.splicePending = false;
    return out;
  }

  stats(): VoiceJitterBufferStats {
    return { ...this.counters, depthMs: this.depth() / PER_MS };
  }

  free(): void {
    if (this.state === 'freed') return;
    this.state = 'freed';
    this.packets.length = 0;
    this.decoder.free();
  }

  /** Samples from the play point to the newest packet's end. */
  private depth(): number {
    if (this.state === 'buffering') return Math.max(0, this.highEnd - this.decodeTs);
    if (this.state !== 'playing') return 0;
    return Math.max(0, this.highEnd - (this.decodeTs - (this.fifoEnd - this.fifo.readIndex)));
  }

  /** Decodes or conceals until the FIFO holds `n` samples; false when the queue ran dry first (an underrun). */
  private fill(n: number): boolean {
    const q = this.packets;
    while (this.fifoEnd - this.fifo.readIndex < n) {
      const p = q[0];
      if (!p) return false;
      if (p.ts + p.samples <= this.decodeTs) {
        q.shift();
        this.counters.late++;
        continue;
      }
      if (p.ts <= this.decodeTs) {
        q.shift();
        this.decode(p);
        continue;
      }
      let gap = p.ts - this.decodeTs;
      if (this.stretched > 0) {
        // The underrun already played (concealment or silence) for this gap.
        const skip = Math.min(gap, this.stretched);
        this.stretched = 0;
        this.decodeTs += skip;
        gap -= skip;
        if (gap === 0) continue;
      }
      const k = Math.min(gap, PULL_SAMPLES);
      // Consecutive sequence numbers across a timestamp gap: the sender paused (DTX), nothing was lost.
      // (Unwritten FIFO slots read as silence.)
      if (this.lastSeq === undefined || p.seq !== this.lastSeq + 1) this.fifo.write(this.fifoEnd, (k === gap && this.recoverBefore(p, k)) || this.concealChunk(k));
      this.fifoEnd += k;
      this.decodeTs += k;
    }
    return true;
  }

  private decode(p: Packet): void {
    // Overlaps what was already played (a packet of another length than the concealed gap): skip that part.
    const skip = this.decodeTs - p.ts;
    const want = p.samples - skip;
    const silent = p.silent || !this.decoding;
    if (silent) {
      // Unwritten FIFO slots read as silence. The decoder skips this packet: its state goes stale only over silence
      // (or over a voice nobody hears, see `decoding`).
      if (p.silent) this.counters.silent++;
      else this.counters.undecoded++;
    } else {
      const pcm = this.decoder.decode(p.data);
      const got = Math.max(0, Math.min(want, pcm.length - skip));
      if (got > 0) this.fifo.write(this.fifoEnd, pcm, skip, got);
    }
    // A corrupt packet decodes short: the rest of its time stays silent, so the timing holds.
    this.fifoEnd += want;
    this.decodeTs = p.ts + p.samples;
    this.lastSeq = p.seq;
    this.recentSeqs[this.recentNext] = p.seq;
    this.recentNext = (this.recentNext + 1) % RECENT_SEQS;
    this.lastToc = p.data[0]!;
    // A loss right after silence is concealed with silence (PLC would continue the last decoded speech).
    this.plcPos = silent ? MAX_CONCEAL_SAMPLES : 0;
    this.lastSilent = silent;
    this.stretched = 0;
  }

  /**
   * The `n` samples right before `next` (a packet was lost there), from `next`'s in-band FEC data: the sender's coarse
   * copy of the lost packet, where it put one. Undefined when the decoder cannot (WASM), `n` is no whole number of
   * 2.5 ms steps, or the loss followed silence (nothing to recover that silence would not give).
   */
  private recoverBefore(next: Packet, n: number): Float32Array | undefined {
    if (next.silent || this.lastSilent || !this.decoding || n % 120 !== 0 || !this.decoder.canRecover) return undefined;
    const pcm = this.decoder.recover(next.data, n);
    if (!pcm || pcm.length !== n) return undefined;
    this.counters.fecDecoded++;
    return pcm;
  }

  /**
   * `n` (≤ 960) samples continuing the last decoded audio: libopus PLC, 20 ms per call (lostFramePacket), for up to
   * 60 ms after the last decoded packet, fading out over the last 20; then silence. A view of `scratch`.
   */
  private concealChunk(n: number): Float32Array {
    const buf = this.scratch.subarray(0, n);
    const from = this.plcPos;
    this.plcPos += n;
    if (this.lastSeq === undefined || from >= MAX_CONCEAL_SAMPLES) {
      buf.fill(0);
      return buf;
    }
    const plc = this.decoder.decode(lostFramePacket(this.lastToc));
    for (let i = 0; i < n; i++) {
      const idx = from + i;
      let v = i < plc.length ? plc[i]! : 0;
      if (idx >= CONCEAL_FADE_FROM) v *= Math.max(0, MAX_CONCEAL_SAMPLES - idx) / (MAX_CONCEAL_SAMPLES - CONCEAL_FADE_FROM);
      buf[i] = v;
    }
    this.counters.concealed++;
    return buf;
  }

  private reset(): void {
    if (this.state === 'idle' || this.state === 'freed') return;
    this.counters.resets++;
    this.state = 'idle';
    this.packets.length = 0;
    this.fifo.skipTo(this.fifoEnd);
    this.highEnd = -Infinity;
    this.highTs = undefined;
    this.highSeq = undefined;
    this.lastSeq = undefined;
    this.recentSeqs.fill(NaN);
    this.plcPos = 0;
    this.stretched = 0;
    this.excessFrames = 0;
    this.underrunFrames = 0;
    this.splicePending = false;
  }

  /** 32-bit RTP timestamp → continuous sample count, by the shortest signed step from the highest seen. */
  private unwrapTs(ts: number): number {
    const ref = this.highTs;
    return ref === undefined ? ts >>> 0 : ref + ((ts - (ref >>> 0)) | 0);
  }

  private unwrapSeq(seq: number): number {
    const ref = this.highSeq;
    return ref === undefined ? seq & 0xffff : ref + ((((seq - ref) & 0xffff) << 16) >> 16);
  }
}

function isSilent(frame: Float32Array): boolean {
  for (let i = 0; i < frame.length; i++) if (frame[i]! > SILENCE_PEAK || frame[i]! < -SILENCE_PEAK) return false;
  return true;
}
