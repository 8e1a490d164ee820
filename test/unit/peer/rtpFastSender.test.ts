// RtpFastSender against real werift peers on loopback: what arrives through the fast path is what werift's own
// sendRtp delivers (payloads, continuous numbering across a switch between the two, the sender's SSRC and payload
// type), and what werift's RTCP and NACK code read of the sender afterwards is right.
import { GenericNack, ntpTime, RTCPeerConnection, serializeAbsSendTime, RtcpSrPacket, RtcpTransportLayerFeedback, RtpHeader, RtpPacket, type MediaStreamTrack, type RTCRtpTransceiver } from 'werift';
import { afterEach, describe, expect, it } from 'vitest';
import { absSendTimeNow, RtpFastSender } from '../../../src/peer/RtpFastSender.js';
import { peerConnectionConfig } from '../../../src/peer/peerConnectionConfig.js';
import { subscriberPeerConfig } from '../../../src/sfu/subscriberConfig.js';
import { waitFor } from '../../harness/util.js';

const pcs: RTCPeerConnection[] = [];
afterEach(async () => {
  await Promise.all(pcs.splice(0).map((pc) => pc.close()));
});

/** A send-only section from `a` (the SFU's subscriber config) to `b`, connected; b's track collects packets. */
async function pair(kind: 'audio' | 'video' = 'audio'): Promise<{ sender: RTCRtpTransceiver; received: RtpPacket[]; track: MediaStreamTrack }> {
  const a = new RTCPeerConnection(subscriberPeerConfig({ iceServers: [], iceAddress: '127.0.0.1' }));
  const b = new RTCPeerConnection(peerConnectionConfig({ iceServers: [], iceAddress: '127.0.0.1' }));
  pcs.push(a, b);
  const sender = a.addTransceiver(kind, { direction: 'sendonly' });
  const received: RtpPacket[] = [];
  const gotTrack = new Promise<MediaStreamTrack>((resolve) => b.onTrack.subscribe((t) => resolve(t)));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription!);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription!);
  const track = await gotTrack;
  track.onReceiveRtp.subscribe((p) => received.push(p.clone()));
  await waitFor(() => sender.sender.dtlsTransport?.state === 'connected' && a.connectionState === 'connected', { timeoutMs: 10_000, description: 'werift pair connected' });
  return { sender, received, track };
}

const packet = (seq: number, payload: number, payloadType = 111): RtpPacket =>
  new RtpPacket(new RtpHeader({ payloadType, sequenceNumber: seq, timestamp: seq * 960, ssrc: 12345, marker: false }), Buffer.from([payload, 1, 2, 3]));

