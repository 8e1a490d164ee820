// The --s3 flags through the real CLI: serve resumes a queued upload at start and serves the file from the bucket;
// bad flags are refused before anything runs.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTable } from '../../src/cli/listCommand.js';
import { listRecordingsOnDisk } from '../../src/recording/recordingList.js';
import { readUploadState } from '../../src/recording/upload/uploadState.js';
import { CliProcess } from '../harness/cli.js';
import { S3_ENV, TestS3Server } from '../harness/s3Server.js';
import { waitFor } from '../harness/util.js';
import { fakeRecording } from '../http/fakeRecording.js';
import { tempRoot } from '../recording/fakes.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let s3: TestS3Server;
beforeAll(async () => {
  s3 = await new TestS3Server().start();
});
afterAll(() => s3.close());

describe('--s3 on the CLI', () => {
  it('serve --s3: a recording left queued for upload is uploaded at start; its download then redirects into the bucket', async () => {
    const rec = fakeRecording({ room: 'srv' });
    // As a serve that stopped before it got to the upload leaves it.
    writeFileSync(join(rec.dir, 'upload.json'), JSON.stringify({ version: 1, state: 'queued', attempt: 0, bucket: s3.bucket, prefix: 'srv', objects: [], localDeleted: false, updatedAt: new Date().toISOString() }));
    const serve = new CliProcess(['serve', '--port', '0', '--out', rec.root, '--no-composite', '--s3', `s3://${s3.bucket}/srv`, '--s3-endpoint', s3.endpoint, '--s3-path-style'], S3_ENV);
    try {
      const url = (await serve.waitForLine(/^rtc-record server listening on /)).slice('rtc-record server listening on '.length);
      await waitFor(() => readUploadState(rec.dir)?.state === 'uploaded', { timeoutMs: 20_000, description: 'uploaded' });
      expect(readUploadState(rec.dir)).toMatchObject({ attempt: 1, localDeleted: true });
      const key = `srv/srv/${rec.id}/tracks/Alice-a1-0.webm`;
      expect(sha((await s3.get(key)).body)).toBe(sha(rec.track));
      const list = (await (await fetch(`${url}/api/recordings`)).json()) as { recordings: Array<{ id: string; upload?: { state: string } }> };
      expect(list.recordings.find((r) => r.id === rec.id)?.upload?.state).toBe('uploaded');
      const res = await fetch(`${url}/recordings/${rec.id}/files/tracks/Alice-a1-0.webm`);
      expect(res.redirected).toBe(true);
      expect(Buffer.from(await res.arrayBuffer()).equals(rec.track)).toBe(true);
      // `rtc-record list` gets an UPLOAD column.
      const table = formatTable(listRecordingsOnDisk(rec.root)).split('\n');
      expect(table[0]).toMatch(/^ID\s+ROOM\s+STATE\s+STARTED\s+DURATION\s+SIZE\s+UPLOAD\s+PARTICIPANTS$/);
      expect(table[1]).toMatch(new RegExp(`^${rec.id}\\s+srv\\s+done\\s.*\\s98 kB\\s+uploaded\\s+Alice$`));
    } finally {
      serve.kill('SIGTERM');
      await serve.exited;
    }
  });

  it('rtc-record --room … --s3 with the store down: the recording is kept, the upload failure is said, exit 1', async () => {
    const out = tempRoot('rtc-cli-s3-');
    const cli = new CliProcess(['--room', 'nobody', '--port', '0', '--out', out, '--duration', '1', '--no-composite', '--s3', 's3://rec/x', '--s3-endpoint', 'http://127.0.0.1:9', '--s3-path-style'], S3_ENV);
    const exit = await cli.exited;
    expect(exit.code, cli.stderr.join('\n')).toBe(1);
    const dir = cli.stdout.at(-1)!;
    expect(dir.startsWith(join(out, 'nobody'))).toBe(true);
    expect(cli.stderr.join('\n')).toMatch(new RegExp(`rtc-record: \\[BUCKET_UNREACHABLE\\] upload failed \\(attempt 1\\): cannot reach bucket rec at http://127\\.0\\.0\\.1:9.*; local files kept in ${dir}; retry with: rtc-record upload ${dir}`));
    expect(readUploadState(dir)).toMatchObject({ state: 'failed', error: { code: 'BUCKET_UNREACHABLE' } });
    expect(existsSync(join(dir, 'manifest.json'))).toBe(true);
  });

  it('refuses a bad --s3 before recording or serving, with a coded message', async () => {
    const rec = fakeRecording({ room: 'bad' });
    const bad = [
      ['--room', 'x', '--out', rec.root, '--s3', 'https://bucket/x'],
      ['serve', '--port', '0', '--out', rec.root, '--s3', 's3://Bad_Bucket'],
    ];
    const clis = bad.map((args) => new CliProcess(args, S3_ENV));
    const never = new CliProcess(['upload', rec.dir], S3_ENV);
    for (const [i, cli] of clis.entries()) {
      expect((await cli.exited).code, bad[i]!.join(' ')).toBe(1);
      expect(cli.stderr.at(-1), bad[i]!.join(' ')).toMatch(/^rtc-record: \[BAD_S3_TARGET\] /);
    }
    expect((await never.exited).code).toBe(1);
    expect(never.stderr.at(-1)).toMatch(/\[BAD_S3_TARGET\] .* was never uploaded: say where with --s3 s3:\/\/bucket\/prefix/);
    expect(readFileSync(join(rec.dir, 'tracks', 'Alice-a1-0.webm')).equals(rec.track)).toBe(true);
  });
});
