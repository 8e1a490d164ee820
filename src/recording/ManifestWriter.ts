import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from './ManifestTypes.js';

/**
 * Keeps manifest.json on disk current enough that a SIGKILL leaves a valid, recent one: every write goes to a temp file
 * and is renamed over the old one (atomic), and live updates are coalesced to at most one write per interval.
 */
export class ManifestWriter {
  private readonly path: string;
  private timer?: NodeJS.Timeout;
  private lastError?: Error;

  constructor(dir: string, readonly manifest: Manifest, private readonly intervalMs = 1000) {
    this.path = join(dir, 'manifest.json');
    this.writeNow();
  }

  /** Marks the manifest changed; it reaches disk within `intervalMs`. */
  touch(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.writeNow();
    }, this.intervalMs);
  }

  writeNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      writeFileSync(this.path + '.tmp', JSON.stringify(this.manifest, null, 2) + '\n');
      renameSync(this.path + '.tmp', this.path);
      this.lastError = undefined;
    } catch (err) {
      // A full disk must not crash the recorder: the previous manifest stays in place and the error is reported.
      this.lastError = err as Error;
    }
  }

  get error(): Error | undefined {
    return this.lastError;
  }
}
