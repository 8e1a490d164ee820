// SRTP test material shared by the SRTP tests: one werift session key for both sides, and packets that exercise
// what an SRTP implementation gets wrong (the sequence-number wrap, header extensions, CSRCs, padding, an empty payload).
import { randomBytes } from 'node:crypto';
import { RtpHeader, RtpPacket, SrtpSession } from 'werift';

const KEY = randomBytes(16);
const SALT = randomBytes(12);

/** A werift SRTP session whose local and remote keys are the same (what one side encrypts, the other decrypts). */
export const srtpSession = (profile = 7) =>
  new SrtpSession({ profile, keys: { localMasterKey: KEY, localMasterSalt: SALT, remoteMasterKey: KEY, remoteMasterSalt: SALT } } as ConstructorParameters<typeof SrtpSession>[0]);

/** Packets of two streams, their sequence numbers crossing 65535 → 0 (the rollover counter goes 0 → 1). */
export function srtpTestPackets(): RtpPacket[] {
  return Array.from({ length: 40 }, (_, i) => {
    const header = new RtpHeader({ ssrc: i % 2 ? 0x11223344 : 0xdeadbeef, payloadType: 96, sequenceNumber: (65_520 + i) & 0xffff, timestamp: 3000 * i, marker: i % 5 === 0 });
    if (i % 3 === 0) {
      header.extension = true;
      header.extensionProfile = 0xbede;
      header.extensions = [{ id: 1, payload: Buffer.from([i]) }, { id: 3, payload: Buffer.from([1, 2, 3]) }];
    }
    if (i % 7 === 0) header.csrc = [0x01020304];
    let payload = randomBytes(i === 4 ? 0 : 1 + ((i * 97) % 1200));
    if (i % 11 === 5) {
      header.padding = true;
      header.paddingSize = 4;
      payload = Buffer.concat([payload, Buffer.from([0, 0, 0, 4])]);
    }
    return new RtpPacket(header, payload);
  });
}
