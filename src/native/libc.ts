import type { IKoffiLib } from 'koffi';
import type { Koffi } from './koffi.js';
import { systemLibrary } from './systemLibrary.js';

/**
 * The C library's `sendto(2)` through koffi, pointers passed as plain numbers (addresses of native memory: see
 * nativeMemory.ts), which is the cheapest call koffi makes. Linux only (the sockaddr layout and errno values are
 * Linux's); `undefined` elsewhere or with `RTC_RECORD_UDP_SEND=node`, and callers keep node's dgram `send`.
 */
export interface LibC {
  /** Bytes sent, or −errno (a non-blocking socket whose buffer is full: −EAGAIN). */
  sendto(fd: number, data: number, length: number, addr: number, addrLength: number): number;
}

const libc = systemLibrary({
  names: ['libc.so.6'],
  disabled: () => {
    if (process.platform !== 'linux') return `not Linux (${process.platform})`;
    return process.env.RTC_RECORD_UDP_SEND === 'node' ? 'disabled (RTC_RECORD_UDP_SEND=node)' : undefined;
  },
  bind,
});

/** libc, or undefined when it cannot be loaded (see libcError). */
export function libC(): LibC | undefined {
  return libc.get();
}

/** Why libC() is undefined. */
export function libcError(): string | undefined {
  return libc.error();
}

function bind(lib: IKoffiLib, koffi: Koffi): LibC {
  const sendto = lib.func('sendto', 'intptr_t', ['int', 'uintptr_t', 'size_t', 'int', 'uintptr_t', 'uint32_t']);
  return {
    sendto: (fd, data, length, addr, addrLength) => {
      const sent = sendto(fd, data, length, 0, addr, addrLength) as number;
      return sent >= 0 ? sent : -koffi.errno();
    },
  };
}
