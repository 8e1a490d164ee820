// buildDist() skips tsc when dist/ is already built from the current source: the check must see every way the built
// CLI could be stale (a source newer than its output, a source without output, a changed tsconfig.json).
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distIsFresh } from '../harness/cli.js';

function tree(): { root: string; at: (rel: string, sec: number) => void } {
  const root = mkdtempSync(join(tmpdir(), 'dist-fresh-'));
  const at = (rel: string, sec: number) => {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '');
    utimesSync(path, sec, sec);
  };
  at('tsconfig.json', 100);
  at('src/a.ts', 200);
  at('src/sub/b.ts', 200);
  at('src/sub/types.d.ts', 900);
  at('dist/a.js', 300);
  at('dist/sub/b.js', 300);
  return { root, at };
}

describe('distIsFresh', () => {
  it('is true when every source has an output at least as new, and tsconfig.json is older', () => {
    expect(distIsFresh(tree().root)).toBe(true);
  });

  it('is false when a source is newer than its output', () => {
    const t = tree();
    t.at('src/sub/b.ts', 400);
    expect(distIsFresh(t.root)).toBe(false);
  });

  it('is false when a source has no output yet', () => {
    const t = tree();
    t.at('src/sub/c.ts', 200);
    expect(distIsFresh(t.root)).toBe(false);
  });

  it('is false when tsconfig.json changed after the build, or there is no dist/ at all', () => {
    const t = tree();
    t.at('tsconfig.json', 350);
    expect(distIsFresh(t.root)).toBe(false);
    expect(distIsFresh(mkdtempSync(join(tmpdir(), 'dist-none-')))).toBe(false);
  });
});
