/**
 * IVF container framing (the libvpx test format ffmpeg reads with `-f ivf`): a 32-byte file header, then per frame a
 * 12-byte header (size, 64-bit pts) and the frame. We use a 1/1000 time base so pts are milliseconds on the recording
 * timeline, which the decoder reports back per output frame.
 */
export const IVF_TIMEBASE_DEN = 1000;

export function ivfFileHeader(fourcc: 'VP80' | 'VP90' | 'I420', width: number, height: number): Buffer {
  const h = Buffer.alloc(32);
  h.write('DKIF', 0, 'ascii');
  h.writeUInt16LE(0, 4); // version
  h.writeUInt16LE(32, 6); // header size
  h.write(fourcc, 8, 'ascii');
  h.writeUInt16LE(width, 12);
  h.writeUInt16LE(height, 14);
  h.writeUInt32LE(IVF_TIMEBASE_DEN, 16); // time base denominator (rate)
  h.writeUInt32LE(1, 20); // time base numerator (scale)
  h.writeUInt32LE(0, 24); // frame count: unknown for a live stream
  return h;
}

export function ivfFrameHeader(frameSize: number, ptsMs: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32LE(frameSize, 0);
  h.writeBigUInt64LE(BigInt(Math.max(0, Math.round(ptsMs))), 4);
  return h;
}

/** Width/height from a VP8 keyframe's uncompressed header (RFC 6386 9.1), or undefined for inter frames. */
export function vp8KeyframeSize(frame: Uint8Array): { width: number; height: number } | undefined {
  if (frame.length < 10 || (frame[0]! & 1) !== 0) return undefined;
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return undefined;
  return { width: (frame[6]! | (frame[7]! << 8)) & 0x3fff, height: (frame[8]! | (frame[9]! << 8)) & 0x3fff };
}

/** IVF carrying raw yuv420p pictures (fourcc I420: ffmpeg maps it to rawvideo), used to give raw frames a pts. */
export function ivfRawHeader(width: number, height: number): Buffer {
  return ivfFileHeader('I420', width, height);
}
