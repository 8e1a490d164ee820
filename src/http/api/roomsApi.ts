import type { ServerResponse } from 'node:http';
import type { RoomRegistry } from '../../cluster/RoomRegistry.js';
import type { RoomListing } from '../../cluster/RoomRegistryTypes.js';
import type { RecordingService } from '../../recording/RecordingService.js';
import type { SignalingServer } from '../../signaling/SignalingServer.js';
import type { Access } from '../auth.js';
import { sendJson } from '../respond.js';

/** This server's rooms as GET /api/rooms shows them: members and the recording running in each. */
export function localRooms(signaling: SignalingServer, service: RecordingService | undefined): RoomListing[] {
  return signaling.listRooms().map((r) => {
    const rec = service?.activeIn(r.room);
    return { ...r, ...(rec ? { recordingId: rec.id, recordingStartedAt: rec.manifest.startedAt, recordingState: rec.state } : {}) };
  });
}

/**
 * `GET /api/rooms`: active rooms, their members and the recording running in each (a room token sees its room only).
 * With several servers (`cluster`), the rooms of all of them, each once, with `server` (its public URL); the others'
 * as their owners last published them (at most a heartbeat old). Redis away: this server's rooms and `incomplete`.
 */
export async function listRooms(
  res: ServerResponse,
  signaling: SignalingServer,
  service: RecordingService | undefined,
  access: Access,
  cluster?: RoomRegistry,
): Promise<void> {
  access.requireSomewhere('view');
  let rooms: RoomListing[] = localRooms(signaling, service).map((r) => (cluster ? { ...r, server: cluster.publicUrl } : r));
  let incomplete: string | undefined;
  if (cluster) {
    const here = new Set(rooms.map((r) => r.room));
    try {
      const others = (await cluster.rooms()).filter((r) => r.server !== cluster.publicUrl && !here.has(r.room));
      rooms = [...rooms, ...others].sort((a, b) => a.room.localeCompare(b.room));
    } catch (err) {
      incomplete = `rooms of other servers are missing: Redis unreachable (${(err as Error).message})`;
    }
  }
  sendJson(res, 200, { rooms: rooms.filter((r) => access.can('view', r.room)), ...(incomplete ? { incomplete } : {}) });
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
