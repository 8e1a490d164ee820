import { RtcpHeader, SrtpAuthenticationError, SrtpSession, type RtpHeader } from 'werift';
import { nativeMemory, type NativeMemory } from '../../native/nativeMemory.js';
import { libcrypto, libcryptoError } from './libcrypto.js';
import { installOpensslSrtcp, SRTCP_AUTH_FAILED, type GcmRtcpCipher } from './opensslSrtcp.js';

/** werift 0.25's AES-GCM SRTP cipher (CipherAesGcm, not exported), as far as its RTP and RTCP methods use it. */
interface GcmCipher extends GcmRtcpCipher {
  srtpSessionKey: Buffer;
  srtpSessionSalt: Buffer;
  encryptRtp(header: RtpHeader, payload: Buffer, rolloverCounter: number): Buffer;
  decryptRtp(cipherText: Buffer, rolloverCounter: number, header?: SrtpHeader): [Buffer, RtpHeader];
  /**
   * Our werift patch's receive path (SrtpContext.decryptRtpPacket, which every received RTP packet goes through):
   * the authenticated, decrypted payload alone (padding included), or SrtpAuthenticationError.
   */
  decryptRtpPayload?(cipherText: Buffer, rolloverCounter: number, header: SrtpHeader): Buffer;
}
type SrtpHeader = RtpHeader & { payloadOffset: number };

/** werift 0.25's SrtpSession and SrtpContext, as far as SrtpSession.encrypt uses them. */
interface SessionInternals {
  localContext?: {
    cipher?: GcmCipher;
    getSrtpSsrcState(ssrc: number): SsrcState;
    updateRolloverCount(sequenceNumber: number, state: SsrcState): void;
  };
}

type SsrcState = { rolloverCounter: number };

type EncryptAt = (session: SrtpSession, header: RtpHeader, mem: NativeMemory, at: number, headerLength: number, payloadLength: number) => boolean;

const TAG_BYTES = 16;
/** RFC 7714 profile SRTP_AEAD_AES_128_GCM (werift's ProtectionProfileAeadAes128Gcm). */
const AEAD_AES_128_GCM = 7;
const AUTH_FAILED = 'Failed to authenticate SRTP packet';
/** Where a received packet is copied in the receive path's native memory (the IV before it). */
const RECEIVED_AT = 16;
/** A received datagram bigger than an Ethernet MTU's decrypts through Buffer arguments instead. */
const MAX_RECEIVED = 2048;

export interface OpensslSrtpStatus {
  installed: boolean;
  /** OpenSSL's version string, when installed. */
  version?: string;
  /** Why not, when not. */
  reason?: string;
}

let status: OpensslSrtpStatus | undefined;
let encryptAt: EncryptAt | undefined;

/**
 * `session.encrypt(payload, header)` (the same rollover counter, the same bytes) done in place on native memory: the
 * header's `headerLength` bytes at `mem` offset `at`, the payload's `payloadLength` right after, the 16-byte tag
 * written after that. No allocation, and all of libcrypto's arguments are addresses. False, with nothing changed, when
 * the session is not AES-128-GCM through libcrypto (AES-CM, or libcrypto not installed): the caller encrypts as before.
 */
export function encryptRtpAt(session: SrtpSession, header: RtpHeader, mem: NativeMemory, at: number, headerLength: number, payloadLength: number): boolean {
  return encryptAt?.(session, header, mem, at, headerLength, payloadLength) ?? false;
}

/**
 * Makes werift's AES-128-GCM SRTP (what Chromium negotiates) encrypt and decrypt RTP through the system libcrypto,
 * one OpenSSL context per session key, instead of a node cipher object per packet: the same bytes on the wire, the
 * same errors (SrtpAuthenticationError on a bad tag). SRTCP too (opensslSrtcp.ts). Once per process, for every werift
 * peer in it; AES-CM stays as werift has it. Where there is no libcrypto (or `RTC_RECORD_SRTP=node`) nothing changes.
 */
