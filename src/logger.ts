import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stderr: stdout stays free for CLI output and piped media. Written through process.stderr (not fd 2
 * directly) so the CLI's live status line can clear itself before a log line lands.
 */
export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino(
    { level: opts.level ?? process.env.RTC_RECORD_LOG_LEVEL ?? 'info', name: opts.name },
    process.stderr,
  );
}

export const logger: Logger = createLogger();
