import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { RtcRecordError } from '../../errors.js';

export type BinarySource = 'env' | 'path' | 'ffmpeg-static' | 'bundled';

export interface ResolvedBinary {
  path: string;
  source: BinarySource;
}

/** One place ffmpeg may come from, in resolution order; `path` null when it is not there (`note` says why). */
export interface FfmpegCandidate {
  source: BinarySource;
  path: string | null;
  note?: string;
}

export interface ResolveOptions {
  /** Defaults to process.env; passing it also bypasses the cache (tests). */
  env?: Record<string, string | undefined>;
  /** Returns the ffmpeg-static path or null; defaults to loading the optional package. */
  loadStatic?: () => string | null;
  /** Returns the bundled (@ffmpeg-installer) path or null; defaults to loading the optional package. */
  loadBundled?: () => string | null;
}

const INSTALL_HINT =
  'Run `npm ci` (it installs the bundled ffmpeg from the npm registry), or install ffmpeg ' +
  '(Debian/Ubuntu: `apt-get install ffmpeg`, macOS: `brew install ffmpeg`), or point FFMPEG_PATH at a binary.';

/** Where each source is described to users (doctor, errors). */
export const SOURCE_LABELS: Record<BinarySource, string> = {
  env: 'FFMPEG_PATH',
  path: 'ffmpeg on PATH',
  'ffmpeg-static': 'ffmpeg-static package',
  bundled: 'bundled @ffmpeg-installer/ffmpeg',
};

/**
 * Both packages are optional CommonJS dependencies, loaded with createRequire so resolution stays synchronous; a
 * missing package (or ffmpeg-static's failed download, which leaves a null or a path to nothing) is "not available".
 */
function loadPackagePath(name: string, pick: (mod: unknown) => unknown): string | null {
  try {
    const p = pick(createRequire(import.meta.url)(name));
    return typeof p === 'string' && isExecutableFile(p) ? p : null;
  } catch {
    return null;
  }
}

const loadFfmpegStatic = (): string | null =>
  loadPackagePath('ffmpeg-static', (mod) => (typeof mod === 'string' ? mod : (mod as { default?: unknown } | null)?.default));

// @ffmpeg-installer/ffmpeg picks its platform package (linux-x64: a static 4.1 build inside the npm tarball).
const loadBundled = (): string | null => loadPackagePath('@ffmpeg-installer/ffmpeg', (mod) => (mod as { path?: unknown } | null)?.path);

export function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function searchPath(name: string, env: Record<string, string | undefined>): string | null {
  const exts = process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = join(dir, name + ext);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return null;
}

function fromEnv(varName: string, env: Record<string, string | undefined>): ResolvedBinary | null {
  const value = env[varName];
  if (!value) return null;
  // An explicit setting that is wrong must fail loudly rather than silently fall back.
  if (!isExecutableFile(value)) {
    throw new RtcRecordError(
      'FFMPEG_NOT_FOUND',
      `${varName}=${value} is not an executable file. Fix or unset ${varName}. ${INSTALL_HINT}`,
    );
  }
  return { path: value, source: 'env' };
}

/**
 * Every place ffmpeg may come from, in resolution order: FFMPEG_PATH → `ffmpeg` on PATH → ffmpeg-static → bundled.
 * A system ffmpeg comes before the packages: it is usually newer than both (the bundled one is a 2018 4.1 build).
 */
export function ffmpegCandidates(opts: ResolveOptions = {}): FfmpegCandidate[] {
  const env = opts.env ?? process.env;
  const at = (source: BinarySource, path: string | null, missing: string): FfmpegCandidate =>
    path ? { source, path } : { source, path: null, note: missing };
  const envValue = env.FFMPEG_PATH;
  return [
    at('env', envValue && isExecutableFile(envValue) ? envValue : null, envValue ? `${envValue} is not an executable file` : 'unset'),
    at('path', searchPath('ffmpeg', env), 'no ffmpeg on PATH'),
    at('ffmpeg-static', (opts.loadStatic ?? loadFfmpegStatic)(), 'not installed (its binary download failed?)'),
    at('bundled', (opts.loadBundled ?? loadBundled)(), 'not installed (optional dependency skipped?)'),
  ];
}

