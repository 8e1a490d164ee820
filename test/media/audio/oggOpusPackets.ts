/**
 * Real Opus packets for tests: encodes PCM with ffmpeg's libopus into Ogg and splits the Ogg pages back into packets
 * with their source times (RFC 7845: granule positions count 48 kHz samples including the pre-skip).
 */
import { runFfmpeg } from '../../../src/media/ffmpeg/FfmpegProcess.js';
import { opusPacketSamples } from '../../../src/media/audio/opusPacket.js';

export interface OpusPacket {
  data: Uint8Array;
  /** Source time of the packet's first output sample (ms), pre-skip removed: where its audio belongs. */
  ptsMs: number;
  /** Duration in 48 kHz samples. */
  samples: number;
}

export interface OggOpus {
  channels: number;
  preSkip: number;
  packets: OpusPacket[];
}

/** Splits an Ogg Opus stream (single logical stream) into its audio packets. */
export function parseOggOpus(file: Uint8Array): OggOpus {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const raw: Uint8Array[] = [];
  const pageEndPacket: Array<{ packetCount: number; granule: bigint; last: boolean }> = [];
  let pending: Uint8Array[] = [];
  let off = 0;
  while (off < file.length) {
    if (off + 27 > file.length || view.getUint32(off, false) !== 0x4f676753 /* OggS */) throw new Error(`no Ogg page at ${off}`);
    const headerType = file[off + 5]!;
    const granule = view.getBigInt64(off + 6, true);
    const segments = file[off + 26]!;
    let p = off + 27 + segments;
    for (let i = 0; i < segments; i++) {
      const len = file[off + 27 + i]!;
      pending.push(file.subarray(p, p + len));
      p += len;
      if (len < 255) {
        raw.push(concat(pending));
        pending = [];
      }
    }
    pageEndPacket.push({ packetCount: raw.length, granule, last: (headerType & 4) !== 0 });
    off = p;
  }
  const head = raw[0];
  if (!head || new TextDecoder().decode(head.subarray(0, 8)) !== 'OpusHead') throw new Error('not an Ogg Opus stream');
  const channels = head[9]!;
  const preSkip = head[10]! | (head[11]! << 8);

  // raw[1] is OpusTags; audio starts at raw[2].
  const packets: OpusPacket[] = [];
  const ends: number[] = [];
  let sample = 0;
  for (const data of raw.slice(2)) {
    const samples = opusPacketSamples(data);
    if (samples === 0) throw new Error(`malformed Opus packet #${packets.length}`);
    packets.push({ data, ptsMs: ((sample - preSkip) * 1000) / 48_000, samples });
    sample += samples;
    ends.push(sample);
  }
  // Cross-check our durations against the muxer's granules (the final page may be trimmed, so skip it).
  for (const page of pageEndPacket) {
    if (page.last || page.packetCount <= 2 || page.granule < 0n) continue;
    const expected = ends[page.packetCount - 3]!;
    if (BigInt(expected) !== page.granule) throw new Error(`granule ${page.granule} != ${expected} after packet ${page.packetCount - 3}`);
  }
  return { channels, preSkip, packets };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface EncodeOptions {
  /** 2 = mono-in-stereo (the same signal in both channels, as browsers send). Default 1. */
  channels?: 1 | 2;
  bitrateKbps?: number;
  /** Opus frame duration (ms). Default 20, like browsers. */
  frameMs?: 2.5 | 5 | 10 | 20 | 40 | 60;
  /** libopus application; browsers use voip (SILK/hybrid for speech). Default audio (keeps test tones clean). */
  application?: 'voip' | 'audio' | 'lowdelay';
}

/** Encodes 48 kHz mono float PCM (−1…1) to Opus with ffmpeg/libopus. */
export async function encodeOpus(pcm: Float32Array, opts: EncodeOptions = {}): Promise<OggOpus> {
  const s16 = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) s16[i] = Math.max(-32768, Math.min(32767, Math.round(pcm[i]! * 32767)));
  const channels = opts.channels ?? 1;
  const { stdout } = await runFfmpeg(
    [
      '-v', 'error',
      '-f', 's16le', '-ar', '48000', '-ac', '1', '-i', 'pipe:0',
      // pan keeps full level in both channels (ffmpeg's default mono→stereo upmix is −3 dB each).
      ...(channels === 2 ? ['-af', 'pan=stereo|c0=c0|c1=c0'] : []),
      '-c:a', 'libopus', '-b:a', `${opts.bitrateKbps ?? (channels === 2 ? 96 : 64)}k`,
      '-frame_duration', String(opts.frameMs ?? 20),
      '-application', opts.application ?? 'audio',
      '-f', 'ogg', 'pipe:1',
    ],
    { input: new Uint8Array(s16.buffer), timeoutMs: 60_000 },
  );
  const ogg = parseOggOpus(new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.length));
  if (ogg.channels !== channels) throw new Error(`expected ${channels} channels, got ${ogg.channels}`);
  return ogg;
}
