import { z } from 'zod';

// Every client message is validated here before the server acts on it; nothing unvalidated is ever forwarded.

export const MAX_MESSAGE_BYTES = 64 * 1024;
export const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// Letters/digits of any script plus a few separators; no control chars, no markup.
export const PARTICIPANT_NAME = /^[\p{L}\p{N} ._'-]{1,64}$/u;
const PEER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const ROLES = ['participant', 'recorder'] as const;
export type Role = (typeof ROLES)[number] | 'seed-sender' | 'seed-receiver';

const sdpSchema = z.object({
  type: z.enum(['offer', 'answer']),
  sdp: z.string().min(1).max(MAX_MESSAGE_BYTES),
});

const candidateSchema = z
  .object({
    candidate: z.string().max(1024),
    sdpMid: z.string().max(64).nullish(),
    sdpMLineIndex: z.number().int().min(0).max(1024).nullish(),
    usernameFragment: z.string().max(256).nullish(),
  })
  .nullable();

// `to` addresses a room peer (room protocol); without it the seed protocol's sender/receiver pairing applies.
const routing = {
  to: z.string().regex(PEER_ID).optional(),
  session: z.string().regex(SESSION_ID).optional(),
};

export const clientMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('join'),
    room: z.string().regex(ROOM_NAME, 'room must be 1-64 chars of A-Z a-z 0-9 _ -'),
    name: z.string().regex(PARTICIPANT_NAME, 'name must be 1-64 letters, digits, spaces or . _ \' -'),
    role: z.enum(ROLES).optional(),
  }),
  z.object({ type: z.literal('leave') }),
  z.object({ type: z.literal('sender') }),
  z.object({ type: z.literal('receiver') }),
  z.object({ type: z.literal('createOffer'), sdp: sdpSchema.extend({ type: z.literal('offer') }), ...routing }),
  z.object({ type: z.literal('createAnswer'), sdp: sdpSchema.extend({ type: z.literal('answer') }), ...routing }),
  z.object({ type: z.literal('iceCandidate'), candidate: candidateSchema, ...routing }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type RelayedMessage = Extract<ClientMessage, { type: 'createOffer' | 'createAnswer' | 'iceCandidate' }>;
export const MESSAGE_TYPES = clientMessageSchema.options.map((o) => o.shape.type.value);

export interface PeerInfo {
  id: string;
  name: string;
  role: Role;
  /** Server wall clock (epoch ms) when this peer joined: pages show how long a recorder has been recording. */
  joinedAt?: number;
}

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export type ServerMessage =
  | { type: 'joined'; id: string; room: string; peers: PeerInfo[]; iceServers: IceServer[]; serverTime: number }
  | { type: 'left'; room: string }
  | { type: 'peerJoined'; peer: PeerInfo }
  | { type: 'peerLeft'; id: string }
  | { type: 'error'; code: string; message: string; ref?: string }
  | (Omit<RelayedMessage, 'to'> & { from?: string });
