// uploadRecording against a real S3-compatible server in this process (@20minutes/s3rver, signatures checked).
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readUploadState } from '../../../src/recording/upload/uploadState.js';
import { uploadRecording } from '../../../src/recording/upload/uploadRecording.js';
import type { UploadProgress, UploadTarget } from '../../../src/recording/upload/UploadTypes.js';
import { CliProcess } from '../../harness/cli.js';
import { fakeRecording, type FakeRecording } from '../../http/fakeRecording.js';
import { S3_ENV, useTestS3 } from '../../harness/s3Server.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const FAST_RETRY = { tries: 2, baseDelayMs: 50 };

const s3 = useTestS3();
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

    // Again (even asking for attempt 1): the local copy is gone, so nothing is sent and nothing listed is lost.
    const again = await uploadRecording(rec.dir, target(), { attempt: 1, retry: FAST_RETRY });
    expect(again).toMatchObject({ state: 'uploaded', attempt: 1 });
    expect(again.objects).toEqual(outcome.objects);
    expect(readUploadState(rec.dir)!.objects).toHaveLength(3);
    expect(await s3.keys(`${base}/`)).toHaveLength(3);
  });
});

describe('uploadRecording: parts, keeping, failing', () => {
  it('sends a file above the part size in parts, with progress, and stores it whole', async () => {
    const rec = recordingWithComposite(12 * 1024 * 1024 + 123);
    const seen: UploadProgress[] = [];
    const outcome = await uploadRecording(rec.dir, target({ prefix: '' }), { partSize: 5 * 1024 * 1024, onProgress: (p) => seen.push(p), retry: FAST_RETRY });
    expect(outcome.state).toBe('uploaded');
    const mp4 = seen.filter((p) => p.file === 'recording.mp4');
    // Three parts (5 + 5 + 2 MiB): progress after each, growing, ending at the size (one PutObject reports once).
    expect(mp4.length).toBeGreaterThanOrEqual(3);
    expect(mp4.map((p) => p.loaded)).toEqual([...mp4.map((p) => p.loaded)].sort((a, b) => a - b));
    expect(mp4.at(-1)!.loaded).toBe(rec.composite.length);
    expect(seen.at(-1)!.bytesDone).toBe(seen.at(-1)!.bytesTotal);
    const key = `upl/${rec.id}/recording.mp4`;
    const stored = await s3.get(key);
    expect(stored.body.length).toBe(rec.composite.length);
    expect(sha(stored.body)).toBe(sha(rec.composite));
  });

  it('verification: a file that grew after it was hashed does not match what is stored: failed, nothing deleted', async () => {
    const rec = recordingWithComposite(11 * 1024 * 1024);
    let grown = false;
    const outcome = await uploadRecording(rec.dir, target({ prefix: 'grow' }), {
      partSize: 5 * 1024 * 1024,
      retry: { tries: 2, baseDelayMs: 50 },
      // After the first part went, the file gets longer (as if something still wrote to it): the stream sends those
      // bytes too, and the stored object's size is not the hashed one's.
      onProgress: (p) => {
        if (p.file !== 'recording.mp4' || grown) return;
        grown = true;
        appendFileSync(join(rec.dir, 'recording.mp4'), Buffer.alloc(1000, 1));
      },
    });
    expect(grown).toBe(true);
    expect(outcome.state).toBe('failed');
    expect(outcome.error?.code).toBe('UPLOAD_VERIFY_FAILED');
    expect(outcome.error?.message).toMatch(/does not match the local file: size \d+ \(local 11534336\)/);
    expect(outcome.objects).toEqual([]);
    expect(readFileSync(join(rec.dir, 'recording.mp4')).subarray(0, rec.composite.length).equals(rec.composite)).toBe(true);
    expect(existsSync(join(rec.dir, 'tracks', 'Alice-a1-0.webm'))).toBe(true);
    expect(readUploadState(rec.dir)).toMatchObject({ state: 'failed', error: { code: 'UPLOAD_VERIFY_FAILED' } });
  });

  it('a recording continued after a takeover: its part-N/ directories go up inside it; a part alone gets part-N/ keys once', async () => {
    const rec = recordingWithComposite(20_000);
    const partDir = join(rec.dir, 'part-2');
    mkdirSync(join(partDir, 'tracks'), { recursive: true });
    const partTrack = randomBytes(30_000);
    writeFileSync(join(partDir, 'tracks', 'Alice-a1-1.webm'), partTrack);
    const top = JSON.parse(readFileSync(join(rec.dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(partDir, 'manifest.json'), JSON.stringify({ ...top, part: 2, tracks: [] }));
    const base = `rec/upl/${rec.id}`;

    // The part by itself (as a worker on another disk would upload it).
    const alone = await uploadRecording(partDir, target(), { keepLocal: true, retry: FAST_RETRY });
    expect(alone.objects.map((o) => o.key)).toEqual([`${base}/part-2/tracks/Alice-a1-1.webm`, `${base}/part-2/manifest.json`]);

    // The whole recording: part 1's files, then part-2/'s, the top manifest last.
    const whole = await uploadRecording(rec.dir, target({ prefix: 'whole' }), { retry: FAST_RETRY });
    const wbase = `whole/upl/${rec.id}`;
    expect(whole.objects.map((o) => o.key)).toEqual([
      `${wbase}/recording.mp4`,
      `${wbase}/tracks/Alice-a1-0.webm`,
      `${wbase}/part-2/manifest.json`,
      `${wbase}/part-2/tracks/Alice-a1-1.webm`,
      `${wbase}/manifest.json`,
    ]);
    expect(sha((await s3.get(`${wbase}/part-2/tracks/Alice-a1-1.webm`)).body)).toBe(sha(partTrack));
    expect(existsSync(join(partDir, 'tracks', 'Alice-a1-1.webm'))).toBe(false);
    expect(existsSync(join(partDir, 'manifest.json'))).toBe(true);
  });

  it('upload.json cannot be written: the upload goes on, but nothing local is deleted (nothing would say where it went)', async () => {
    const rec = recordingWithComposite(30_000);
    mkdirSync(join(rec.dir, 'upload.json', 'blocker'), { recursive: true });
    const outcome = await uploadRecording(rec.dir, target({ prefix: 'nostate' }), { retry: FAST_RETRY });
    expect(outcome).toMatchObject({ state: 'uploaded', localDeleted: false });
    expect(await s3.keys(`nostate/upl/${rec.id}/`)).toHaveLength(3);
    expect(readFileSync(join(rec.dir, 'recording.mp4')).equals(rec.composite)).toBe(true);
    expect(existsSync(join(rec.dir, 'tracks', 'Alice-a1-0.webm'))).toBe(true);
  });

  it('keepLocal: uploaded and verified, local files untouched', async () => {
    const rec = recordingWithComposite(50_000);
    const outcome = await uploadRecording(rec.dir, target({ keyTemplate: '{date}/{room}/{participant}/{id}-{name}' }), { keepLocal: true, retry: FAST_RETRY });
    expect(outcome).toMatchObject({ state: 'uploaded', localDeleted: false });
    // With the files still here, another upload is a new attempt with its own keys, whatever number is asked for.
    const second = await uploadRecording(rec.dir, target({ keyTemplate: '{date}/{room}/{participant}/{id}-{name}' }), { keepLocal: true, attempt: 1, retry: FAST_RETRY });
    expect(second.attempt).toBe(2);
    expect(second.objects[0]!.key).toMatch(/-recording\.attempt-2\.mp4$/);
    const date = new Date(Date.now() - 60_000).toISOString().slice(0, 10);
    expect(outcome.objects.map((o) => o.key)).toEqual([`rec/${date}/upl/${rec.id}-recording.mp4`, `rec/${date}/upl/Alice/${rec.id}-Alice-a1-0.webm`, `rec/${date}/upl/${rec.id}-manifest.json`]);
    expect(readFileSync(join(rec.dir, 'recording.mp4')).equals(rec.composite)).toBe(true);
    expect(readFileSync(join(rec.dir, 'tracks', 'Alice-a1-0.webm')).equals(rec.track)).toBe(true);
  });

  it('a wrong secret is refused by the store: failed, coded, local files kept', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    const rec = recordingWithComposite(10_000);
    const outcome = await uploadRecording(rec.dir, target(), { retry: FAST_RETRY });
    expect(outcome.state).toBe('failed');
    expect(outcome.error?.code).toBe('UPLOAD_FAILED');
    expect(outcome.error?.message).toMatch(/SignatureDoesNotMatch/);
    expect(readFileSync(join(rec.dir, 'recording.mp4')).equals(rec.composite)).toBe(true);
    expect(await s3.keys(`rec/upl/${rec.id}/`)).toEqual([]);
  });

  it('a key template giving two files one key is refused before anything is sent', async () => {
    const rec = recordingWithComposite(10_000);
    const outcome = await uploadRecording(rec.dir, target({ keyTemplate: '{room}/{id}/{participant}/{track}' }), { retry: FAST_RETRY });
    // recording.mp4 and manifest.json have no participant/track: both would be rec/upl/<id>.
    expect(outcome.state).toBe('failed');
    expect(outcome.error?.code).toBe('BAD_S3_TARGET');
    expect(existsSync(join(rec.dir, 'recording.mp4'))).toBe(true);
  });

  it('store down: failed with BUCKET_UNREACHABLE, every local file kept; the store back, `rtc-record upload <dir>` uploads it as attempt 2 and then deletes the local copy', async () => {
    const rec = recordingWithComposite(6 * 1024 * 1024);
    const before = sha(readFileSync(join(rec.dir, 'recording.mp4')));
    await s3.stop();
    let outcome;
    try {
      const t0 = Date.now();
      outcome = await uploadRecording(rec.dir, target(), { retry: { tries: 3, baseDelayMs: 100 } });
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await s3.start();
    }
    expect(outcome.state).toBe('failed');
    expect(outcome.error?.code).toBe('BUCKET_UNREACHABLE');
    expect(outcome.error?.message).toMatch(/ECONNREFUSED/);
    expect(outcome.error?.message).toContain(`bucket ${s3.bucket} at ${s3.endpoint}`);
    expect(sha(readFileSync(join(rec.dir, 'recording.mp4')))).toBe(before);
    expect(readFileSync(join(rec.dir, 'tracks', 'Alice-a1-0.webm')).equals(rec.track)).toBe(true);
    expect(readUploadState(rec.dir)).toMatchObject({ state: 'failed', attempt: 1, error: { code: 'BUCKET_UNREACHABLE' }, localDeleted: false });

    // The real CLI, with the usual AWS variables; without --s3 it goes where attempt 1 went (upload.json).
    const cli = new CliProcess(['upload', rec.dir], S3_ENV);
    const exit = await cli.exited;
    expect(exit.code, cli.stderr.join('\n')).toBe(0);
    expect(cli.stdout.join('\n')).toMatch(/uploaded 3 object\(s\).*\(attempt 2\); local copy deleted/);
    const base = `rec/upl/${rec.id}`;
    expect(await s3.keys(`${base}/`)).toEqual([`${base}/manifest.attempt-2.json`, `${base}/recording.attempt-2.mp4`, `${base}/tracks/Alice-a1-0.attempt-2.webm`]);
    expect(sha((await s3.get(`${base}/recording.attempt-2.mp4`)).body)).toBe(before);
    expect(existsSync(join(rec.dir, 'recording.mp4'))).toBe(false);
    const state = readUploadState(rec.dir)!;
    expect(state).toMatchObject({ state: 'uploaded', attempt: 2, localDeleted: true });
    expect(state.history).toEqual([expect.objectContaining({ attempt: 1, state: 'failed', error: expect.objectContaining({ code: 'BUCKET_UNREACHABLE' }) })]);
  }, 60_000);

  it('a store that accepts connections and never answers: the requests time out, failed, files kept', async () => {
    const hung = createServer((socket) => socket.on('data', () => undefined));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const sockets = new Set<Socket>();
    hung.on('connection', (s) => sockets.add(s));
    try {
      const rec = recordingWithComposite(20_000);
      const t0 = Date.now();
      const outcome = await uploadRecording(rec.dir, target({ endpoint: `http://127.0.0.1:${(hung.address() as AddressInfo).port}` }), { stallTimeoutMs: 300, retry: { tries: 2, baseDelayMs: 50 } });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(outcome.state).toBe('failed');
      expect(outcome.error?.code).toBe('BUCKET_UNREACHABLE');
      expect(outcome.error?.message).toMatch(/timed? ?out|Timeout/i);
      expect(readFileSync(join(rec.dir, 'recording.mp4')).equals(rec.composite)).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => hung.close(r));
    }
  });

  it('`rtc-record upload` against a store that is down exits non-zero, says why and how to retry, keeps the files', async () => {
    const rec = recordingWithComposite(20_000);
    const cli = new CliProcess(['upload', rec.dir, '--s3', 's3://recordings/x', '--s3-endpoint', 'http://127.0.0.1:9', '--s3-path-style'], S3_ENV);
    const exit = await cli.exited;
    expect(exit.code).toBe(1);
    expect(cli.stderr.join('\n')).not.toMatch(/NodeVersionSupportWarning/);
    expect(cli.stderr.at(-1)).toMatch(/\[BUCKET_UNREACHABLE\] upload failed \(attempt 1\): cannot reach bucket recordings at http:\/\/127\.0\.0\.1:9.*local files kept in .*retry with: rtc-record upload /);
    expect(readFileSync(join(rec.dir, 'recording.mp4')).equals(rec.composite)).toBe(true);
  }, 60_000);
});
