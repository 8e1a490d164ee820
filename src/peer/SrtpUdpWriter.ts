import type { RtpHeader, SrtpSession } from 'werift';
import { libC, libcError, type LibC } from '../native/libc.js';
import { nativeMemory, type NativeMemory } from '../native/nativeMemory.js';
import { encryptRtpAt, installOpensslSrtp } from './srtp/opensslSrtp.js';
import { writeRtpHeader } from './rtpHeaderWriter.js';

const SOCKADDR_AT = 0;
const PACKET_AT = 64;
/** Room for any packet that fits an Ethernet MTU; bigger ones take the usual path. */
const MAX_PACKET = 2048;
const TAG_BYTES = 16;

let writer: SrtpUdpWriter | null | undefined;

/**
 * The forwarding hot path's last step without a JavaScript allocation or node's dgram `send` (argument checks, an
 * address lookup through `process.nextTick`, a send request object, per call): the RTP header and payload are laid
 * out in one per-process native buffer, SRTP-encrypted there in place (AES-128-GCM through libcrypto), and sent with
 * `sendto(2)` on the UDP socket's own descriptor. Synchronous: the buffer is free again when `send` returns.
 */
export class SrtpUdpWriter {
  /** The process's writer, or undefined where libc or libcrypto cannot be called (callers send as werift does). */
  static get(): SrtpUdpWriter | undefined {
    if (writer === undefined) {
      const libc = libC();
      writer = libc && installOpensslSrtp().installed ? new SrtpUdpWriter(libc, nativeMemory(PACKET_AT + MAX_PACKET)) : null;
    }
    return writer ?? undefined;
  }

  /** Why there is no writer (libc or libcrypto missing, or turned off), or undefined when there is one. */
  static unavailableReason(): string | undefined {
    if (SrtpUdpWriter.get()) return undefined;
    return libcError() ?? installOpensslSrtp().reason ?? 'unknown';
  }

  private readonly packet: Buffer;

  private constructor(
    private readonly libc: LibC,
    private readonly mem: NativeMemory,
  ) {
    this.packet = mem.bytes.subarray(PACKET_AT);
  }

  /**
   * Encrypts the packet (`header`, `headerSize` = its serializeSize, `payload`) with `session` and sends it from
   * `fd` to `sockaddr` (sockaddrIn). Returns the SRTP packet's length when sent, −errno when the kernel refused it
   * (a full socket buffer: the caller decides what becomes of the packet), and 0 when this path cannot take it (the
   * session is not AES-GCM through libcrypto, or the packet is too big): nothing was changed then.
   */
  send(session: SrtpSession, header: RtpHeader, headerSize: number, payload: Buffer, fd: number, sockaddr: Buffer): number {
    const length = headerSize + payload.length + TAG_BYTES;
    if (length > MAX_PACKET) return 0;
    writeRtpHeader(header, this.packet);
    payload.copy(this.packet, headerSize);
    if (!encryptRtpAt(session, header, this.mem, PACKET_AT, headerSize, payload.length)) return 0;
    sockaddr.copy(this.mem.bytes, SOCKADDR_AT);
    const sent = this.libc.sendto(fd, this.mem.address + PACKET_AT, length, this.mem.address + SOCKADDR_AT, sockaddr.length);
    return sent < 0 ? sent : length;
  }
}
