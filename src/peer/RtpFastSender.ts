import { isIP } from 'node:net';
import type { Socket } from 'node:dgram';
import { ntpTime, RTP_EXTENSION_URI, RtpHeader, RtpPacket, serializeSdesMid, type RTCRtpSender, type SrtpSession } from 'werift';
import { sockaddrIn, socketFd, type SocketFd } from '../native/udpSocket.js';
import { SrtpUdpWriter } from './SrtpUdpWriter.js';

/** werift 0.25's RTCRtpSender as its own dispatchRtp reads and updates it (fields TypeScript calls private). */
interface SenderInternals {
  stopped: boolean;
  ssrc: number;
  codec?: { payloadType: number; rtcpFeedback?: { type: string; parameter?: string }[] };
  mid?: string;
  rtpStreamId?: string;
  repairedRtpStreamId?: string;
  headerExtensions: { id: number; uri: string }[];
  dtlsTransport?: DtlsInternals;
  pendingRtp?: unknown[];
  redRedundantPayloadType?: number;
  rtpContinuityPending: boolean;
  seqOffset: number;
  timestampOffset: number;
  sequenceNumber?: number;
  timestamp?: number;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  octetCount: number;
  headerBytesSent: number;
  packetCount: number;
  rtpCache: RtpPacket[];
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
  senderBWE: { rtpPacketSent(info: { wideSeq: number; size: number; sendingAtMs: number; sentAtMs: number }): void };
}

interface DtlsInternals {
  state: string;
  transportSequenceNumber: number;
  bytesSent: number;
  packetsSent: number;
  config: { debug?: { outboundPacketLoss?: number } };
  srtp?: SrtpSession;
  iceTransport: { connection: IceInternals };
}

interface IceInternals {
  canSendApplicationData(): boolean;
  nominated?: {
    remoteAddr: [string, number];
    packetsSent: number;
    bytesSent: number;
    protocol: { transport?: { type?: string; closed?: boolean; socket?: Socket } };
  };
}

/** RFC 8285 extensions werift's sender writes itself, in id order (precomputed per negotiation). */
type OwnExtension = { id: number; kind: 'mid' | 'rid' | 'rrid' | 'twcc' | 'abs'; payload?: Buffer };
type Extension = { id: number; payload: Buffer };

/** werift's RTP_HISTORY_SIZE: the sender answers NACKs from `rtpCache[seq % 128]`. */
const HISTORY = 128;
/** 1900-01-01 in Unix ms: NTP's epoch. */
const NTP_EPOCH_MS = Date.UTC(1900, 0, 1);

/**
 * abs-send-time now (24 bits: 6.18 fixed-point seconds), the value werift's `serializeAbsSendTime(ntpTime())` writes,
 * computed without BigInt.
 */
export function absSendTimeNow(): number {
  const ms = performance.timeOrigin + performance.now() - NTP_EPOCH_MS;
  const sec = Math.floor(ms / 1e3);
  const fraction = Math.min(4294967295, Math.round((ms / 1e3 - sec) * 4294967296));
  return ((sec & 0x3f) << 18) | (fraction >>> 14);
}

/**
 * Sends RTP through a connected werift sender without werift's per-packet promise chain (sender → DTLS transport →
 * ICE → STUN protocol → UDP transport, five async hops), extension rebuild by map/filter/sort and send-side BWE
 * bookkeeping by `Object.keys` and sort: the same bytes on the wire (SSRC, payload type, the sender's sequence and
 * timestamp offsets, its extensions, SRTP through its session), and the same state left behind (RTCP sender-report
 * counters, the NACK history, transport-wide sequence numbers), in one synchronous call to the socket. Measured on
 * this machine: ~55 → ~20 µs of CPU a packet, which is most of what the SFU's and the MCU's fan-out cost.
 *
 * Only the plain case takes the fast path: UDP candidate pair (not TURN or TCP), no RED, no continuity switch pending,
 * no queued packets. Anything else, and anything that does not look like werift 0.25 inside, goes through
 * `sender.sendRtp` as before.
 */
