import { ProgressTracker, type RecordingProgress } from '../recording/progress.js';
import type { RoomRecorder } from '../recording/RoomRecorder.js';

export interface StatusLineOptions {
  /** Where the status goes (default stderr: stdout carries the CLI's result). */
  stream?: NodeJS.WriteStream;
  /** Redraw interval on a TTY (default 500 ms). */
  intervalMs?: number;
  /** Interval of the plain lines printed when the stream is not a TTY (default 10 s; 0: none). */
  plainIntervalMs?: number;
}

export interface StatusLine {
  /** Clears the line (TTY) and stops; idempotent. */
  stop(): void;
}

/**
 * The live progress of `rtc-record --room`: on a TTY one line redrawn in place (elapsed, participants, current
 * speakers, bytes written, encoder speed); otherwise a plain line every few seconds, so logs stay readable.
 * While the line is shown, other output to stdout/stderr first clears it, so it never garbles what is printed.
 */
export function startStatusLine(recorder: Pick<RoomRecorder, 'manifest' | 'dir'>, options: StatusLineOptions = {}): StatusLine {
  const stream = options.stream ?? process.stderr;
  const tracker = new ProgressTracker(recorder.dir);
  const line = () => formatStatus(tracker.sample(recorder.manifest));

  if (!stream.isTTY) {
    const every = options.plainIntervalMs ?? 10_000;
    const timer = every > 0 ? setInterval(() => stream.write(`status: ${line()}\n`), every).unref() : undefined;
    return { stop: () => clearInterval(timer) };
  }

  let shown = false;
  let stopped = false;
  const clear = '\r\x1b[2K';
  const draw = () => {
    if (stopped) return;
    const text = line().slice(0, Math.max(20, (stream.columns ?? 120) - 1));
    origWrite.call(stream, `${clear}${text}`);
    shown = true;
  };
  // Anything else printed (console.log lines, errors) first wipes the status line; the next tick redraws it.
  const patched: NodeJS.WriteStream[] = [process.stdout, process.stderr].filter((s) => s.isTTY);
  const originals = new Map(patched.map((s) => [s, s.write] as const));
  const origWrite = originals.get(stream) ?? stream.write;
  for (const s of patched) {
    const orig = originals.get(s)!;
    s.write = function (this: NodeJS.WriteStream, ...args: Parameters<typeof orig>) {
      if (shown) {
        origWrite.call(stream, clear);
        shown = false;
      }
      return orig.apply(this, args);
    } as typeof s.write;
  }
  const timer = setInterval(draw, options.intervalMs ?? 500).unref();
  draw();
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      for (const [s, orig] of originals) s.write = orig;
      if (shown) origWrite.call(stream, clear);
    },
  };
}

export function formatStatus(p: RecordingProgress): string {
  const parts = [
    `● REC ${formatElapsed(p.elapsedMs)}`,
    `${p.participants.length} participant${p.participants.length === 1 ? '' : 's'}${p.participants.length ? ` (${p.participants.join(', ')})` : ''}`,
  ];
  if (p.speakers.length) parts.push(`speaking: ${p.speakers.join(', ')}`);
  parts.push(`${formatBytes(p.bytesWritten)} written`);
  if (p.packetsLost > 0) parts.push(`${p.packetsLost} lost`);
  if (p.encoderSpeed !== undefined) parts.push(`encoder ${p.encoderSpeed.toFixed(2)}x${p.encoderFps !== undefined ? ` (${p.encoderFps.toFixed(1)} fps)` : ''}`);
  return parts.join(' | ');
}

export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MB`;
  return `${Math.round(n / 1024)} kB`;
}
