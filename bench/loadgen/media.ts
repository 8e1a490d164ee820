/**
 * Pre-encoded media for the load generator, parsed once into memory: VP8 frames from IVF files and Opus packets from
 * Ogg files, split into RTP payloads ahead of time so that sending costs only a header and an SRTP encryption.
 */
import { readFileSync } from 'node:fs';

/** Largest VP8 partition chunk per RTP packet; with the 4-byte descriptor and headers a packet stays ~1.2 kB like Chrome's. */
export const VP8_MAX_CHUNK = 1150;

export interface VideoFrame {
  keyframe: boolean;
  /** The frame split into RTP-sized chunks (views into the file buffer, no copies). */
  chunks: Buffer[];
  bytes: number;
}

export interface VideoClip {
  path: string;
  width: number;
  height: number;
  /** Frames per second from the IVF header time base (the fixtures use 1/fps). */
  fps: number;
  frames: VideoFrame[];
  /** For every frame index, the index of the next keyframe at or after it (wrapping): where a PLI jumps to. */
  nextKeyframe: number[];
  keyframeIndices: number[];
}

export interface AudioPacket {
  data: Buffer;
  /** Duration in 48 kHz samples (from the Opus TOC). */
  samples: number;
  /** RFC 6464 level (−dBov, 0 loudest … 127) sent with the packet, as browsers do; see addAudioLevels. */
  levelDbov?: number;
}

export interface AudioClip {
  path: string;
  packets: AudioPacket[];
}

/** IVF: 32-byte file header (DKIF, header size at 6, fourcc, w, h, rate, scale, count), then 12-byte frame headers. */
export function loadIvf(path: string, maxChunk = VP8_MAX_CHUNK): VideoClip {
  const buf = readFileSync(path);
  if (buf.toString('ascii', 0, 4) !== 'DKIF') throw new Error(`${path}: not an IVF file`);
  const fourcc = buf.toString('ascii', 8, 12);
  if (fourcc !== 'VP80') throw new Error(`${path}: expected VP8 (VP80), got ${fourcc}`);
  const headerSize = buf.readUInt16LE(6);
  const width = buf.readUInt16LE(12);
  const height = buf.readUInt16LE(14);
  const rate = buf.readUInt32LE(16);
  const scale = buf.readUInt32LE(20) || 1;
  const frames: VideoFrame[] = [];
  for (let off = headerSize; off + 12 <= buf.length; ) {
    const size = buf.readUInt32LE(off);
    const data = buf.subarray(off + 12, off + 12 + size);
    off += 12 + size;
    if (data.length < size) break; // truncated tail
    const chunks: Buffer[] = [];
    for (let c = 0; c < data.length; c += maxChunk) chunks.push(data.subarray(c, Math.min(c + maxChunk, data.length)));
    // VP8 frame tag (RFC 6386 9.1): bit 0 of the first byte is 0 for a key frame.
    frames.push({ keyframe: (data[0]! & 1) === 0, chunks, bytes: size });
  }
  if (frames.length === 0) throw new Error(`${path}: no frames`);
  if (!frames[0]!.keyframe) throw new Error(`${path}: does not start with a keyframe`);
  const keyframeIndices = frames.flatMap((f, i) => (f.keyframe ? [i] : []));
  const nextKeyframe = new Array<number>(frames.length);
  let next = keyframeIndices[0]!; // wraps to the first keyframe
  for (let i = frames.length - 1; i >= 0; i--) {
    if (frames[i]!.keyframe) next = i;
    nextKeyframe[i] = next;
  }
  return { path, width, height, fps: rate / scale, frames, nextKeyframe, keyframeIndices };
}

/** Samples (at 48 kHz) in one Opus packet, from its TOC byte (RFC 6716 3.1). */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length === 0) return 0;
  const toc = packet[0]!;
  const config = toc >> 3;
  let frameSamples: number;
  if (config < 12) frameSamples = [480, 960, 1920, 2880][config & 3]!; // SILK 10/20/40/60 ms
  else if (config < 16) frameSamples = (config & 1) === 0 ? 480 : 960; // hybrid 10/20 ms
  else frameSamples = [120, 240, 480, 960][config & 3]!; // CELT 2.5/5/10/20 ms
  const code = toc & 3;
  const count = code === 0 ? 1 : code === 3 ? (packet[1] ?? 0) & 0x3f : 2;
  return frameSamples * count;
}

/** Ogg Opus: pages → packets (lacing values of 255 continue a packet); the OpusHead and OpusTags packets are skipped. */
export function loadOggOpus(path: string): AudioClip {
  const buf = readFileSync(path);
  const rawPackets: Buffer[] = [];
  let pending: Buffer[] = [];
  for (let off = 0; off + 27 <= buf.length; ) {
    if (buf.toString('ascii', off, off + 4) !== 'OggS') throw new Error(`${path}: bad Ogg page at ${off}`);
    const segments = buf[off + 26]!;
    const table = buf.subarray(off + 27, off + 27 + segments);
    let body = off + 27 + segments;
    for (const lace of table) {
      pending.push(buf.subarray(body, body + lace));
      body += lace;
      if (lace < 255) {
        rawPackets.push(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
        pending = [];
      }
    }
    off = body;
  }
  const packets: AudioPacket[] = [];
  for (const p of rawPackets) {
    const magic = p.toString('ascii', 0, 8);
    if (magic === 'OpusHead' || magic === 'OpusTags') continue;
    packets.push({ data: p, samples: opusPacketSamples(p) });
  }
  if (packets.length === 0) throw new Error(`${path}: no Opus packets`);
  return { path, packets };
}

/**
 * VP8 payload descriptor (RFC 7741 4.2) as Chrome sends it: X=1, S on the first packet of a frame, PID 0, then I=1 with
 * a 15-bit PictureID (M=1).
 */
export function vp8Descriptor(start: boolean, pictureId: number): Buffer {
  const d = Buffer.allocUnsafe(4);
  d[0] = 0x80 | (start ? 0x10 : 0);
  d[1] = 0x80;
  d[2] = 0x80 | ((pictureId >> 8) & 0x7f);
  d[3] = pictureId & 0xff;
  return d;
}
