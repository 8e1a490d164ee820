import { SrtpAuthenticationError } from 'werift';
import { nativeMemory, type NativeMemory } from '../../native/nativeMemory.js';
import type { LibCrypto } from './libcrypto.js';

/** werift 0.25's AES-GCM SRTP cipher (CipherAesGcm), as far as its RTCP methods use it. */
export interface GcmRtcpCipher {
  srtcpSessionKey: Buffer;
  srtcpSessionSalt: Buffer;
  encryptRTCP(rtcpPacket: Buffer, srtcpIndex: number): Buffer;
  decryptRTCP(encrypted: Buffer): [Buffer, unknown];
}

/** werift's parseSrtcpHeader, as the cipher calls it (checks the length, parses the RTCP header). */
type ParseHeader = (encrypted: Buffer) => unknown;

const TAG_BYTES = 16;
const INDEX_BYTES = 4;
/** RFC 3711 §3.4: the E flag, set on the SRTCP index of an encrypted packet. */
const ENCRYPTED = 0x80000000;
/** RTCP's fixed header (and the sender SSRC): sent in the clear, authenticated. */
const CLEAR_BYTES = 8;
/** Native layout: the IV, then the AAD (the clear header and the E flag + index), then the packet. */
const IV_AT = 0;
const AAD_AT = 16;
const PACKET_AT = 32;
/** A compound RTCP packet bigger than this goes werift's way. */
const MAX_PACKET = 2048;
/** werift's message for an SRTCP packet that fails authentication (or is too short to be one). */
export const SRTCP_AUTH_FAILED = 'Failed to authenticate SRTCP packet';

/**
 * AES-128-GCM SRTCP (RFC 7714 §9) through libcrypto on native memory, one OpenSSL context per session key, replacing
 * werift's node cipher object per packet: every RTCP packet sent (receiver and sender reports, transport-wide CC
 * feedback, NACKs and PLIs) and received. The same bytes and the same SrtpAuthenticationError as werift's. Packets
 * sent unencrypted (E flag clear: werift never sends them) and oversized ones go werift's way.
 */
export function installOpensslSrtcp(proto: GcmRtcpCipher, lib: LibCrypto, parseHeader: ParseHeader): void {
  const plain = { encryptRTCP: proto.encryptRTCP, decryptRTCP: proto.decryptRTCP };
  const contexts = new WeakMap<GcmRtcpCipher, { encrypt?: unknown; decrypt?: unknown }>();
  const freed = new FinalizationRegistry<{ encrypt?: unknown; decrypt?: unknown }>((c) => {
    if (c.encrypt) lib.freeContext(c.encrypt);
    if (c.decrypt) lib.freeContext(c.decrypt);
  });
  const contextOf = (cipher: GcmRtcpCipher) => {
    let c = contexts.get(cipher);
    if (!c) {
      contexts.set(cipher, (c = {}));
      freed.register(cipher, c);
    }
    return c;
  };
  let mem: NativeMemory | undefined;
  /** Writes the IV and the AAD for (ssrc, index) into native memory. */
  const prepare = (cipher: GcmRtcpCipher, header: Buffer, ssrc: number, index: number): NativeMemory => {
    mem ??= nativeMemory(PACKET_AT + MAX_PACKET);
    const b = mem.bytes;
    // RFC 7714 §9.1: 00 00 || SSRC || 00 00 || index (31 bits), XOR the salt.
    b.writeUInt16BE(0, IV_AT);
    b.writeUInt32BE(ssrc, IV_AT + 2);
    b.writeUInt16BE(0, IV_AT + 6);
    b.writeUInt32BE(index & 0x7fffffff, IV_AT + 8);
    for (let i = 0; i < 12; i++) b[IV_AT + i]! ^= cipher.srtcpSessionSalt[i]!;
    header.copy(b, AAD_AT, 0, CLEAR_BYTES);
    b.writeUInt32BE(((index & 0x7fffffff) | ENCRYPTED) >>> 0, AAD_AT + CLEAR_BYTES);
    return mem;
  };

  proto.encryptRTCP = function (this: GcmRtcpCipher, rtcpPacket: Buffer, srtcpIndex: number): Buffer {
    const length = rtcpPacket.length;
    if (length < CLEAR_BYTES || length + TAG_BYTES > MAX_PACKET) return plain.encryptRTCP.call(this, rtcpPacket, srtcpIndex);
    const c = contextOf(this);
    c.encrypt ??= lib.gcmContext(this.srtcpSessionKey, true);
    const m = prepare(this, rtcpPacket, rtcpPacket.readUInt32BE(4), srtcpIndex);
    rtcpPacket.copy(m.bytes, PACKET_AT);
    const packet = m.address + PACKET_AT;
    if (!lib.gcmEncryptAt(c.encrypt, m.address + IV_AT, m.address + AAD_AT, CLEAR_BYTES + INDEX_BYTES, packet + CLEAR_BYTES, length - CLEAR_BYTES, packet + length)) {
      throw new Error('SRTCP: AES-GCM encryption failed in libcrypto');
    }
    const out = Buffer.allocUnsafe(length + TAG_BYTES + INDEX_BYTES);
    m.bytes.copy(out, 0, PACKET_AT, PACKET_AT + length + TAG_BYTES);
    m.bytes.copy(out, length + TAG_BYTES, AAD_AT + CLEAR_BYTES, AAD_AT + CLEAR_BYTES + INDEX_BYTES);
    return out;
  };

  proto.decryptRTCP = function (this: GcmRtcpCipher, encrypted: Buffer): [Buffer, unknown] {
    const header = parseHeader(encrypted);
    const indexAt = encrypted.length - INDEX_BYTES;
    const tagAt = indexAt - TAG_BYTES;
    const encodedIndex = encrypted.readUInt32BE(indexAt);
    if (encodedIndex < ENCRYPTED || tagAt < CLEAR_BYTES || encrypted.length > MAX_PACKET) return plain.decryptRTCP.call(this, encrypted);
    const c = contextOf(this);
    c.decrypt ??= lib.gcmContext(this.srtcpSessionKey, false);
    const m = prepare(this, encrypted, encrypted.readUInt32BE(4), encodedIndex);
    encrypted.copy(m.bytes, PACKET_AT, 0, indexAt);
    const packet = m.address + PACKET_AT;
    if (!lib.gcmDecryptAt(c.decrypt, m.address + IV_AT, m.address + AAD_AT, CLEAR_BYTES + INDEX_BYTES, packet + CLEAR_BYTES, tagAt - CLEAR_BYTES, packet + tagAt)) {
      throw new SrtpAuthenticationError(SRTCP_AUTH_FAILED);
    }
    return [Buffer.from(m.bytes.subarray(PACKET_AT, PACKET_AT + tagAt)), header];
  };
}
