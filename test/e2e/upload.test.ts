// Recording to a bucket end to end: a real Chromium participant (red camera, 440 Hz microphone), our server, the real
// CLI with --s3 to an S3-compatible server in this process (signatures checked). What lands in the bucket is
// downloaded and decoded: the keys, the checksums the manifest lists, the colour and the tone in every file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import type { UploadOutcome } from '../../src/recording/upload/UploadTypes.js';
import { decodeAudioPcm, decodeErrors, NAMED_COLORS, nearestNamedColor, sampleColor, streamDuration, tonePresence } from '../harness/analyze.js';
import { CliProcess } from '../harness/cli.js';
import { roomParticipant } from '../harness/roomPage.js';
import { S3_ENV, TestS3Server } from '../harness/s3Server.js';
import { waitFor } from '../harness/util.js';

const PALETTE = Object.fromEntries(['red', 'blue', 'lime', 'black', 'white'].map((n) => [n, NAMED_COLORS[n]!]));
const TONES = [440, 660, 880];

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function redMostly(file: string, x: number, y: number, times: number[]): Promise<string[]> {
  const seen: string[] = [];
  for (const t of times) seen.push(nearestNamedColor(await sampleColor(file, { timeSec: t, x: x - 10, y: y - 10, w: 20, h: 20 }), PALETTE).name);
  return seen;
}

describe('rtc-record --room … --s3', () => {
  it('records a room, uploads every file under its key, verified; the downloads decode with the right picture and sound; the local copy goes', async () => {
    const s3 = await new TestS3Server().start();
    cleanups.push(() => s3.close());
    const s = await startServer({ port: 0 });
    cleanups.push(() => s.close());
    const out = mkdtempSync(join(tmpdir(), 'rtc-e2e-s3-'));
    const cli = new CliProcess(
      ['--ice-address', '127.0.0.1', '--room', 'up', '--server', s.wsUrl, '--out', out, '--json', '--s3', 's3://recordings/e2e', '--s3-endpoint', s3.endpoint, '--s3-path-style', '--log-level', 'info'],
      S3_ENV,
    );
    cleanups.push(() => cli.kill('SIGKILL'));
    const dir = (await cli.waitForLine(/^recording room up into /)).slice('recording room up into '.length);

    const alice = await roomParticipant(s.url, 'up', 'Alice', { color: 'red', freq: 440 });
    cleanups.push(() => alice.close());
    await waitFor(
      () => {
        const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
        return ['audio', 'video'].every((k) => m.tracks.some((t) => t.kind === k && t.firstPacketAtMs !== undefined));
      },
      { timeoutMs: 30_000, description: "Alice's audio and video at the recorder" },
    );
    await new Promise((r) => setTimeout(r, 8000));
    cli.kill('SIGINT');
    expect((await cli.exited).code, cli.stderr.join('\n')).toBe(0);

    const summary = JSON.parse(cli.stdout.at(-1)!) as Manifest & { dir: string; upload: UploadOutcome };
    expect(summary.dir).toBe(dir);
    expect(summary.upload).toMatchObject({ state: 'uploaded', bucket: 'recordings', attempt: 1, localDeleted: true });
    expect(cli.stdout.some((l) => /^uploaded \d+ object\(s\), .* to s3:\/\/recordings\/e2e\/up\/.* \(attempt 1\); local copy deleted$/.test(l))).toBe(true);

    // Every file under {room}/{id}/{file}, the manifest last.
    const base = `e2e/up/${summary.id}`;
    const trackFiles = summary.tracks.map((t) => t.file!).sort();
    expect(trackFiles).toHaveLength(2);
    const expected = ['recording.mp4', ...trackFiles, 'manifest.json'];
    expect(summary.upload.objects.map((o) => o.key)).toEqual(expected.map((f) => `${base}/${f}`));
    expect(await s3.keys(`${base}/`)).toEqual(expected.map((f) => `${base}/${f}`).sort());

    // Local: only manifest.json and upload.json remain.
    expect(existsSync(join(dir, 'recording.mp4'))).toBe(false);
    expect(readdirSync(join(dir, 'tracks'))).toEqual([]);
    expect(existsSync(join(dir, 'manifest.json'))).toBe(true);

    // Download everything; the stored manifest lists each object's size and SHA-256.
    const got = mkdtempSync(join(tmpdir(), 'rtc-e2e-s3-get-'));
    const stored = JSON.parse((await s3.get(`${base}/manifest.json`)).body.toString()) as Manifest & { upload: { objects: Array<{ key: string; size: number; sha256: string }> } };
    expect(stored.upload.objects.map((o) => o.key)).toEqual(expected.slice(0, -1).map((f) => `${base}/${f}`));
    for (const o of stored.upload.objects) {
      const { body } = await s3.get(o.key);
      expect(body.length, o.key).toBe(o.size);
      expect(createHash('sha256').update(body).digest('hex'), o.key).toBe(o.sha256);
      const path = join(got, o.key.slice(base.length + 1));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, body);
    }

    for (const t of summary.tracks) {
      const file = join(got, t.file!);
      expect(await decodeErrors(file), t.file).toEqual([]);
      if (t.kind === 'audio') {
        expect(tonePresence(await decodeAudioPcm(file), 48_000, TONES).present, t.file).toEqual([440]);
      } else {
        const d = await streamDuration(file, 'video');
        const seen = await redMostly(file, 150, 110, [d * 0.3, d * 0.6, d * 0.9]);
        expect(seen.filter((c) => c === 'red').length, `${t.file}: ${seen.join(' ')}`).toBeGreaterThanOrEqual(2);
      }
    }
    const mp4 = join(got, 'recording.mp4');
    expect(await decodeErrors(mp4)).toEqual([]);
    expect(tonePresence(await decodeAudioPcm(mp4), 48_000, TONES).present).toEqual([440]);
    const d = await streamDuration(mp4, 'video');
    expect(d).toBeGreaterThan(6);
    // One participant: the grid's only tile fills the frame's middle.
    const seen = await redMostly(mp4, 640, 360, [d - 4, d - 3, d - 2]);
    expect(seen.filter((c) => c === 'red').length, `recording.mp4: ${seen.join(' ')}`).toBeGreaterThanOrEqual(2);
  }, 180_000);
});
