// AES-128-GCM SRTCP through libcrypto (src/peer/srtp/opensslSrtcp.ts): byte for byte what werift's own node-crypto
// cipher sends, each side decrypts the other's, a tampered packet is refused with werift's SrtpAuthenticationError.
import { randomBytes } from 'node:crypto';
import { GenericNack, RtcpPacketConverter, RtcpReceiverInfo, RtcpRrPacket, RtcpTransportLayerFeedback, SrtcpSession, SrtpAuthenticationError } from 'werift';
import { describe, expect, it } from 'vitest';
import { installOpensslSrtp } from '../../../src/peer/srtp/opensslSrtp.js';

const KEY = randomBytes(16);
const SALT = randomBytes(12);
const srtcpSession = () =>
  new SrtcpSession({ profile: 7, keys: { localMasterKey: KEY, localMasterSalt: SALT, remoteMasterKey: KEY, remoteMasterSalt: SALT } } as ConstructorParameters<typeof SrtcpSession>[0]);

function rtcpPackets(): Buffer[] {
  const rr = new RtcpRrPacket({ ssrc: 0x01020304, reports: [new RtcpReceiverInfo({ ssrc: 0x0a0b0c0d, fractionLost: 3, packetsLost: 7, highestSequence: 70_000, jitter: 12, lsr: 5, dlsr: 6 })] });
  const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 0x01020304, mediaSourceSsrc: 0x0a0b0c0d, lost: [1, 2, 5, 65535] }) });
  const compound = Buffer.concat([rr.serialize(), nack.serialize()]);
  return [rr.serialize(), nack.serialize(), compound, Buffer.concat([compound, compound, compound])];
}

describe('SRTCP AES-GCM through libcrypto', () => {
  it('sends the bytes werift sends, decrypts what werift sent (and the reverse), refuses a tampered packet', () => {
    const input = rtcpPackets();
    const plainSender = srtcpSession();
    const plain = input.map((p) => plainSender.encrypt(p));

    expect(installOpensslSrtp().installed).toBe(true);
    const fastSender = srtcpSession();
    const fast = input.map((p) => fastSender.encrypt(p));
    fast.forEach((bytes, i) => expect(bytes.equals(plain[i]!), `packet ${i}`).toBe(true));

    const fastReceiver = srtcpSession();
    plain.forEach((bytes, i) => {
      expect(fastReceiver.decrypt(bytes).equals(input[i]!), `packet ${i}`).toBe(true);
      expect(RtcpPacketConverter.deSerialize(fastReceiver.decrypt(bytes)).length).toBeGreaterThan(0);
    });

    for (const at of [1, 6, 12, plain[2]!.length - 18, plain[2]!.length - 5, plain[2]!.length - 1]) {
      const bad = Buffer.from(plain[2]!);
      bad[at]! ^= 0x01;
      const copy = Buffer.from(bad);
      expect(() => fastReceiver.decrypt(bad), `bit flipped at ${at}`).toThrow(SrtpAuthenticationError);
      expect(bad.equals(copy)).toBe(true);
    }
    expect(() => fastReceiver.decrypt(plain[0]!.subarray(0, 20))).toThrow(SrtpAuthenticationError);
  });
});