export class RtpFastSender {
  private readonly s: SenderInternals;
  private extensionsOf?: SenderInternals['headerExtensions'];
  private extensionsMid?: string;
  private extensions: OwnExtension[] = [];
  private twcc = false;
  private checkedPair?: object;
  private pairUsable = false;
  /** The pair's socket descriptor and remote address for SrtpUdpWriter, when it can send there. */
  private direct?: { socket: SocketFd; sockaddr: Buffer };
  private readonly writer = SrtpUdpWriter.get();
  /**
   * werift's `sendRtp` reaches the socket a few microtasks later, through dgram's `send` (which defers by a tick too):
   * until the loop turn is over, fast packets take the same dgram path so they cannot overtake it. (Reordered across
   * sequence number 0, an unpatched werift receiver — a remote recorder of someone else's — guesses the rollover
   * counter wrong and drops the packet; ours is patched, and order is what receivers expect anyway.)
   */
  private weriftSending = false;
  private nackOf?: SenderInternals['codec'];
  private nack = false;
  /** Without NACK nothing keeps a sent header: one serves every packet. */
  private readonly scratch = new RtpHeader();
  /**
   * With NACK, the history werift answers from: one packet, header and extension list per slot, rewritten in place
   * when the slot comes round again (a new header, packet and extension buffers per forwarded packet all lived ~1 s
   * in the history, long enough to be promoted out of V8's young generation: GC was ~14 % of the SFU's main thread).
   */
  private slots: RtpPacket[] = [];
  /** The extension list of each slot (and, last, of `scratch`), as planned now: entries and their buffers reused. */
  private slotExtensions: Extension[][] = [];
  /** When the sender-report pair (NTP time, RTP timestamp) was last taken (ms, performance.now()). */
  private pairAt = -Infinity;
  /**
   * Forwarding: the source's clock now, (NTP time, RTP timestamp before this sender's offset), from the publisher's
   * sender reports. The sender reports then carry the publisher's mapping of RTP time to its clock (a subscriber's
   * lip sync and a recorder's timeline follow the capture clock); without it they say when each packet was sent here,
   * and a moment of event-loop lag became a step in a remote recorder's timeline.
   */
  sourceClock?: () => { ntp: bigint; rtp: number } | undefined;
  /** Packets that went the fast way and the fallback way (for tests and stats). */
  fast = 0;
  fallback = 0;
  /** Fast packets the kernel refused (a full socket buffer): sent through node's dgram instead, which queues them. */
  refused = 0;

  constructor(readonly sender: RTCRtpSender) {
    this.s = sender as unknown as SenderInternals;
  }

  /** The sequence number of the last packet sent (as the receiver sees it), once one was. */
  get lastSequenceNumber(): number | undefined {
    return this.s.sequenceNumber;
  }

  /** Sends a copy of `packet` (the packet itself is not changed: one packet can serve every subscriber). */
  send(packet: RtpPacket): void {
    const s = this.s;
    const dtls = s.dtlsTransport;
    const codec = s.codec;
    const ice = dtls?.iceTransport?.connection;
    const pair = ice?.nominated;
    if (
      s.stopped ||
      !codec ||
      dtls?.state !== 'connected' ||
      !dtls.srtp ||
      dtls.config.debug?.outboundPacketLoss ||
      s.rtpContinuityPending ||
      s.redRedundantPayloadType ||
      (s.pendingRtp !== undefined && s.pendingRtp.length > 0) ||
      !pair ||
      !ice.canSendApplicationData() ||
      !this.usable(pair)
    ) {
      this.fallback++;
      // werift stamps its own (send time) report pair on the way: ours replaces it at the next fast packet.
      this.pairAt = -Infinity;
      void this.sender.sendRtp(packet).catch(() => {});
      if (!this.weriftSending) {
        this.weriftSending = true;
        setImmediate(() => (this.weriftSending = false));
      }
      return;
    }
    this.fast++;
    if (this.nackOf !== codec) {
      this.nackOf = codec;
      this.nack = codec.rtcpFeedback?.some((f) => f.type === 'nack' && !f.parameter) ?? false;
    }
    const src = packet.header;
    if (this.extensionsOf !== s.headerExtensions || this.extensionsMid !== s.mid) this.planExtensions(s);
    const sequenceNumber = (src.sequenceNumber + s.seqOffset) & 0xffff;
    const slot = sequenceNumber % HISTORY;
    let entry: RtpPacket | undefined;
    if (this.nack) {
      entry = this.slots[slot] ??= new RtpPacket(new RtpHeader(), packet.payload);
      entry.payload = packet.payload;
    }
    const header = entry ? entry.header : this.scratch;
    header.padding = src.padding;
    header.paddingSize = src.paddingSize;
    header.marker = src.marker;
    header.csrc = src.csrc;
    header.extensionProfile = src.extensionProfile;
    header.ssrc = s.ssrc;
    header.payloadType = codec.payloadType;
    header.timestamp = (src.timestamp + s.timestampOffset) >>> 0;
    header.sequenceNumber = sequenceNumber;
    s.timestamp = header.timestamp;
    s.sequenceNumber = header.sequenceNumber;
    const now = performance.now();
    header.extensions = this.ownExtensions(dtls, src.extensions, entry ? slot : HISTORY);
    header.extension = header.extensions.length > 0;
    // The sender report's (NTP, RTP) pair: taken every 50 ms, not every packet (a BigInt NTP time per packet).
    if (now - this.pairAt >= 50) {
      this.pairAt = now;
      const source = this.sourceClock?.();
      s.ntpTimestamp = source ? source.ntp : ntpTime();
      s.rtpTimestamp = source ? (source.rtp + s.timestampOffset) >>> 0 : header.timestamp;
    }
    const headerSize = header.serializeSize;
    s.octetCount += packet.payload.length;
    s.headerBytesSent += headerSize;
    s.packetCount = (s.packetCount + 1) >>> 0;
    // Put back each time: werift's own sends (the fallback) store packets of their own there.
    if (entry) s.rtpCache[slot] = entry;
    if (!s.rtcpRunning) void s.runRtcp();

    const direct = this.direct;
    let sent = direct && !this.weriftSending && direct.socket.open() ? this.writer!.send(dtls.srtp, header, headerSize, packet.payload, direct.socket.fd, direct.sockaddr) : 0;
    if (sent < 0) {
      // The kernel refused it (a full socket buffer): node's dgram queues it until the socket can take it (dropping it
      // froze a rate-limited subscriber's video). Encrypted again for that: the same index, the same bytes.
      this.refused++;
      sent = 0;
    }
    if (sent === 0) {
      const enc = dtls.srtp.encrypt(packet.payload, header);
      pair.protocol.transport!.socket!.send(enc, pair.remoteAddr[1], pair.remoteAddr[0]);
      sent = enc.length;
    }
    dtls.bytesSent += sent;
    dtls.packetsSent++;
    pair.packetsSent++;
    pair.bytesSent += sent;
    if (this.twcc) {
      const now = Date.now();
      s.senderBWE.rtpPacketSent({ wideSeq: dtls.transportSequenceNumber, size: sent, sendingAtMs: now, sentAtMs: now });
    }
  }

