import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Pages live in src/http/public; this resolves to the same folder from src/ (tests) and from dist/ (built CLI).
const PUBLIC_DIR = fileURLToPath(new URL('../../src/http/public/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export interface StaticFile {
  body: Buffer;
  type: string;
}

/** A fixed allow-list read once at start: requests can only ever name these files, never a path. */
export function loadStaticFiles(names: string[]): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of names) {
    const ext = name.slice(name.lastIndexOf('.'));
    files.set(name, { body: readFileSync(PUBLIC_DIR + name), type: TYPES[ext] ?? 'application/octet-stream' });
  }
  return files;
}
