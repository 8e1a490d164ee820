// A 50 MiB recording through the uploader to the in-process store on loopback: multipart (8 MiB parts, two in
// flight), verified; prints the throughput (README "Cloud storage (S3)").
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { uploadRecording } from '../../../src/recording/upload/uploadRecording.js';
import { useTestS3 } from '../../harness/s3Server.js';
import { fakeRecording } from '../../http/fakeRecording.js';

const s3 = useTestS3();

it('uploads 50 MiB in parts and reports the throughput', async () => {
  const rec = fakeRecording({ room: 'big', bytes: 1000 });
  const mp4 = randomBytes(50 * 1024 * 1024);
  writeFileSync(join(rec.dir, 'recording.mp4'), mp4);
  let parts = 0;
  const t0 = process.hrtime.bigint();
  const outcome = await uploadRecording(rec.dir, { bucket: s3.bucket, prefix: 'tp', endpoint: s3.endpoint, forcePathStyle: true, keyTemplate: '{room}/{id}/{file}' }, {
    onProgress: (p) => void (p.file === 'recording.mp4' && parts++),
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  expect(outcome.state).toBe('uploaded');
  expect(parts).toBe(7); // ceil(50 / 8) parts
  const stored = await s3.get(`tp/big/${rec.id}/recording.mp4`);
  expect(createHash('sha256').update(stored.body).digest('hex')).toBe(createHash('sha256').update(mp4).digest('hex'));
  const mbps = mp4.length / 1024 / 1024 / seconds;
  console.log(`upload throughput: 50 MiB (+ hash, verify, manifest) in ${seconds.toFixed(2)} s = ${mbps.toFixed(1)} MiB/s`);
  expect(mbps).toBeGreaterThan(5);
}, 120_000);
