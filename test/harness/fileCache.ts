import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export type CachedFile = (prefix: string, ext: string, params: unknown, generate: (out: string) => Promise<void>) => Promise<string>;

/**
 * A cache of generated files (test and bench fixtures): `cached(prefix, ext, params, generate)` returns
 * `<dir>/<prefix>-<hash of params>.<ext>`, running `generate(tmpPath)` only if it is not there yet. Writes to a temp
 * file and renames, so concurrent runs never see partial files. Bump `version` when generation changes.
 */
export function fileCache(dir: string, version: number): CachedFile {
  const inFlight = new Map<string, Promise<string>>();
  return (prefix, ext, params, generate) => {
    const hash = createHash('sha1').update(JSON.stringify({ v: version, params })).digest('hex').slice(0, 10);
    const path = join(dir, `${prefix}-${hash}.${ext}`);
    const pending = inFlight.get(path);
    if (pending) return pending;
    const job = (async () => {
      if (existsSync(path)) return path;
      await mkdir(dir, { recursive: true });
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await generate(tmp);
        await rename(tmp, path);
      } finally {
        await rm(tmp, { force: true });
      }
      return path;
    })();
    // Only dedupes concurrent calls; later calls re-check the disk (the cache may have been wiped).
    inFlight.set(path, job);
    job.then(
      () => inFlight.delete(path),
      () => inFlight.delete(path),
    );
    return job;
  };
}