export function installOpensslSrtp(): OpensslSrtpStatus {
  if (status) return status;
  const lib = libcrypto();
  if (!lib) return (status = { installed: false, reason: libcryptoError() });
  const proto = gcmCipherPrototype();
  if (!proto || typeof proto.encryptRtp !== 'function' || typeof proto.decryptRtp !== 'function' || typeof proto.encryptRTCP !== 'function' || typeof proto.decryptRTCP !== 'function') {
    return (status = { installed: false, reason: 'werift has no AES-GCM cipher where 0.25 had it' });
  }
  const plain = { encryptRtp: proto.encryptRtp, decryptRtp: proto.decryptRtp };
  const keys = new WeakMap<GcmCipher, CipherKeys>();
  const freed = new FinalizationRegistry<CipherKeys>((k) => {
    if (k.encrypt) lib.freeContext(k.encrypt);
    if (k.decrypt) lib.freeContext(k.decrypt);
  });
  const keysOf = (cipher: GcmCipher): CipherKeys => {
    let k = keys.get(cipher);
    if (!k) {
      k = { iv: Buffer.alloc(12) };
      keys.set(cipher, k);
      freed.register(cipher, k);
    }
    return k;
  };

  proto.encryptRtp = function (this: GcmCipher, header: RtpHeader, payload: Buffer, rolloverCounter: number): Buffer {
    const k = keysOf(this);
    k.encrypt ??= lib.gcmContext(this.srtpSessionKey, true);
    const size = header.serializeSize;
    const hdr = header.serialize(size);
    const out = Buffer.allocUnsafe(size + payload.length + TAG_BYTES);
    hdr.copy(out, 0);
    const end = size + payload.length;
    rtpIv(k.iv, this.srtpSessionSalt, header.ssrc, rolloverCounter, header.sequenceNumber);
    if (!lib.gcmEncrypt(k.encrypt, k.iv, hdr, payload, out.subarray(size, end), out.subarray(end))) throw new Error('SRTP: AES-GCM encryption failed in libcrypto');
    return out;
  };

  proto.decryptRtp = function (this: GcmCipher, cipherText: Buffer, rolloverCounter: number, header?: SrtpHeader): [Buffer, RtpHeader] {
    // werift's SRTP context always passes the parsed header; anything else goes the old way.
    if (!header) return plain.decryptRtp.call(this, cipherText, rolloverCounter, header);
    const k = keysOf(this);
    k.decrypt ??= lib.gcmContext(this.srtpSessionKey, false);
    const offset = header.payloadOffset;
    const tagAt = cipherText.length - TAG_BYTES;
    const dst = Buffer.allocUnsafe(tagAt);
    cipherText.copy(dst, 0, 0, offset);
    rtpIv(k.iv, this.srtpSessionSalt, header.ssrc, rolloverCounter, header.sequenceNumber);
    const ok = lib.gcmDecrypt(k.decrypt, k.iv, cipherText.subarray(0, offset), cipherText.subarray(offset, tagAt), dst.subarray(offset), cipherText.subarray(tagAt));
    if (!ok) throw new SrtpAuthenticationError(AUTH_FAILED);
    return [dst, withPadding(header, dst)];
  };

  let iv: NativeMemory | undefined;
  encryptAt = (session, header, mem, at, headerLength, payloadLength) => {
    const context = (session as unknown as SessionInternals).localContext;
    const cipher = context?.cipher;
    if (!context || !cipher || Object.getPrototypeOf(cipher) !== proto) return false;
    const state = context.getSrtpSsrcState(header.ssrc);
    context.updateRolloverCount(header.sequenceNumber, state);
    const k = keysOf(cipher);
    k.encrypt ??= lib.gcmContext(cipher.srtpSessionKey, true);
    iv ??= nativeMemory(12);
    rtpIv(iv.bytes, cipher.srtpSessionSalt, header.ssrc, state.rolloverCounter, header.sequenceNumber);
    const packet = mem.address + at;
    const payload = packet + headerLength;
    if (!lib.gcmEncryptAt(k.encrypt, iv.address, packet, headerLength, payload, payloadLength, payload + payloadLength)) throw new Error('SRTP: AES-GCM encryption failed in libcrypto');
    return true;
  };

  // What the receive path actually calls (decryptRtp above serves werift's SrtpSession.decrypt): every received
  // RTP packet, decrypted in place in the datagram node handed over (nothing else reads it after this: the ICE and DTLS
  // layers only looked at its first byte), through a native copy whose addresses libcrypto takes as numbers. koffi's
  // marshalling of five Buffer arguments per packet was most of gcmDecrypt's cost.
  if (typeof proto.decryptRtpPayload === 'function') {
    let recv: { mem: NativeMemory; iv: Buffer } | undefined;
    proto.decryptRtpPayload = function (this: GcmCipher, cipherText: Buffer, rolloverCounter: number, header: SrtpHeader): Buffer {
      const k = keysOf(this);
      k.decrypt ??= lib.gcmContext(this.srtpSessionKey, false);
      const offset = header.payloadOffset;
      const tagAt = cipherText.length - TAG_BYTES;
      if (cipherText.length > MAX_RECEIVED) {
        const dst = Buffer.allocUnsafe(tagAt - offset);
        rtpIv(k.iv, this.srtpSessionSalt, header.ssrc, rolloverCounter, header.sequenceNumber);
        if (!lib.gcmDecrypt(k.decrypt, k.iv, cipherText.subarray(0, offset), cipherText.subarray(offset, tagAt), dst, cipherText.subarray(tagAt))) throw new SrtpAuthenticationError(AUTH_FAILED);
        return dst;
      }
      if (!recv) {
        const mem = nativeMemory(RECEIVED_AT + MAX_RECEIVED);
        recv = { mem, iv: mem.bytes.subarray(0, 12) };
      }
      const { mem, iv } = recv;
      rtpIv(iv, this.srtpSessionSalt, header.ssrc, rolloverCounter, header.sequenceNumber);
      cipherText.copy(mem.bytes, RECEIVED_AT);
      const packet = mem.address + RECEIVED_AT;
      if (!lib.gcmDecryptAt(k.decrypt, mem.address, packet, offset, packet + offset, tagAt - offset, packet + tagAt)) throw new SrtpAuthenticationError(AUTH_FAILED);
      mem.bytes.copy(cipherText, offset, RECEIVED_AT + offset, RECEIVED_AT + tagAt);
      return cipherText.subarray(offset, tagAt);
    };
  }
  installOpensslSrtcp(proto, lib, srtcpHeader);
  return (status = { installed: true, version: lib.version });
}

