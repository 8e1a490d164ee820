// Links to files that exist: a recording that is finalizing never offers its part file (it is about to be remuxed into
// the final one and removed), in the list or as a download; once the final file is there, that is offered.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/HttpServer.js';
import type { RunningServer } from '../../src/http/HttpServerTypes.js';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import type { RecordingSummary } from '../../src/recording/RecordingServiceTypes.js';
import { fakeRecording, type FakeRecording } from './fakeRecording.js';

describe('a finalizing recording offers no part file', () => {
  let server: RunningServer;
  let rec: FakeRecording;

  const setManifest = (patch: Partial<Manifest>): void => {
    const m = JSON.parse(readFileSync(join(rec.dir, 'manifest.json'), 'utf8')) as Manifest;
    writeFileSync(join(rec.dir, 'manifest.json'), JSON.stringify({ ...m, ...patch }));
  };
  const listed = async (): Promise<RecordingSummary> => {
    const body = (await (await fetch(`${server.url}/api/recordings`)).json()) as { recordings: RecordingSummary[] };
    return body.recordings.find((r) => r.id === rec.id)!;
  };
  const download = (file: string) => fetch(`${server.url}/recordings/${rec.id}/files/${file}`);
  const composite = (state: string) => ({ file: 'recording.mp4', state, format: 'mp4', width: 1280, height: 720, fps: 30, layout: 'grid', maxSpeakers: 3, startedAtMs: 0 }) as unknown as Manifest['composite'];

  beforeAll(async () => {
    rec = fakeRecording({ state: 'recording' });
    writeFileSync(join(rec.dir, 'recording.part.mp4'), Buffer.alloc(1000));
    server = await startServer({ port: 0, recordings: { outputRoot: rec.root, recover: false } });
  });
  afterAll(() => server.close());

  it('while recording: the part file is offered and served', async () => {
    setManifest({ state: 'recording', composite: composite('recording') });
    expect((await listed()).files.map((f) => f.path)).toContain('recording.part.mp4');
    expect((await download('recording.part.mp4')).status).toBe(200);
  });

  it('finalizing (the recording, or only its mixed file, as a CLI recorder writes it): neither listed nor served', async () => {
    for (const patch of [{ state: 'finalizing' as const, composite: composite('finalizing') }, { state: 'recording' as const, composite: composite('finalizing') }]) {
      setManifest(patch);
      const r = await listed();
      expect(r.files.map((f) => f.path)).toEqual(['tracks/Alice-a1-0.webm', 'manifest.json']);
      expect(r.composite).toMatchObject({ state: 'finalizing' });
      const res = await download('recording.part.mp4');
      expect(res.status).toBe(404);
      expect(((await res.json()) as { message: string }).message).toMatch(/being finalized/);
    }
  });

  it('done: the final file is offered', async () => {
    renameSync(join(rec.dir, 'recording.part.mp4'), join(rec.dir, 'recording.mp4'));
    setManifest({ state: 'done', composite: composite('done') });
    expect((await listed()).files.map((f) => f.path)).toEqual(['recording.mp4', 'tracks/Alice-a1-0.webm', 'manifest.json']);
    expect((await download('recording.mp4')).status).toBe(200);
  });
});
