// writeRtpHeader: the bytes werift's RtpHeader.serialize writes, into a reused buffer whose old bytes must not leak
// into the header (extension padding is written, not assumed zero).
import { RtpHeader } from 'werift';
import { describe, expect, it } from 'vitest';
import { writeRtpHeader } from '../../../src/peer/rtpHeaderWriter.js';

function headers(): RtpHeader[] {
  const out: RtpHeader[] = [];
  for (let i = 0; i < 48; i++) {
    const h = new RtpHeader({ ssrc: (0x9e3779b9 * (i + 1)) >>> 0, payloadType: (96 + i) & 0x7f, sequenceNumber: (65_530 + i) & 0xffff, timestamp: (0xfffff000 + 900 * i) >>> 0, marker: i % 3 === 0 });
    h.padding = i % 5 === 0;
    if (i % 4 === 1) h.csrc = [0x01020304, (0xf0000000 + i) >>> 0].slice(0, 1 + (i % 2));
    if (i % 2 === 0) {
      h.extension = true;
      h.extensionProfile = i % 8 === 0 ? 0x1000 : 0xbede;
      const n = i % 6;
      h.extensions = Array.from({ length: n }, (_, k) => ({ id: k + 1 + (i % 3), payload: Buffer.alloc(1 + ((i + k) % 5), i + k) }));
    }
    out.push(h);
  }
  const raw = new RtpHeader({ ssrc: 1, payloadType: 100, sequenceNumber: 2, timestamp: 3 });
  raw.extension = true;
  raw.extensionProfile = 0x1234 as RtpHeader['extensionProfile'];
  raw.extensions = [{ id: 0, payload: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]) }];
  out.push(raw);
  return out;
}

describe('writeRtpHeader', () => {
  it('writes what RtpHeader.serialize writes and leaves the same payloadOffset', () => {
    const out = Buffer.alloc(256, 0xff);
    for (const [i, h] of headers().entries()) {
      const expected = h.serialize(h.serializeSize);
      const expectedOffset = h.payloadOffset;
      h.payloadOffset = -1;
      out.fill(0xff);
      const length = writeRtpHeader(h, out);
      expect(length, `header ${i}`).toBe(expected.length);
      expect(out.subarray(0, length).equals(expected), `header ${i}`).toBe(true);
      expect(h.payloadOffset, `header ${i}`).toBe(expectedOffset);
    }
  });
});
