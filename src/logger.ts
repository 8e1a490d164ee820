import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stderr: stdout stays free for CLI output and piped media. */
export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino(
    { level: opts.level ?? process.env.RTC_RECORD_LOG_LEVEL ?? 'info', name: opts.name },
    pino.destination(2),
  );
}

export const logger: Logger = createLogger();