  /** A pair on a plain UDP socket with a numeric remote address (werift checks `isIP` per packet; once is enough). */
  private usable(pair: NonNullable<IceInternals['nominated']>): boolean {
    const transport = pair.protocol.transport;
    if (transport?.closed) return false;
    if (this.checkedPair !== pair) {
      this.checkedPair = pair;
      this.pairUsable = transport?.type === 'udp' && typeof transport.socket?.send === 'function' && isIP(pair.remoteAddr[0]) !== 0;
      this.direct = undefined;
      if (this.pairUsable && this.writer) {
        const socket = socketFd(transport!.socket!);
        const sockaddr = sockaddrIn(transport!.socket!, pair.remoteAddr[0], pair.remoteAddr[1]);
        if (socket && sockaddr) this.direct = { socket, sockaddr };
      }
    }
    return this.pairUsable;
  }

  /**
   * The sender's own extensions (planned), as werift writes them, then the packet's own (its payload wins on the same
   * id). Without extensions of the packet's own (what the SFU forwards: stripped), the list of history slot `slot`
   * (HISTORY: the scratch header's) rewritten in place.
   */
  private ownExtensions(dtls: DtlsInternals, original: Extension[], slot: number): Extension[] {
    const reuse = original.length === 0;
    const out: Extension[] = reuse ? (this.slotExtensions[slot] ??= this.extensions.map((e) => ({ id: e.id, payload: e.payload ?? Buffer.alloc(e.kind === 'twcc' ? 2 : 3) }))) : [];
    const planned = this.extensions;
    for (let i = 0; i < planned.length; i++) {
      const e = planned[i]!;
      let payload = e.payload;
      if (e.kind === 'twcc') {
        dtls.transportSequenceNumber = (dtls.transportSequenceNumber + 1) & 0xffff;
        payload = reuse ? out[i]!.payload : Buffer.alloc(2);
        payload.writeUInt16BE(dtls.transportSequenceNumber, 0);
      } else if (e.kind === 'abs') {
        payload = reuse ? out[i]!.payload : Buffer.alloc(3);
        payload.writeUIntBE(absSendTimeNow(), 0, 3);
      }
      if (!reuse) out.push({ id: e.id, payload: payload! });
    }
    if (reuse) return out;
    for (const ext of original) {
      const same = out.find((v) => v.id === ext.id);
      if (same) same.payload = ext.payload;
      else out.push(ext);
    }
    return out.sort((a, b) => a.id - b.id);
  }

  private planExtensions(s: SenderInternals): void {
    this.extensionsOf = s.headerExtensions;
    this.extensionsMid = s.mid;
    const planned: OwnExtension[] = [];
    for (const { id, uri } of s.headerExtensions) {
      if (uri === RTP_EXTENSION_URI.sdesMid && s.mid) planned.push({ id, kind: 'mid', payload: serializeSdesMid(s.mid) });
      else if (uri === RTP_EXTENSION_URI.sdesRTPStreamID && s.rtpStreamId) planned.push({ id, kind: 'rid', payload: Buffer.from(s.rtpStreamId) });
      else if (uri === RTP_EXTENSION_URI.repairedRtpStreamId && s.repairedRtpStreamId) planned.push({ id, kind: 'rrid', payload: Buffer.from(s.repairedRtpStreamId) });
      else if (uri === RTP_EXTENSION_URI.transportWideCC) planned.push({ id, kind: 'twcc' });
      else if (uri === RTP_EXTENSION_URI.absSendTime) planned.push({ id, kind: 'abs' });
    }
    // werift numbers transport-wide sequence numbers in negotiation order, then sorts by id: same order of increments.
    this.twcc = planned.some((e) => e.kind === 'twcc');
    this.extensions = planned.sort((a, b) => a.id - b.id);
    // Slots planned for the previous extensions start afresh (what the history holds keeps its own lists).
    this.slots = [];
    this.slotExtensions = [];
  }
}
