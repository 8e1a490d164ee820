import type { RtpHeader } from 'werift';

const ONE_BYTE = 0xbede;
const TWO_BYTE = 0x1000;

/**
 * Writes `header` at the start of `out`, byte for byte as werift's `RtpHeader.serialize` (the same extension layout
 * and zero padding, the same `extension` and `payloadOffset` left on the header), into a buffer the caller reuses:
 * werift allocates a zeroed Buffer and two BitWriter objects per packet. Returns the header's length; `out` must hold
 * `header.serializeSize` bytes.
 */
export function writeRtpHeader(header: RtpHeader, out: Buffer): number {
  const { csrc, extensions } = header;
  if (extensions.length > 0) header.extension = true;
  out[0] = (header.version << 6) | (header.padding ? 0x20 : 0) | (header.extension ? 0x10 : 0) | (csrc.length & 0x0f);
  out[1] = (header.marker ? 0x80 : 0) | (header.payloadType & 0x7f);
  out.writeUInt16BE(header.sequenceNumber, 2);
  out.writeUInt32BE(header.timestamp, 4);
  out.writeUInt32BE(header.ssrc, 8);
  let offset = 12;
  for (const c of csrc) {
    out.writeUInt32BE(c, offset);
    offset += 4;
  }
  if (header.extension) {
    const at = offset;
    out.writeUInt16BE(header.extensionProfile, at);
    offset += 4;
    if (header.extensionProfile === ONE_BYTE) {
      for (const e of extensions) {
        out[offset++] = (e.id << 4) | (e.payload.length - 1);
        offset += e.payload.copy(out, offset);
      }
    } else if (header.extensionProfile === TWO_BYTE) {
      for (const e of extensions) {
        out[offset++] = e.id;
        out[offset++] = e.payload.length;
        offset += e.payload.copy(out, offset);
      }
    } else {
      const raw = extensions[0]!.payload;
      if (raw.length % 4 !== 0) throw new Error('RTP header extension of a length not a multiple of 4');
      offset += raw.copy(out, offset);
    }
    const size = offset - at - 4;
    const rounded = Math.trunc((size + 3) / 4) * 4;
    out.writeUInt16BE(rounded / 4, at + 2);
    out.fill(0, offset, offset + rounded - size);
    offset += rounded - size;
  }
  header.payloadOffset = offset;
  return offset;
}
