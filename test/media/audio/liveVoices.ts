/** Test voices for the live mix: real Opus RTP packets from generated PCM, arrival schedules, decoding the outputs. */
import { OpusFrameEncoder } from '../../../src/media/audio/OpusFrameEncoder.js';
import type { OpusFrameEncoderOptions } from '../../../src/media/audio/OpusFrameEncoderTypes.js';
import { OpusTrackDecoder } from '../../../src/media/audio/OpusTrackDecoder.js';
import { opusPacketSamples } from '../../../src/media/audio/opusPacket.js';
import { toneLevels } from '../../harness/analyze.js';
import { SR } from './signals.js';

export interface RtpVoicePacket {
  seq: number;
  /** 32-bit RTP timestamp (wrapped). */
  ts: number;
  payload: Uint8Array;
  /** When the sender sends it (ms, on the sender's clock): when its last sample was captured. */
  sendMs: number;
}

export interface Arrival {
  packet: RtpVoicePacket;
  arrivalMs: number;
}

/** Encodes whole 20 ms frames of `pcm` as a browser would (mono, VOIP, 32 kbit/s, FEC). */
export function encodeFrames(pcm: Float32Array, opts: OpusFrameEncoderOptions = {}): Buffer[] {
  const enc = new OpusFrameEncoder(opts);
  const out: Buffer[] = [];
  for (let o = 0; o + 960 <= pcm.length; o += 960) out.push(enc.encode(pcm.subarray(o, o + 960)));
  enc.free();
  return out;
}

/** Numbers consecutive payloads as RTP: sequence numbers and timestamps (from each packet's duration) wrap. */
export function rtpPackets(payloads: readonly Uint8Array[], opts: { seq0?: number; ts0?: number } = {}): RtpVoicePacket[] {
  let sample = 0;
  return payloads.map((payload, i) => {
    const samples = opusPacketSamples(payload);
    if (samples === 0) throw new Error(`packet ${i} has no duration`);
    const p = { seq: ((opts.seq0 ?? 0) + i) & 0xffff, ts: ((opts.ts0 ?? 0) + sample) >>> 0, payload, sendMs: ((sample + samples) * 1000) / SR };
    sample += samples;
    return p;
  });
}

/** Every packet once, in order, `delayMs` after it was sent. */
export function onTime(packets: readonly RtpVoicePacket[], delayMs = 5): Arrival[] {
  return packets.map((packet) => ({ packet, arrivalMs: packet.sendMs + delayMs }));
}

/** Deterministic [0, 1) (xorshift32). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Stable sort by arrival time (a receiver sees packets in this order). */
export function byArrival(arrivals: Arrival[]): Arrival[] {
  return [...arrivals].sort((a, b) => a.arrivalMs - b.arrivalMs);
}

/** Decodes consecutive Opus packets (one listener's stream) to one PCM array. */
export async function decodeStream(packets: readonly Uint8Array[]): Promise<Float32Array> {
  const dec = new OpusTrackDecoder(SR);
  await dec.ready;
  const parts = packets.map((p) => dec.decode(p));
  dec.free();
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Mean Goertzel amplitude (a sine of amplitude A reads ≈ A) of each frequency over [fromMs, toMs). */
export function meanToneLevels(pcm: Float32Array, freqs: readonly number[], fromMs: number, toMs: number): number[] {
  const w = toneLevels(pcm.subarray(Math.round((fromMs * SR) / 1000), Math.round((toMs * SR) / 1000)), SR, freqs, { windowMs: 50, hopMs: 25 });
  return freqs.map((_, i) => w.reduce((s, x) => s + x.levels[i]!, 0) / w.length);
}

/** RMS of each 20 ms frame. */
export function frameRms(pcm: Float32Array): number[] {
  const out: number[] = [];
  for (let o = 0; o + 960 <= pcm.length; o += 960) {
    let s = 0;
    for (let i = o; i < o + 960; i++) s += pcm[i]! * pcm[i]!;
    out.push(Math.sqrt(s / 960));
  }
  return out;
}

export function sine(freq: number, amplitude: number, totalMs: number, fromMs = 0, toMs = totalMs): Float32Array {
  const out = new Float32Array(Math.round((totalMs * SR) / 1000));
  const to = Math.min(out.length, Math.round((toMs * SR) / 1000));
  for (let i = Math.round((fromMs * SR) / 1000); i < to; i++) out[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / SR);
  return out;
}

export const dB = (x: number): number => 20 * Math.log10(Math.max(x, 1e-9));
