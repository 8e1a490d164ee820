import type { SignalingServer } from '../signaling/SignalingServer.js';
import type { RoomRegistry } from './RoomRegistry.js';

/**
 * Keeps the registry in step with this server's rooms: a room is held (claimed, its listing republished at each change)
 * while it is open here and released the moment it closes; members of a room another server has taken over are sent
 * there.
 */
export function linkRooms(signaling: SignalingServer, registry: RoomRegistry): void {
  signaling.on('peerJoined', (room) => registry.hold(room));
  // `peerLeft` comes before the room is closed (it may be the last member): the release waits for `roomClosed`.
  signaling.on('peerLeft', (room) => registry.update(room));
  signaling.on('roomClosed', (room) => registry.release(room));
  registry.on('lost', (room, url) => signaling.redirectRoom(room, url));
}
