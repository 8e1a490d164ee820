import { lstatSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sep } from 'node:path';
import { z } from 'zod';
import { RtcRecordError } from '../../errors.js';
import { DOWNLOADABLE, partFileWithdrawn, summarize, uploadSummary } from '../../recording/recordingList.js';
import type { RecordingService } from '../../recording/RecordingService.js';
import { resolveInside } from '../../recording/storage.js';
import { presignStoredFile } from '../../recording/upload/storedDownload.js';
import { readUploadState } from '../../recording/upload/uploadState.js';
import { ROOM_NAME } from '../../signaling/messages.js';
import type { Access } from '../auth.js';
import { sendFileWithRanges } from '../fileResponse.js';
import { readJsonBody, sendJson } from '../respond.js';

// The recordings API (JSON) and file downloads:
//   GET    /api/recordings[?room=]        list (newest first)
//   POST   /api/recordings                {room, layout?, maxSpeakers?, video?, composite?, tracks?} → 201 {id, …}
//   GET    /api/recordings/:id            its manifest
//   POST   /api/recordings/:id/stop       stop; answers once finalized
//   DELETE /api/recordings/:id            delete a finished recording
//   GET    /recordings/:id/files/<file>   download (Range; ?download=1 for attachment); once the local copy was
//                                         deleted after a verified upload: 302 to a presigned link into the bucket

const startBody = z
  .object({
    room: z.string(),
    layout: z.enum(['grid', 'speaker']).optional(),
    maxSpeakers: z.number().int().min(1).max(16).optional(),
    video: z.boolean().optional(),
    composite: z.boolean().optional(),
    tracks: z.boolean().optional(),
  })
  .strict();

export interface RecordingsApiContext {
  service?: RecordingService;
  access: Access;
}

/** Handles the request if it is a recordings route; false otherwise. */
export async function handleRecordingsApi(req: IncomingMessage, res: ServerResponse, url: URL, ctx: RecordingsApiContext): Promise<boolean> {
  const segments = pathSegments(url.pathname);
  const method = req.method ?? 'GET';
  if (segments[0] === 'api' && segments[1] === 'recordings') {
    const service = requireService(ctx);
    const [, , id, action, ...rest] = segments;
    if (rest.length) throw notFound();
    if (id === undefined) {
      if (method === 'GET' || method === 'HEAD') return list(res, url, service, ctx.access), true;
      if (method === 'POST') return await start(req, res, service, ctx.access), true;
      throw methodNotAllowed('GET, POST');
    }
    if (action === undefined) {
      if (method === 'GET' || method === 'HEAD') return getOne(res, id, service, ctx.access), true;
      if (method === 'DELETE') return remove(res, id, service, ctx.access), true;
      throw methodNotAllowed('GET, DELETE');
    }
    if (action === 'stop') {
      if (method !== 'POST') throw methodNotAllowed('POST');
      return await stop(res, id, service, ctx.access), true;
    }
    throw notFound();
  }
  if (segments[0] === 'recordings' && segments[2] === 'files' && segments.length > 3) {
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
    const service = requireService(ctx);
    await download(req, res, url, segments[1]!, segments.slice(3).join('/'), service, ctx.access);
    return true;
  }
  return false;
}

function list(res: ServerResponse, url: URL, service: RecordingService, access: Access): void {
  access.requireSomewhere('view');
  const room = url.searchParams.get('room') ?? undefined;
  if (room !== undefined) {
    checkRoom(room);
    access.require('view', room);
  }
  // A token for one room sees that room's recordings only.
  const scoped = room ?? (access.room && access.room !== '*' ? access.room : undefined);
  let recordings = service.list(scoped);
  const state = url.searchParams.get('state');
  if (state) recordings = recordings.filter((r) => r.state === state);
  sendJson(res, 200, { recordings });
}

