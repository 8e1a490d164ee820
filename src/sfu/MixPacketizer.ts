import { RtpHeader, RtpPacket } from 'werift';
import { joinOpusFrames } from '../media/audio/opusPacket.js';
import type { LiveMixFrame } from '../media/audio/LiveAudioMixTypes.js';

const SAMPLES_PER_TICK = 960;
/** Opus's payload type in our offers; werift's sender rewrites it to the negotiated one anyway. */
const OPUS_PT = 111;

/** How many 20 ms ticks of the mix go into one RTP packet. */
export type MixTicksPerPacket = 1 | 2;

/**
 * Turns the live mix's 20 ms ticks into RTP packets for its listeners: one packet a tick, or one every other tick
 * holding both ticks' frames (40 ms; RFC 6716 code 1/2, see joinOpusFrames). In a big room the fan-out (one SRTP
 * encryption and one `sendmsg` per listener and packet) is most of the mix's cost, and 40 ms packets halve it for 20 ms
 * more latency.
 *
 * Each listener's packet joins the frame it got at the first tick with the one it gets at the second, so a listener
 * moving between the room mix and its mix-minus-self does so at the tick it happens, as with 20 ms packets. Sequence
 * numbers are the packetizer's and shared by all listeners (one packet object serves everybody who hears the same):
 * when two frames cannot share a packet (their TOC bytes differ: the encoder changed mode), every listener gets the
 * two halves as two 20 ms packets that time. Timestamps are the first tick's × 960, so 20 and 40 ms packets and a
 * change between them form one timeline.
 */
export class MixPacketizer {
  private sequenceNumber = 0;
  /** The first half of a 40 ms packet: each listener's frame of that tick. */
  private held?: { index: number; frames: Map<string, Buffer> };

  /** Packets sent as two halves because their frames could not be joined (for stats). */
  apart = 0;

  /**
   * This tick's packets per listener (none while a 40 ms packet's first half is held). `listeners` are everybody who
   * gets the mix now; each hears its mix-minus-self if the frame has one, else the room mix.
   */
  push(frame: LiveMixFrame, listeners: Iterable<string>, ticksPerPacket: MixTicksPerPacket): Map<string, RtpPacket[]> {
    const out = new Map<string, RtpPacket[]>();
    const frameOf = (id: string) => frame.minus.get(id) ?? frame.all;
    let held = this.held;
    this.held = undefined;
    // A first half whose second never came (ticks skipped in a stall, or the room went back to 20 ms) goes alone.
    if (held && (held.index !== frame.index - 1 || ticksPerPacket === 1)) {
      this.emitEach(out, held.frames.entries(), held.index);
      held = undefined;
    }
    if (!held) {
      if (ticksPerPacket === 2) {
        const frames = new Map<string, Buffer>();
        for (const id of listeners) {
          const f = frameOf(id);
          if (f) frames.set(id, f);
        }
        this.held = { index: frame.index, frames };
        return out;
      }
      this.emitEach(out, this.framesOf(listeners, frameOf), frame.index);
      return out;
    }

    const pairs: Array<{ id: string; first?: Buffer; second?: Buffer; joined?: Buffer }> = [];
    const joins = new Map<Buffer, Map<Buffer, Buffer | undefined>>();
    let apart = false;
    for (const id of listeners) {
      const first = held.frames.get(id);
      const second = frameOf(id);
      const pair: (typeof pairs)[number] = { id, first, second };
      if (first && second) {
        let byFirst = joins.get(first);
        if (!byFirst) joins.set(first, (byFirst = new Map()));
        if (!byFirst.has(second)) byFirst.set(second, joinOpusFrames(first, second));
        pair.joined = byFirst.get(second);
        if (!pair.joined) apart = true;
      }
      pairs.push(pair);
    }
    if (apart) {
      this.apart++;
      this.emitEach(out, pairs.filter((p) => p.first).map((p) => [p.id, p.first!] as const), held.index);
      this.emitEach(out, pairs.filter((p) => p.second).map((p) => [p.id, p.second!] as const), frame.index);
      return out;
    }
    // One sequence number for this packet time: a listener that joined at the second tick gets that tick alone.
    this.emit(
      out,
      pairs.flatMap((p) => {
        const payload = p.joined ?? p.second ?? p.first;
        return payload ? [[p.id, payload, p.joined || !p.second ? held.index : frame.index] as const] : [];
      }),
    );
    return out;
  }

  private *framesOf(listeners: Iterable<string>, frameOf: (id: string) => Buffer | undefined): Iterable<readonly [string, Buffer]> {
    for (const id of listeners) {
      const f = frameOf(id);
      if (f) yield [id, f] as const;
    }
  }

  /** One 20 ms packet per listener, all of tick `index`. */
  private emitEach(out: Map<string, RtpPacket[]>, frames: Iterable<readonly [string, Buffer]>, index: number): void {
    this.emit(out, Array.from(frames, ([id, payload]) => [id, payload, index] as const));
  }

  /** One packet per listener under one new sequence number; one packet object per distinct payload. */
  private emit(out: Map<string, RtpPacket[]>, items: Iterable<readonly [id: string, payload: Buffer, tickIndex: number]>): void {
    const sequenceNumber = this.nextSequenceNumber();
    const packets = new Map<Buffer, RtpPacket>();
    for (const [id, payload, index] of items) {
      let packet = packets.get(payload);
      if (!packet) packets.set(payload, (packet = rtp(sequenceNumber, index, payload)));
      add(out, id, packet);
    }
  }

  private nextSequenceNumber(): number {
    const n = this.sequenceNumber;
    this.sequenceNumber = (n + 1) & 0xffff;
    return n;
  }
}

function rtp(sequenceNumber: number, tickIndex: number, payload: Buffer): RtpPacket {
  const header = new RtpHeader({ payloadType: OPUS_PT, sequenceNumber, timestamp: (tickIndex * SAMPLES_PER_TICK) >>> 0, marker: false });
  return new RtpPacket(header, payload);
}

function add(out: Map<string, RtpPacket[]>, id: string, packet: RtpPacket): void {
  const list = out.get(id);
  if (list) list.push(packet);
  else out.set(id, [packet]);
}