function doResolveFfmpeg(opts: ResolveOptions): ResolvedBinary {
  const envHit = fromEnv('FFMPEG_PATH', opts.env ?? process.env);
  if (envHit) return envHit;
  const found = ffmpegCandidates(opts).find((c) => c.path);
  if (found) return { path: found.path!, source: found.source };
  throw new RtcRecordError(
    'FFMPEG_NOT_FOUND',
    `ffmpeg not found (FFMPEG_PATH unset, not on PATH, no ffmpeg-static, no bundled @ffmpeg-installer/ffmpeg). ${INSTALL_HINT}`,
  );
}

function doResolveFfprobe(opts: ResolveOptions): ResolvedBinary {
  const env = opts.env ?? process.env;
  const envHit = fromEnv('FFPROBE_PATH', env);
  if (envHit) return envHit;
  // ffmpeg-static and the bundled ffmpeg ship no ffprobe; a custom FFMPEG_PATH usually has its ffprobe next to it.
  if (env.FFMPEG_PATH) {
    const sibling = join(dirname(env.FFMPEG_PATH), process.platform === 'win32' ? 'ffprobe.exe' : 'ffprobe');
    if (isExecutableFile(sibling)) return { path: sibling, source: 'env' };
  }
  const onPath = searchPath('ffprobe', env);
  if (onPath) return { path: onPath, source: 'path' };
  throw new RtcRecordError('FFMPEG_NOT_FOUND', `ffprobe not found (FFPROBE_PATH unset, not next to FFMPEG_PATH, not on PATH). The recorder does not need it; the benchmark and the tests do. ${INSTALL_HINT}`);
}

// Keyed by the env inputs so a changed FFMPEG_PATH/PATH (tests, long-lived processes) re-resolves.
const cache = new Map<string, ResolvedBinary>();

function cached(kind: string, opts: ResolveOptions, resolve: (o: ResolveOptions) => ResolvedBinary): ResolvedBinary {
  if (opts.env || opts.loadStatic) return resolve(opts);
  const e = process.env;
  const key = [kind, e.FFMPEG_PATH, e.FFPROBE_PATH, e.PATH].join('\0');
  let hit = cache.get(key);
  if (!hit) {
    hit = resolve(opts);
    cache.set(key, hit);
  }
  return hit;
}

/** FFMPEG_PATH → `ffmpeg` on PATH → ffmpeg-static → bundled; throws RtcRecordError FFMPEG_NOT_FOUND. */
export function resolveFfmpeg(opts: ResolveOptions = {}): ResolvedBinary {
  return cached('ffmpeg', opts, doResolveFfmpeg);
}

/** FFPROBE_PATH → `ffprobe` next to FFMPEG_PATH → `ffprobe` on PATH; throws FFMPEG_NOT_FOUND. */
export function resolveFfprobe(opts: ResolveOptions = {}): ResolvedBinary {
  return cached('ffprobe', opts, doResolveFfprobe);
}

export function clearFfmpegResolutionCache(): void {
  cache.clear();
  versionCache.clear();
}

const versionCache = new Map<string, Promise<string>>();

/** Version string of the resolved ffmpeg, e.g. "5.1.9-0+deb12u1" (first line of `ffmpeg -version`). */
export function ffmpegVersion(): Promise<string> {
  const { path } = resolveFfmpeg();
  let p = versionCache.get(path);
  if (!p) {
    p = new Promise<string>((resolve, reject) => {
      execFile(path, ['-hide_banner', '-version'], { timeout: 10_000 }, (err, stdout) => {
        if (err) {
          reject(new RtcRecordError('FFMPEG_NOT_FOUND', `could not run ${path} -version: ${err.message}`, { cause: err }));
          return;
        }
        const m = /^ffmpeg version (\S+)/m.exec(stdout);
        resolve(m?.[1] ?? stdout.split('\n')[0]!.trim());
      });
    });
    // A failed attempt should not be cached forever.
    p.catch(() => versionCache.delete(path));
    versionCache.set(path, p);
  }
  return p;
}
