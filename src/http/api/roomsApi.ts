import type { ServerResponse } from 'node:http';
import type { RecordingService } from '../../recording/RecordingService.js';
import type { SignalingServer } from '../../signaling/SignalingServer.js';
import type { Access } from '../auth.js';
import { sendJson } from '../respond.js';

/** `GET /api/rooms`: active rooms, their members and the recording running in each (a room token sees its room only). */
export function listRooms(res: ServerResponse, signaling: SignalingServer, service: RecordingService | undefined, access: Access): void {
  access.requireSomewhere('view');
  const rooms = signaling
    .listRooms()
    .filter((r) => access.can('view', r.room))
    .map((r) => {
      const rec = service?.activeIn(r.room);
      return { ...r, ...(rec ? { recordingId: rec.id, recordingStartedAt: rec.manifest.startedAt, recordingState: rec.state } : {}) };
    });
  sendJson(res, 200, { rooms });
}

/**
 * `GET /api/session`: what the caller's token allows, so pages show only the controls that will work. Never 401: a page
 * without a token learns that it needs one.
 */
export function session(res: ServerResponse, service: RecordingService | undefined, access: Access): void {
  const tokenError = access.tokenError;
  sendJson(res, 200, {
    auth: access.authEnabled,
    room: access.room,
    scopes: access.scopes,
    ...(tokenError ? { tokenError } : {}),
    recordings: service !== undefined,
    autoRecord: service?.autoRecord ?? false,
    serverTime: Date.now(),
  });
}