async function start(req: IncomingMessage, res: ServerResponse, service: RecordingService, access: Access): Promise<void> {
  access.requireSomewhere('record');
  const parsed = startBody.safeParse(await readJsonBody(req));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RtcRecordError('INVALID_FIELD', `${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const { room, ...options } = parsed.data;
  checkRoom(room);
  access.require('record', room);
  const rec = await service.start(room, options, 'api');
  sendJson(res, 201, { id: rec.id, room: rec.room, state: rec.state, startedAt: rec.manifest.startedAt }, { location: `/api/recordings/${rec.id}` });
}

function getOne(res: ServerResponse, id: string, service: RecordingService, access: Access): void {
  access.requireSomewhere('view');
  const { room, dir, manifest } = service.get(id);
  access.require('view', room);
  const upload = readUploadState(dir);
  sendJson(res, 200, upload ? { ...manifest, upload: uploadSummary(upload) } : manifest);
}

async function stop(res: ServerResponse, id: string, service: RecordingService, access: Access): Promise<void> {
  access.requireSomewhere('record');
  const { room, dir } = service.get(id);
  access.require('record', room);
  const manifest = await service.stop(id);
  sendJson(res, 200, summarize({ room, id, dir }, manifest));
}

function remove(res: ServerResponse, id: string, service: RecordingService, access: Access): void {
  access.requireSomewhere('delete');
  const { room } = service.get(id);
  access.require('delete', room);
  service.delete(id);
  res.writeHead(204).end();
}

async function download(req: IncomingMessage, res: ServerResponse, url: URL, id: string, file: string, service: RecordingService, access: Access): Promise<void> {
  access.requireSomewhere('view');
  // Only the files a recording is made of, by their exact relative names: no other path can even be expressed.
  if (!DOWNLOADABLE.test(file)) throw notFound();
  const { room, dir, manifest } = service.get(id);
  access.require('view', room);
  if (partFileWithdrawn(file, manifest.state, manifest.composite?.state)) throw new RtcRecordError('NOT_FOUND', `${file}: the recording is being finalized`);
  const path = resolveInside(service.root, room, id, file);
  if (!path.startsWith(dir + sep)) throw new RtcRecordError('FORBIDDEN', 'outside the recording');
  const base = file.slice(file.lastIndexOf('/') + 1);
  const attachment = url.searchParams.get('download') === '1';
  if (!isRegularFile(path)) {
    // Deleted after a verified upload: the bucket has it (a short-lived link, signed here).
    const link = await presignStoredFile(dir, file, { filename: `${room}-${id}-${base}`, attachment });
    if (link) {
      res.writeHead(302, { location: link, 'cache-control': 'no-store' }).end();
      return;
    }
  }
  sendFileWithRanges(req, res, path, {
    filename: `${room}-${id}-${base}`,
    disposition: attachment ? 'attachment' : 'inline',
  });
}

function isRegularFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

/** `GET /api/workers`: the recording workers (`serve --redis`) with their cores, free cores and jobs; [] without. */
export async function listWorkers(res: ServerResponse, service: RecordingService | undefined, access: Access): Promise<void> {
  access.requireEverywhere('view');
  if (!service) throw new RtcRecordError('RECORDINGS_DISABLED', 'this server does not run recordings (start it with rtc-record serve)');
  sendJson(res, 200, { workers: await service.workers() });
}

/** Decoded path segments; a malformed escape is a 400, not a crash. */
function pathSegments(pathname: string): string[] {
  try {
    return pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  } catch {
    throw new RtcRecordError('BAD_REQUEST', 'malformed percent-encoding in the path');
  }
}

function checkRoom(room: string): void {
  if (!ROOM_NAME.test(room)) throw new RtcRecordError('BAD_ROOM_NAME', 'room must be 1-64 chars of A-Z a-z 0-9 _ -');
}

function requireService(ctx: RecordingsApiContext): RecordingService {
  if (!ctx.service) throw new RtcRecordError('RECORDINGS_DISABLED', 'this server does not run recordings (start it with rtc-record serve)');
  return ctx.service;
}

function notFound(): RtcRecordError {
  return new RtcRecordError('NOT_FOUND', 'no such resource');
}

function methodNotAllowed(allow: string): RtcRecordError {
  return new RtcRecordError('METHOD_NOT_ALLOWED', `method not allowed; use ${allow}`);
}
