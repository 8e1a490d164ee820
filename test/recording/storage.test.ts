import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRecordingId, newRecordingId } from '../../src/recording/recordingId.js';
import { createRecordingDir, resolveInside } from '../../src/recording/storage.js';

describe('resolveInside', () => {
  const root = mkdtempSync(join(tmpdir(), 'rtc-root-'));
  const outside = mkdtempSync(join(tmpdir(), 'rtc-outside-'));

  it('allows paths below the root', () => {
    expect(resolveInside(root, 'room', 'id')).toMatch(/\/room\/id$/);
  });

  it.each([['..'], ['../x'], ['room/../../x'], ['/etc/passwd'], ['room/../..']])('refuses %s', (part) => {
    expect(() => resolveInside(root, part)).toThrow(/escapes the recordings root/);
  });

  it('refuses a symlink inside the root that leads out of it', () => {
    symlinkSync(outside, join(root, 'link'));
    expect(() => resolveInside(root, 'link', 'file')).toThrow(/escapes/);
  });

  it('reports an unwritable output root clearly', () => {
    // A file where the root directory must go: mkdir fails whatever our privileges are (tests run as root).
    const notADir = join(root, 'plain-file');
    writeFileSync(notADir, 'x');
    expect(() => createRecordingDir(notADir, 'room', 'x')).toThrow(expect.objectContaining({ code: 'OUTPUT_NOT_WRITABLE' }));
  });
});

describe('recording ids', () => {
  it('sort by start time and validate', () => {
    const a = newRecordingId(new Date('2026-11-26T01:00:00.000Z'));
    const b = newRecordingId(new Date('2026-11-26T01:00:00.001Z'));
    const c = newRecordingId(new Date('2026-12-01T00:00:00.000Z'));
    expect([c, b, a].sort()).toEqual([a, b, c]);
    expect(isRecordingId(a)).toBe(true);
    expect(isRecordingId('../etc')).toBe(false);
  });
});