describe('RtpFastSender', () => {
  it('delivers what werift would: payloads, SSRC, payload type, numbering continuous across both paths', async () => {
    const { sender, received } = await pair();
    const fast = new RtpFastSender(sender.sender);
    const dtls = sender.sender.dtlsTransport as unknown as { bytesSent: number; packetsSent: number };
    const before = { ...dtls };
    // The first packets through werift itself (as before the fast path existed), the rest fast, then werift again.
    // werift's own sends reach the socket a tick later (through dgram): the fast ones start after that, as in the SFU,
    // where they come from a later packet's callback.
    for (let i = 0; i < 5; i++) await sender.sender.sendRtp(packet(i, i));
    await new Promise((resolve) => setImmediate(resolve));
    const werift = { bytes: dtls.bytesSent - before.bytesSent, packets: dtls.packetsSent - before.packetsSent };
    for (let i = 5; i < 105; i++) fast.send(packet(i, i));
    // The transport's counters: the fast packets counted as werift counts its own (same size here).
    expect(dtls.packetsSent - before.packetsSent - werift.packets).toBe(100);
    expect((dtls.bytesSent - before.bytesSent - werift.bytes) / 100).toBe(werift.bytes / werift.packets);
    for (let i = 105; i < 110; i++) await sender.sender.sendRtp(packet(i, i));
    await waitFor(() => received.length >= 110, { timeoutMs: 5000, description: '110 packets received' });
    expect(fast.fast).toBe(100);
    expect(fast.fallback).toBe(0);
    expect(fast.refused).toBe(0);
    const ssrc = sender.sender.ssrc;
    const pt = sender.sender.codec!.payloadType;
    for (const [i, p] of received.entries()) {
      expect(p.header.payloadType).toBe(pt);
      expect(p.payload[0]).toBe(i);
      expect(p.header.ssrc).toBe(ssrc);
      expect(p.header.sequenceNumber).toBe((received[0]!.header.sequenceNumber + i) & 0xffff);
      expect(p.header.timestamp).toBe((received[0]!.header.timestamp + i * 960) >>> 0);
    }
    // What the sender's RTCP sender reports read: 110 packets, 4 payload bytes each, the last timestamp sent.
    const s = sender.sender as unknown as { packetCount: number; octetCount: number; rtpTimestamp: number; ntpTimestamp: bigint };
    expect(s.packetCount).toBe(110);
    expect(s.octetCount).toBe(440);
    // The report's (NTP, RTP) pair is one sent packet's: its RTP timestamp is one that went out, its NTP time recent.
    expect(received.map((p) => p.header.timestamp)).toContain(s.rtpTimestamp);
    const ntpMs = Number(s.ntpTimestamp >> 32n) * 1000 + (Number(s.ntpTimestamp & 0xffffffffn) / 2 ** 32) * 1000 - 2_208_988_800_000;
    expect(Math.abs(ntpMs - Date.now())).toBeLessThan(2000);
  });

  it("sends reports that carry the source's clock (a publisher's sender reports), not the time it forwarded at", async () => {
    const { sender, track } = await pair();
    const fast = new RtpFastSender(sender.sender);
    // The publisher's clock: NTP time 1_000_000 s exactly at its RTP timestamp 480_000 (48 kHz), 10 s ago.
    const base = performance.now() - 10_000;
    fast.sourceClock = () => {
      const elapsed = performance.now() - base;
      return { ntp: (1_000_000n << 32n) + BigInt(Math.round((elapsed / 1000) * 2 ** 32)), rtp: 480_000 + Math.round(elapsed * 48) };
    };
    const reports: RtcpSrPacket[] = [];
    track.onReceiveRtcp.subscribe((r) => r.type === RtcpSrPacket.type && reports.push(r as RtcpSrPacket));
    const timer = setInterval(() => fast.send(packet(reports.length, 0)), 20);
    try {
      await waitFor(() => reports.length >= 1, { timeoutMs: 5000, description: 'a sender report' });
    } finally {
      clearInterval(timer);
    }
    const { ntpTimestamp, rtpTimestamp } = reports[0]!.senderInfo;
    const seconds = Number(ntpTimestamp >> 32n) + Number(ntpTimestamp & 0xffffffffn) / 2 ** 32;
    const offset = (sender.sender as unknown as { timestampOffset: number }).timestampOffset;
    // One mapping: the report's RTP timestamp is the source's at the report's NTP time (± a tick of rounding).
    expect(Math.abs(((rtpTimestamp - offset - 480_000) >>> 0) - (seconds - 1_000_000) * 48_000)).toBeLessThan(2);
    expect(seconds - 1_000_000).toBeGreaterThan(10);
    expect(seconds - 1_000_000).toBeLessThan(20);
  });

  it("keeps packets in order when werift's own path sent one in the same loop turn", async () => {
    const { sender, received } = await pair();
    const fast = new RtpFastSender(sender.sender);
    for (let i = 0; i < 3; i++) fast.send(packet(i, i));
    await waitFor(() => received.length >= 3, { timeoutMs: 5000, description: '3 packets' });
    // A continuity switch (as at a simulcast layer switch): its first packet goes through werift, the next ones must
    // not overtake it on the wire.
    sender.sender.replaceRTP(packet(3, 3).header);
    for (let i = 3; i < 13; i++) fast.send(packet(i, i));
    await waitFor(() => received.length >= 13, { timeoutMs: 5000, description: '13 packets' });
    expect(fast.fallback).toBe(1);
    expect(received.map((p) => p.payload[0])).toEqual([...Array(13).keys()]);
  });

  it('keeps the packet it was given unchanged (one packet serves every subscriber)', async () => {
    const { sender, received } = await pair();
    const fast = new RtpFastSender(sender.sender);
    const p = packet(7, 9);
    fast.send(p);
    fast.send(packet(8, 10));
    expect(p.header.ssrc).toBe(12345);
    expect(p.header.sequenceNumber).toBe(7);
    await waitFor(() => received.length >= 2, { timeoutMs: 5000, description: 'both packets' });
  });

  it('answers a NACK from its history with the packet the subscriber lost (video: NACK negotiated)', async () => {
    const { sender, received } = await pair('video');
    const fast = new RtpFastSender(sender.sender);
    for (let i = 0; i < 20; i++) fast.send(packet(i, i, 96));
    await waitFor(() => received.length >= 20, { timeoutMs: 5000, description: '20 packets' });
    const lost = received[10]!.header.sequenceNumber;
    const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: sender.sender.ssrc, lost: [lost] }) });
    (sender.sender as unknown as { handleRtcpPacket(p: unknown): void }).handleRtcpPacket(nack);
    await waitFor(() => received.length >= 21, { timeoutMs: 5000, description: 'the retransmission' });
    expect(received[20]!.header.sequenceNumber).toBe(lost);
    expect(received[20]!.payload[0]).toBe(10);
    expect(fast.fast).toBe(20);
  });

  it('answers NACKs right after its history went round (slots rewritten in place)', async () => {
    const { sender, received } = await pair('video');
    const fast = new RtpFastSender(sender.sender);
    const absId = (sender.sender as unknown as { headerExtensions: { id: number; uri: string }[] }).headerExtensions.find((e) => e.uri.endsWith('abs-send-time'))!.id;
    const abs = (p: RtpPacket) => p.header.extensions.find((e) => e.id === absId)?.payload.toString('hex');
    for (let i = 0; i < 300; i++) fast.send(packet(i, i & 0xff, 96));
    await waitFor(() => received.length >= 300, { timeoutMs: 5000, description: '300 packets' });
    // The last 128 are in the history: ask for two of them, and one that its slot's next packet replaced.
    const want = [200, 299].map((i) => received[i]!);
    const gone = received[100]!.header.sequenceNumber;
    const nack = new RtcpTransportLayerFeedback({
      feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: sender.sender.ssrc, lost: [...want.map((p) => p.header.sequenceNumber), gone] }),
    });
    (sender.sender as unknown as { handleRtcpPacket(p: unknown): void }).handleRtcpPacket(nack);
    await waitFor(() => received.length >= 302, { timeoutMs: 5000, description: 'the retransmissions' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = received.slice(300);
    expect(again.map((p) => p.header.sequenceNumber)).toEqual(want.map((p) => p.header.sequenceNumber));
    expect(again.map((p) => p.payload[0])).toEqual([200 & 0xff, 299 & 0xff]);
    // Every packet went out with its own abs-send-time (the slot's buffer written in place).
    expect(received.slice(0, 300).every((p) => /^[0-9a-f]{6}$/.test(abs(p) ?? ''))).toBe(true);
  });

  it("writes werift's abs-send-time value", () => {
    for (let i = 0; i < 1000; i++) {
      const before = absSendTimeNow();
      const theirs = serializeAbsSendTime(ntpTime()).readUIntBE(0, 3);
      const after = absSendTimeNow();
      // Same clock, same rounding: werift's value lies between ours before and after (modulo the 64 s wrap).
      expect((theirs - before) & 0xffffff).toBeLessThanOrEqual((after - before) & 0xffffff);
    }
  });

  it('keeps no history where NACK is not negotiated (audio): nothing would ask for it', async () => {
    const { sender, received } = await pair('audio');
    const fast = new RtpFastSender(sender.sender);
    for (let i = 0; i < 20; i++) fast.send(packet(i, i));
    await waitFor(() => received.length >= 20, { timeoutMs: 5000, description: '20 packets' });
    expect((sender.sender as unknown as { rtpCache: unknown[] }).rtpCache.filter(Boolean)).toEqual([]);
  });

  it('falls back to werift before the transport is up, and sends nothing werift would not', async () => {
    const a = new RTCPeerConnection(subscriberPeerConfig({ iceServers: [], iceAddress: '127.0.0.1' }));
    pcs.push(a);
    const t = a.addTransceiver('audio', { direction: 'sendonly' });
    const fast = new RtpFastSender(t.sender);
    fast.send(packet(1, 1));
    expect(fast.fast).toBe(0);
    expect(fast.fallback).toBe(1);
  });
});