interface CipherKeys {
  encrypt?: unknown;
  decrypt?: unknown;
  /** Scratch for each packet's IV (used within one call). */
  iv: Buffer;
}

/** RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the 12-byte session salt. */
function rtpIv(iv: Buffer, salt: Buffer, ssrc: number, rolloverCounter: number, sequenceNumber: number): void {
  iv.writeUInt16BE(0, 0);
  iv.writeUInt32BE(ssrc >>> 0, 2);
  iv.writeUInt32BE(rolloverCounter >>> 0, 6);
  iv.writeUInt16BE(sequenceNumber & 0xffff, 10);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
}

/** As werift's finalizeSrtpRtpHeader: the padding length from the decrypted packet's last byte, checked. */
function withPadding(header: SrtpHeader, packet: Buffer): RtpHeader {
  if (!header.padding) {
    header.paddingSize = 0;
    return header;
  }
  const size = packet[packet.length - 1]!;
  if (packet.length <= header.payloadOffset || size === 0 || size > packet.length - header.payloadOffset) throw new SrtpAuthenticationError(AUTH_FAILED);
  header.paddingSize = size;
  return header;
}

/** As werift's parseSrtcpHeader for AES-GCM: long enough for the header, tag and index; the RTCP header parsed. */
function srtcpHeader(packet: Buffer): RtcpHeader {
  if (packet.length < 8 + TAG_BYTES + 4) throw new SrtpAuthenticationError(SRTCP_AUTH_FAILED);
  try {
    return RtcpHeader.deSerialize(packet.subarray(0, 4));
  } catch {
    throw new SrtpAuthenticationError(SRTCP_AUTH_FAILED);
  }
}

/** werift's GCM cipher class, reached through a throwaway session (the class itself is not exported). */
function gcmCipherPrototype(): GcmCipher | undefined {
  try {
    const keys = { localMasterKey: Buffer.alloc(16), localMasterSalt: Buffer.alloc(12), remoteMasterKey: Buffer.alloc(16), remoteMasterSalt: Buffer.alloc(12) };
    const session = new SrtpSession({ profile: AEAD_AES_128_GCM, keys } as ConstructorParameters<typeof SrtpSession>[0]);
    const cipher = (session as unknown as { localContext?: { cipher?: object } }).localContext?.cipher;
    return cipher ? (Object.getPrototypeOf(cipher) as GcmCipher) : undefined;
  } catch {
    return undefined;
  }
}
