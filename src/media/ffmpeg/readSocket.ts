import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { unlink } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where each read lands and what to do once it has. */
export interface SocketReadTarget {
  /** The memory the next read fills (a view into the caller's own buffer, typically the rest of a frame). */
  buffer(): Uint8Array;
  /** `n` bytes were read into the last buffer handed out. */
  onRead(n: number): void;
}

export interface ReadSocketPair {
  /** Give this to the child as its stdout (spawn stdio), then destroy it: the child has its own copy of the fd. */
  childEnd: net.Socket;
  /** Our end; reads go straight into `target.buffer()` (net's `onread`), no Buffer is allocated per chunk. */
  reader: net.Socket;
}

/**
 * A connected pair of Unix stream sockets whose reading end fills caller-supplied memory. A child's stdout pipe would
 * hand us a fresh 64 KiB Buffer per read: for raw video (~40 MB/s) that churn made V8 run a full mark-compact about
 * nine times a second. On Linux the socket lives in the abstract namespace (no file); elsewhere a socket file in the
 * temp dir exists only until both ends are connected.
 */
export async function openReadSocket(target: SocketReadTarget): Promise<ReadSocketPair> {
  const name = `rtc-record-${process.pid}-${randomBytes(6).toString('hex')}`;
  const abstract = process.platform === 'linux';
  const path = abstract ? `\0${name}` : join(tmpdir(), `${name}.sock`);
  const server = net.createServer();
  try {
    server.listen(path);
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const reader = net.connect({ path, onread: { buffer: () => target.buffer(), callback: (n) => (target.onRead(n), true) } });
    const [[childEnd]] = await Promise.all([accepted, once(reader, 'connect')]);
    // This end only goes to spawn (which duplicates its fd) and is closed right after: no reading on it meanwhile.
    childEnd.pause();
    return { childEnd, reader };
  } finally {
    server.close();
    if (!abstract) await unlink(path).catch(() => {});
  }
}
