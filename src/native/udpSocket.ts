import type { Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';

/** Linux's AF_INET. */
const AF_INET = 2;

/** The descriptor under a node dgram socket, and whether node still has it open. */
export interface SocketFd {
  fd: number;
  /** False once node closed the socket: its descriptor number may then belong to something else. */
  open(): boolean;
}

type DgramState = { handle?: { fd?: unknown } | null };

/**
 * The file descriptor under a bound node dgram socket (libuv's, non-blocking), or undefined when node does not show
 * one (not bound, closed, not Linux-like). Reached through dgram's internal state: node has no public accessor.
 */
export function socketFd(socket: Socket): SocketFd | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = key ? (socket as unknown as Record<symbol, DgramState | undefined>)[key] : undefined;
  const handle = state?.handle;
  const fd = handle?.fd;
  if (!state || typeof fd !== 'number' || fd < 0) return undefined;
  // dgram's close() drops the handle (and libuv closes the descriptor) at once.
  return { fd, open: () => state.handle === handle };
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
