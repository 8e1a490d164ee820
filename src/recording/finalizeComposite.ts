import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { logger as defaultLogger, type Logger } from '../logger.js';
import { remuxFaststart } from '../media/encoder/Mp4Encoder.js';

/** The fragmented files written while recording, and what they become. */
export const PART_FILES = { mp4: 'recording.part.mp4', m4a: 'recording.part.m4a' } as const;
export const FINAL_FILES = { mp4: 'recording.mp4', m4a: 'recording.m4a' } as const;

export interface FinalizedComposite {
  /** Relative to the recording directory. */
  file: string;
  format: 'mp4' | 'm4a';
  bytes: number;
}

/**
 * Turns a recording directory's fragmented composite (`recording.part.mp4` / `.m4a`, possibly cut short by a crash)
 * into the final faststart file (moov first) by remuxing without re-encoding, then removes the part file. Returns
 * undefined when there is nothing to finalize (already done, or no composite). Safe to run on leftovers after a
 * SIGKILL: an unfinished last fragment is dropped.
 */
export async function finalizeComposite(dir: string, logger: Logger = defaultLogger): Promise<FinalizedComposite | undefined> {
  for (const format of ['mp4', 'm4a'] as const) {
    const part = join(dir, PART_FILES[format]);
    if (!existsSync(part)) continue;
    const final = join(dir, FINAL_FILES[format]);
    const tmp = join(dir, `recording.finalizing.${format}`);
    if (statSync(part).size === 0) {
      rmSync(part, { force: true });
      continue;
    }
    await remuxFaststart(part, tmp, { logger });
    renameSync(tmp, final);
    rmSync(part, { force: true });
    return { file: FINAL_FILES[format], format, bytes: statSync(final).size };
  }
  return undefined;
}
