// AES-128-GCM SRTP through the system libcrypto (src/peer/srtp): byte for byte what werift's own node-crypto cipher
// sends, across the sequence-number wrap, with header extensions, CSRCs and padding; packets from either side decrypt
// on the other; a tampered packet is refused with werift's SrtpAuthenticationError. Real werift sessions.
import { randomBytes } from 'node:crypto';
import { RtpHeader, RtpPacket, SrtpAuthenticationError } from 'werift';
import { describe, expect, it } from 'vitest';
import { installOpensslSrtp } from '../../../src/peer/srtp/opensslSrtp.js';
import { srtpSession, srtpTestPackets } from '../../harness/srtpPackets.js';

describe('SRTP AES-GCM through libcrypto', () => {
  it('sends the bytes werift sends, decrypts what werift sent (and the reverse), refuses a tampered packet', () => {
    const input = srtpTestPackets();
    // Before: werift's own cipher (node's crypto, one cipher object per packet).
    const plainSender = srtpSession();
    const plain = input.map((p) => plainSender.encrypt(p.payload, p.header));

    const status = installOpensslSrtp();
    expect(status.reason).toBeUndefined();
    expect(status.installed).toBe(true);
    expect(installOpensslSrtp()).toBe(status);

    const fastSender = srtpSession();
    const fast = input.map((p) => fastSender.encrypt(p.payload, p.header));
    fast.forEach((bytes, i) => expect(bytes.equals(plain[i]!), `packet ${i} (seq ${input[i]!.header.sequenceNumber})`).toBe(true));

    // What werift's cipher sent decrypts here to the packet it was (its payload and padding).
    const receiver = srtpSession();
    plain.forEach((bytes, i) => {
      const packet = RtpPacket.deSerialize(receiver.decrypt(bytes));
      expect(packet.header.sequenceNumber).toBe(input[i]!.header.sequenceNumber);
      expect(packet.header.ssrc).toBe(input[i]!.header.ssrc);
      expect(packet.payload.equals(input[i]!.payload.subarray(0, input[i]!.payload.length - (input[i]!.header.padding ? 4 : 0)))).toBe(true);
    });

    // One flipped bit anywhere (header, payload, tag): refused, as werift refuses it (the receiver has seen the wrap:
    // rollover counter 1, as the sender's).
    const next = new RtpPacket(new RtpHeader({ ssrc: 0x11223344, payloadType: 96, sequenceNumber: 30, timestamp: 1 }), randomBytes(200));
    const good = fastSender.encrypt(next.payload, next.header);
    for (const at of [2, 20, good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x01;
      expect(() => receiver.decrypt(bad), `bit flipped at ${at}`).toThrow(SrtpAuthenticationError);
    }
    expect(RtpPacket.deSerialize(receiver.decrypt(good)).payload.equals(next.payload)).toBe(true);

    // The receive path every received packet takes (our werift patch's SrtpContext.decryptRtpPacket → the cipher's
    // decryptRtpPayload) decrypts through libcrypto too: the same packets, a forgery refused without moving the
    // rollover state.
    type Fast = { remoteContext: { cipher: object; decryptRtpPacket(p: Buffer): RtpPacket; srtpSSRCStates: Record<number, { rolloverCounter: number }> } };
    const fastReceiver = srtpSession() as unknown as Fast;
    expect(Object.getPrototypeOf(fastReceiver.remoteContext.cipher).decryptRtpPayload.toString()).toContain('gcmDecrypt');
    plain.forEach((bytes, i) => {
      const bad = Buffer.from(bytes);
      bad[bad.length - 3]! ^= 0x10;
      const ssrc = input[i]!.header.ssrc;
      const before = { ...fastReceiver.remoteContext.srtpSSRCStates[ssrc] };
      const forged = Buffer.from(bad);
      expect(() => fastReceiver.remoteContext.decryptRtpPacket(bad), `forged ${i}`).toThrow(SrtpAuthenticationError);
      expect({ ...fastReceiver.remoteContext.srtpSSRCStates[ssrc] }).toEqual(before);
      // Decrypted in place, but only once authentic: a forgery's bytes stay as they came.
      expect(bad.equals(forged)).toBe(true);
      const packet = fastReceiver.remoteContext.decryptRtpPacket(bytes);
      expect(packet.header.sequenceNumber).toBe(input[i]!.header.sequenceNumber);
      expect(packet.header.extensions.map((e) => [...e.payload])).toEqual(input[i]!.header.extensions.map((e) => [...e.payload]));
      expect(packet.payload.equals(input[i]!.payload.subarray(0, input[i]!.payload.length - (input[i]!.header.padding ? 4 : 0))), `payload ${i}`).toBe(true);
    });
    expect(fastReceiver.remoteContext.srtpSSRCStates[0x11223344]?.rolloverCounter).toBe(1);

    // Bigger than the native receive buffer (a jumbo datagram): the Buffer-argument path, same result.
    const jumbo = new RtpPacket(new RtpHeader({ ssrc: 0x11223344, payloadType: 96, sequenceNumber: 31, timestamp: 2 }), randomBytes(3000));
    const jumboWire = fastSender.encrypt(jumbo.payload, jumbo.header);
    const forgedJumbo = Buffer.from(jumboWire);
    forgedJumbo[100]! ^= 1;
    expect(() => fastReceiver.remoteContext.decryptRtpPacket(forgedJumbo)).toThrow(SrtpAuthenticationError);
    expect(fastReceiver.remoteContext.decryptRtpPacket(jumboWire).payload.equals(jumbo.payload)).toBe(true);
  });
});
