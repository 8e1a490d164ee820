// SrtpUdpWriter on real loopback sockets: what arrives is byte for byte what werift's SrtpSession.encrypt makes of the
// same packets (across the sequence-number wrap, with extensions, CSRCs and padding); a datagram the kernel refuses
// is reported, not thrown; what it cannot take (AES-CM, a packet too big) it leaves untouched for the usual path.
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { SrtpUdpWriter } from '../../../src/peer/SrtpUdpWriter.js';
import { sockaddrIn, socketFd } from '../../../src/native/udpSocket.js';
import { srtpSession, srtpTestPackets } from '../../harness/srtpPackets.js';
import { waitFor } from '../../harness/util.js';

const sockets: Socket[] = [];
afterEach(() => sockets.splice(0).forEach((s) => s.close()));

async function bound(type: 'udp4' | 'udp6' = 'udp4'): Promise<Socket> {
  const socket = createSocket(type);
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', resolve));
  return socket;
}

describe('SrtpUdpWriter', () => {
  it('sends the bytes SrtpSession.encrypt makes, in order', async () => {
    const writer = SrtpUdpWriter.get();
    expect(writer).toBeDefined();
    const rx = await bound();
    const tx = await bound();
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    const fd = socketFd(tx)!.fd;
    const to = sockaddrIn(tx, '127.0.0.1', rx.address().port)!;
    const input = srtpTestPackets();
    const reference = srtpSession();
    const expected = input.map((p) => reference.encrypt(p.payload, p.header));
    const sending = srtpSession();
    for (const p of input) expect(writer!.send(sending, p.header, p.header.serializeSize, p.payload, fd, to)).toBe(p.header.serializeSize + p.payload.length + 16);
    await waitFor(() => got.length >= input.length, { timeoutMs: 5000, description: 'every packet' });
    got.forEach((bytes, i) => expect(bytes.equals(expected[i]!), `packet ${i} (seq ${input[i]!.header.sequenceNumber})`).toBe(true));
  });

  it('returns −errno when the kernel refuses the datagram, and never throws', async () => {
    const tx = await bound();
    const p = srtpTestPackets()[1]!;
    // Port 0 is no destination (EINVAL): refused by the kernel without anything leaving loopback.
    const portZero = Buffer.from(sockaddrIn(tx, '127.0.0.1', 9)!);
    portZero.writeUInt16BE(0, 2);
    const sent = SrtpUdpWriter.get()!.send(srtpSession(), p.header, p.header.serializeSize, p.payload, socketFd(tx)!.fd, portZero);
    expect(sent).toBe(-22);
  });

  it('leaves what it cannot take to the usual path: AES-CM sessions, packets over 2 KiB', async () => {
    const tx = await bound();
    const to = sockaddrIn(tx, '127.0.0.1', 9)!;
    const p = srtpTestPackets()[1]!;
    expect(SrtpUdpWriter.get()!.send(srtpSession(1), p.header, p.header.serializeSize, p.payload, socketFd(tx)!.fd, to)).toBe(0);
    expect(SrtpUdpWriter.get()!.send(srtpSession(), p.header, p.header.serializeSize, Buffer.alloc(2100), socketFd(tx)!.fd, to)).toBe(0);
  });
});

describe('udpSocket', () => {
  it("finds a bound socket's descriptor (open until node closes it) and builds IPv4 destinations only", async () => {
    const tx = await bound();
    const fd = socketFd(tx)!;
    expect(fd.fd).toBeGreaterThan(2);
    expect(fd.open()).toBe(true);
    expect(sockaddrIn(tx, '127.0.0.1', 0x1234)).toEqual(Buffer.from([2, 0, 0x12, 0x34, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(sockaddrIn(tx, '::1', 9)).toBeUndefined();
    expect(sockaddrIn(tx, 'localhost', 9)).toBeUndefined();
    expect(sockaddrIn(await bound('udp6'), '127.0.0.1', 9)).toBeUndefined();
    const unbound = createSocket('udp4');
    sockets.push(unbound);
    expect(socketFd(unbound)).toBeUndefined();
    sockets.splice(sockets.indexOf(tx), 1);
    tx.close();
    expect(fd.open()).toBe(false);
  });
});
