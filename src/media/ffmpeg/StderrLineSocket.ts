import type net from 'node:net';
import { openReadSocket } from './readSocket.js';

/** Sees a stderr line as bytes `[start, end)` of `buf` (valid only during the call); true = consumed. */
export type StderrByteFilter = (buf: Buffer, start: number, end: number) => boolean;

const NEWLINE = 0x0a;
const RETURN = 0x0d;

/**
 * A child's stderr read through a socket pair into one fixed buffer, split into lines byte-wise. For processes that log
 * a line per frame (the decoders' showinfo): a pipe allocates 64 KiB per read and every line became a string; here a
 * byte filter takes the lines it wants without either, and only the rest become strings (for logs and error tails).
 * Lines longer than the buffer are cut.
 */
export class StderrLineSocket {
  private readonly buf: Buffer;
  private filled = 0;
  private onLine: (line: string) => void = () => {};

  /** Resolves once the reading end has closed (the child exited and everything it wrote was read). */
  readonly closed: Promise<void>;
  /** Give this to the child as its stderr (spawn stdio), then destroy it: the child has its own copy of the fd. */
  childEnd!: net.Socket;
  private reader!: net.Socket;
  private resolveClosed!: () => void;

  private constructor(
    private readonly filter: StderrByteFilter,
    bufferBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(bufferBytes);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  static async open(filter: StderrByteFilter, bufferBytes = 16_384): Promise<StderrLineSocket> {
    const self = new StderrLineSocket(filter, bufferBytes);
    const { childEnd, reader } = await openReadSocket({ buffer: () => self.readTarget(), onRead: (n) => self.onRead(n) });
    self.childEnd = childEnd;
    self.reader = reader;
    reader.on('error', () => {});
    reader.once('close', () => {
      self.flush();
      self.resolveClosed();
    });
    return self;
  }

  /** Where the lines the filter did not consume go (as strings, without the line ending). */
  setLineHandler(handler: (line: string) => void): void {
    this.onLine = handler;
  }

  destroy(): void {
    this.childEnd.destroy();
    this.reader.destroy();
  }

  private readTarget(): Uint8Array {
    // A line as long as the whole buffer: pass it on cut, make room.
    if (this.filled === this.buf.length) this.flush();
    return this.buf.subarray(this.filled);
  }

  private onRead(n: number): void {
    const end = this.filled + n;
    let start = 0;
    for (let nl = this.buf.indexOf(NEWLINE, this.filled); nl !== -1 && nl < end; nl = this.buf.indexOf(NEWLINE, start)) {
      this.line(start, nl);
      start = nl + 1;
    }
    this.buf.copyWithin(0, start, end);
    this.filled = end - start;
  }

  private flush(): void {
    if (this.filled > 0) this.line(0, this.filled);
    this.filled = 0;
  }

  private line(start: number, end: number): void {
    if (end > start && this.buf[end - 1] === RETURN) end--;
    if (end <= start || this.filter(this.buf, start, end)) return;
    this.onLine(this.buf.toString('utf8', start, end));
  }
}
