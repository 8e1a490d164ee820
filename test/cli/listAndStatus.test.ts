// `rtc-record list` (table and --json, read from disk) and the status line module recordCommand calls.
import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatStatus, startStatusLine } from '../../src/cli/statusLine.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import { fakeRecording } from '../http/fakeRecording.js';

const BIN = fileURLToPath(new URL('../../bin/rtc-record.js', import.meta.url));
const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

describe('rtc-record list', () => {
  it('prints the recordings under --out, as a table and as JSON', () => {
    const a = fakeRecording({ room: 'alpha' });
    const b = fakeRecording({ root: a.root, room: 'beta', state: 'failed' });
    const table = cli('list', '--out', a.root).trim().split('\n');
    expect(table[0]).toMatch(/^ID\s+ROOM\s+STATE\s+STARTED\s+DURATION\s+SIZE\s+PARTICIPANTS$/);
    expect(table.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [b.id, 'beta', 'failed'],
      [a.id, 'alpha', 'done'],
    ]);
    expect(table[2]).toMatch(/00:00:42\s+98 kB\s+Alice$/);
    const json = JSON.parse(cli('list', '--out', a.root, '--json')) as Array<Record<string, unknown>>;
    expect(json.map((r) => r.id)).toEqual([b.id, a.id]);
    expect(json[1]).toMatchObject({ room: 'alpha', state: 'done', durationMs: 42_000, sizeBytes: expect.any(Number), participants: ['Alice'] });
    expect(JSON.parse(cli('list', '--out', a.root, '--json', '--room', 'alpha'))).toHaveLength(1);
  });
});

const manifest = (): Manifest => ({
  version: 1,
  id: 'x',
  room: 'demo',
  state: 'recording',
  startedAt: new Date(Date.now() - 65_000).toISOString(),
  participants: [
    { id: 'a', name: 'Alice', joinedAtMs: 0 },
    { id: 'b', name: 'Bob', joinedAtMs: 0 },
    { id: 'c', name: 'Carol', joinedAtMs: 0, leftAtMs: 1 },
  ],
  tracks: [{ id: 't', participantId: 'a', participantName: 'Alice', kind: 'audio', codec: 'opus', clockRate: 48000, ssrc: 1, file: 'tracks/t.webm', packetsReceived: 100, packetsLost: 0, keyframesRequested: 0, bytesWritten: 3 * 1024 * 1024 }],
  speakerTimeline: [{ atMs: 10, speakers: ['b'] }],
});

describe('status line', () => {
  it('shows elapsed, participants, speakers, bytes and encoder speed', () => {
    expect(formatStatus({ elapsedMs: 65_000, participants: ['Alice', 'Bob'], speakers: ['Bob'], bytesWritten: 3 << 20, packetsReceived: 1, packetsLost: 0, encoderFps: 29.5, encoderSpeed: 0.98 })).toBe(
      '● REC 00:01:05 | 2 participants (Alice, Bob) | speaking: Bob | 3.0 MB written | encoder 0.98x (29.5 fps)',
    );
  });

  it('on a TTY redraws one line in place and clears it before other output', async () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
    Object.assign(out, { isTTY: true, columns: 200 });
    let written = '';
    out.on('data', (c: Buffer) => (written += c.toString()));
    const status = startStatusLine({ manifest: manifest(), dir: '/nonexistent' }, { stream: out, intervalMs: 20 });
    await new Promise((r) => setTimeout(r, 70));
    status.stop();
    const frames = written.split('\r\x1b[2K').filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(frames[0]).toMatch(/^● REC 00:01:0\d \| 2 participants \(Alice, Bob\) \| speaking: Bob \| 3\.0 MB written$/);
    expect(written.endsWith('\r\x1b[2K')).toBe(true);
    expect(written).not.toContain('\n');
  });

  it('without a TTY prints plain lines', async () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
    let written = '';
    out.on('data', (c: Buffer) => (written += c.toString()));
    const status = startStatusLine({ manifest: manifest(), dir: '/nonexistent' }, { stream: out, plainIntervalMs: 20 });
    await new Promise((r) => setTimeout(r, 70));
    status.stop();
    const lines = written.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/^status: ● REC 00:01:0\d \| 2 participants/);
    expect(written).not.toContain('\x1b');
  });
});
