import type { SignalingServer } from '../signaling/SignalingServer.js';
import type { RoomRegistry } from './RoomRegistry.js';

/**
 * Keeps the registry in step with this server's rooms: a room is held (claimed, its listing refreshed) while anyone is
 * in it and released when it empties; members of a room another server has taken over are sent there.
 */
export function linkRooms(signaling: SignalingServer, registry: RoomRegistry, isOpen: (room: string) => boolean): void {
  signaling.on('peerJoined', (room) => registry.hold(room));
  signaling.on('peerLeft', (room) => (isOpen(room) ? registry.hold(room) : registry.release(room)));
  registry.on('lost', (room, url) => signaling.redirectRoom(room, url));
}
