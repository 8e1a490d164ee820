// uploadRecording against a real S3-compatible server in this process (@20minutes/s3rver, signatures checked).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readUploadState } from '../../../src/recording/upload/uploadState.js';
import { uploadRecording } from '../../../src/recording/upload/uploadRecording.js';
import type { UploadProgress, UploadTarget } from '../../../src/recording/upload/UploadTypes.js';
import { fakeRecording, type FakeRecording } from '../../http/fakeRecording.js';
import { S3_ENV, TestS3Server } from '../../harness/s3Server.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const FAST_RETRY = { tries: 2, baseDelayMs: 50 };

let s3: TestS3Server;
const savedEnv = { ...process.env };

beforeAll(async () => {
  Object.assign(process.env, S3_ENV);
  s3 = await new TestS3Server().start();
});
afterAll(async () => {
  await s3.stop();
  process.env = savedEnv;
});
afterEach(() => Object.assign(process.env, S3_ENV));

const target = (over: Partial<UploadTarget> = {}): UploadTarget => ({
  bucket: s3.bucket,
  prefix: 'rec',
  endpoint: s3.endpoint,
  forcePathStyle: true,
  keyTemplate: '{room}/{id}/{file}',
  ...over,
});

/** A fake finished recording with a composite of `compositeBytes` random bytes besides its track. */
function recordingWithComposite(compositeBytes: number): FakeRecording & { composite: Buffer } {
  const rec = fakeRecording({ room: 'upl' });
  const composite = randomBytes(compositeBytes);
  writeFileSync(join(rec.dir, 'recording.mp4'), composite);
  return { ...rec, composite };
}

describe('uploadRecording', () => {
  it('stores every file under the template keys, verified, the manifest last with the object list; then deletes the local media', async () => {
    const rec = recordingWithComposite(300_000);
    const seen: UploadProgress[] = [];
    const outcome = await uploadRecording(rec.dir, target(), { onProgress: (p) => seen.push(p), retry: FAST_RETRY });
    expect(outcome.error).toBeUndefined();
    expect(outcome.state).toBe('uploaded');
    const base = `rec/upl/${rec.id}`;
    expect(outcome.objects.map((o) => o.key)).toEqual([`${base}/recording.mp4`, `${base}/tracks/Alice-a1-0.webm`, `${base}/manifest.json`]);
    expect(await s3.keys(`${base}/`)).toEqual([`${base}/manifest.json`, `${base}/recording.mp4`, `${base}/tracks/Alice-a1-0.webm`]);

    const mp4 = await s3.get(`${base}/recording.mp4`);
    expect(mp4.body.equals(rec.composite)).toBe(true);
    expect(mp4.metadata.sha256).toBe(sha(rec.composite));
    expect(mp4.contentType).toBe('video/mp4');
    const track = await s3.get(`${base}/tracks/Alice-a1-0.webm`);
    expect(track.body.equals(rec.track)).toBe(true);

    const manifest = JSON.parse((await s3.get(`${base}/manifest.json`)).body.toString()) as { id: string; upload: { attempt: number; objects: Array<{ key: string; size: number; sha256: string }> } };
    expect(manifest.id).toBe(rec.id);
    expect(manifest.upload.attempt).toBe(1);
    expect(manifest.upload.objects).toEqual([
      expect.objectContaining({ key: `${base}/recording.mp4`, size: rec.composite.length, sha256: sha(rec.composite) }),
      expect.objectContaining({ key: `${base}/tracks/Alice-a1-0.webm`, size: rec.track.length, sha256: sha(rec.track) }),
    ]);
    // The manifest is sent last.
    expect(seen.at(-1)).toMatchObject({ file: 'manifest.json', filesDone: 2, filesTotal: 3 });
    const firstManifest = seen.findIndex((p) => p.file === 'manifest.json');
    expect(seen.slice(firstManifest).every((p) => p.file === 'manifest.json')).toBe(true);

    expect(existsSync(join(rec.dir, 'recording.mp4'))).toBe(false);
    expect(existsSync(join(rec.dir, 'tracks', 'Alice-a1-0.webm'))).toBe(false);
    expect(existsSync(join(rec.dir, 'manifest.json'))).toBe(true);
    const state = readUploadState(rec.dir)!;
    expect(state).toMatchObject({ state: 'uploaded', attempt: 1, bucket: s3.bucket, localDeleted: true });
    expect(state.objects).toHaveLength(3);
  });
});
