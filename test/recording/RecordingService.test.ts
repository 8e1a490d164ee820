// The recordings service with stand-in recorders: several rooms at once, auto-record following presence, stop, list
// from disk, fatal write errors, shutdown.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RtcRecordError } from '../../src/errors.js';
import { RecordingService } from '../../src/recording/RecordingService.js';
import type { RecordingServiceOptions } from '../../src/recording/RecordingServiceTypes.js';
import { waitFor } from '../harness/util.js';
import { FakeRecorder, fakeStarter, FakeRooms, quietLogger, tempRoot } from './fakes.js';

const services: RecordingService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.shutdown();
});

function service(extra: Partial<RecordingServiceOptions> = {}) {
  const starter = fakeStarter();
  const rooms = new FakeRooms();
  const svc = new RecordingService({
    outputRoot: tempRoot(),
    serverUrl: 'ws://127.0.0.1:1/ws',
    logger: quietLogger,
    rooms,
    startRecorder: starter.start,
    recoveryIntervalMs: 0,
    autoStopGraceMs: 50,
    ...extra,
  });
  services.push(svc);
  return { svc, rooms, started: starter.started };
}

describe('RecordingService', () => {
  it('records several rooms at once, one recorder each; a room cannot be recorded twice', async () => {
    const { svc, started } = service();
    const a = await svc.start('a');
    const b = await svc.start('b');
    expect(started.map((r) => r.options.room)).toEqual(['a', 'b']);
    expect(started[0]!.options.serverUrl).toBe('ws://127.0.0.1:1/ws');
    await expect(svc.start('a')).rejects.toMatchObject({ code: 'ALREADY_RECORDING' });
    expect(svc.list().map((r) => [r.room, r.state]).sort()).toEqual([
      ['a', 'recording'],
      ['b', 'recording'],
    ]);
    const m = await svc.stop(a.id);
    expect(m.state).toBe('done');
    expect(svc.list().find((r) => r.id === a.id)!.state).toBe('done');
    expect(svc.activeRecordings().map((r) => r.id)).toEqual([b.id]);
    await expect(svc.stop(a.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('passes per-recording options over the defaults', async () => {
    const { svc, started } = service({ composite: { width: 320, height: 240, fps: 15, layout: 'grid' } });
    await svc.start('a', { layout: 'speaker', maxSpeakers: 2, video: false });
    await svc.start('b', { composite: false });
    expect(started[0]!.options.composite).toEqual({ width: 320, height: 240, fps: 15, layout: 'speaker', maxSpeakers: 2, video: false });
    expect(started[1]!.options.composite).toBe(false);
    expect(started.map((s) => s.options.tracks)).toEqual([true, true]);
  });

  it('mixed only (tracks: false) by default or per recording; refuses a recording of nothing', async () => {
    const { svc, started } = service({ tracks: false });
    await svc.start('a');
    await svc.start('b', { tracks: true });
    expect(started.map((s) => s.options.tracks)).toEqual([false, true]);
    await expect(svc.start('c', { composite: false })).rejects.toMatchObject({ code: 'INVALID_FIELD' });
    expect(svc.list().some((r) => r.room === 'c')).toBe(false);
  });

  it('caps simultaneous recordings', async () => {
    const { svc } = service({ maxConcurrent: 1 });
    await svc.start('a');
    await expect(svc.start('b')).rejects.toMatchObject({ code: 'TOO_MANY_RECORDINGS' });
  });

  it('auto-record: starts with the first participant, ignores recorders, stops after the room empties', async () => {
    const { svc, rooms, started } = service({ autoRecord: true });
    const events: string[] = [];
    svc.on('recordingStarted', (e) => events.push(`started ${e.room} ${e.trigger}`));
    svc.on('recordingFinished', (m) => events.push(`finished ${m.room}`));
    svc.on('participantJoined', (e) => events.push(`joined ${e.peer.name}`));
    rooms.join('x', 'recorder', 'recorder');
    expect(started).toHaveLength(0);
    const alice = rooms.join('x', 'Alice');
    await waitFor(() => svc.activeIn('x'));
    const bob = rooms.join('x', 'Bob');
    rooms.leave('x', alice);
    await new Promise((r) => setTimeout(r, 120));
    expect(svc.activeIn('x')).toBeDefined(); // Bob is still there
    rooms.leave('x', bob);
    await waitFor(() => started[0]!.stopped, { description: 'auto stop' });
    await waitFor(() => !svc.activeIn('x'));
    expect(events).toEqual(['joined Alice', 'started x auto', 'joined Bob', 'finished x']);
  });

  it('auto-record: a quick rejoin within the grace period keeps one recording', async () => {
    const { svc, rooms, started } = service({ autoRecord: true, autoStopGraceMs: 300 });
    const a = rooms.join('x', 'Alice');
    await waitFor(() => svc.activeIn('x'));
    rooms.leave('x', a);
    rooms.join('x', 'Alice');
    await new Promise((r) => setTimeout(r, 500));
    expect(started).toHaveLength(1);
    expect(started[0]!.stopped).toBe(false);
  });

  it('auto-record: stopped by hand, not restarted until the room has emptied', async () => {
    const { svc, rooms, started } = service({ autoRecord: true });
    const a = rooms.join('x', 'Alice');
    const rec = await waitFor(() => svc.activeIn('x'));
    await svc.stop(rec.id);
    rooms.join('x', 'Bob');
    await new Promise((r) => setTimeout(r, 50));
    expect(svc.activeIn('x')).toBeUndefined();
    rooms.leave('x', a);
    rooms.leave('x', rooms.listRooms()[0]!.participants[0]!);
    rooms.join('x', 'Carol');
    await waitFor(() => svc.activeIn('x'));
    expect(started).toHaveLength(2);
  });

  it('a full disk fails the recording with the reason, keeps the files, and the service goes on', async () => {
    const { svc } = service();
    const failed: unknown[] = [];
    svc.on('recordingFailed', (e) => failed.push(e));
    const rec = await svc.start('a');
    const recorder = (svc as unknown as { active: Map<string, { recorder: import('./fakes.js').FakeRecorder }> }).active.get('a')!.recorder;
    writeFileSync(join(rec.dir, 'tracks', 'kept.webm'), 'x');
    recorder.emit('error', new RtcRecordError('DISK_FULL', 'writing tracks/kept.webm: ENOSPC: no space left on device'));
    await waitFor(() => !svc.activeIn('a'));
    expect(failed).toEqual([{ id: rec.id, room: 'a', code: 'DISK_FULL', error: expect.stringMatching(/DISK_FULL: .*no space left/) }]);
    const onDisk = JSON.parse(readFileSync(join(rec.dir, 'manifest.json'), 'utf8'));
    expect(onDisk).toMatchObject({ state: 'failed', error: expect.stringMatching(/ENOSPC/) });
    expect(svc.list()[0]).toMatchObject({ state: 'failed', files: expect.arrayContaining([expect.objectContaining({ path: 'tracks/kept.webm' })]) });
    await svc.start('b');
  });

  it('a recorder that cannot start is reported and leaves no running entry', async () => {
    const { svc } = service({
      startRecorder: async () => {
        throw new RtcRecordError('OUTPUT_NOT_WRITABLE', 'cannot create the recording directory under /nope: EACCES');
      },
    });
    const failed: unknown[] = [];
    svc.on('recordingFailed', (e) => failed.push(e));
    await expect(svc.start('a')).rejects.toMatchObject({ code: 'OUTPUT_NOT_WRITABLE' });
    expect(failed).toEqual([{ room: 'a', code: 'OUTPUT_NOT_WRITABLE', error: expect.stringMatching(/EACCES/) }]);
    expect(svc.activeRecordings()).toEqual([]);
  });

  it('shutdown finalizes every running recording and refuses new ones', async () => {
    const { svc, started } = service();
    await svc.start('a');
    await svc.start('b');
    await svc.shutdown();
    expect(started.every((r) => r.stopped)).toBe(true);
    await expect(svc.start('c')).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(svc.list().map((r) => r.state)).toEqual(['done', 'done']);
  });

  it('while a recording stops, its part file is not offered (it is being remuxed away); the final file is, once there', async () => {
    let finish!: () => void;
    const { svc } = service({
      startRecorder: async (options) => {
        const r = new FakeRecorder(options);
        writeFileSync(join(r.dir, 'recording.part.mp4'), Buffer.alloc(100));
        const stop = r.stop.bind(r);
        r.stop = async () => {
          await new Promise<void>((resolve) => (finish = resolve));
          renameSync(join(r.dir, 'recording.part.mp4'), join(r.dir, 'recording.mp4'));
          return stop();
        };
        return r;
      },
    });
    const rec = await svc.start('a');
    expect(svc.list()[0]!.files.map((f) => f.path)).toEqual(['recording.part.mp4', 'manifest.json']);
    const stopped = svc.stop(rec.id);
    expect(svc.list()[0]).toMatchObject({ state: 'finalizing', files: [{ path: 'manifest.json' }] });
    finish();
    await stopped;
    expect(svc.list()[0]).toMatchObject({ state: 'done', files: [{ path: 'recording.mp4' }, { path: 'manifest.json' }] });
  });

  it('refuses to delete a running recording; deletes a finished one', async () => {
    const { svc } = service();
    const rec = await svc.start('a');
    expect(() => svc.delete(rec.id)).toThrow(expect.objectContaining({ code: 'RECORDING_ACTIVE' }));
    await svc.stop(rec.id);
    svc.delete(rec.id);
    expect(svc.list()).toEqual([]);
    expect(() => svc.get(rec.id)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});
