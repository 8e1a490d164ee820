import type { Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';

/** Linux's AF_INET. */
const AF_INET = 2;

/**
 * The file descriptor under a bound node dgram socket (libuv's, non-blocking), or undefined when node does not show
 * one (not bound, closed, not Linux-like). Reached through dgram's internal state: node has no public accessor.
 */
export function socketFd(socket: Socket): number | undefined {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const handle = state ? (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[state]?.handle : undefined;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Linux's `struct sockaddr_in` (16 bytes) for sending from `socket` to an IPv4 address and port, or undefined for
 * anything else (an IPv6 socket or address, a socket not bound).
 */
export function sockaddrIn(socket: Socket, address: string, port: number): Buffer | undefined {
  if (!isIPv4(address) || !Number.isInteger(port) || port <= 0 || port > 0xffff || family(socket) !== 'IPv4') return undefined;
  const out = Buffer.alloc(16);
  out.writeUInt16LE(AF_INET, 0);
  out.writeUInt16BE(port, 2);
  address.split('.').forEach((octet, i) => (out[4 + i] = Number(octet)));
  return out;
}

function family(socket: Socket): string | undefined {
  try {
    return socket.address().family;
  } catch {
    return undefined;
  }
}
