import { z } from 'zod';

// Every client message is validated here before the server acts on it; nothing unvalidated is ever forwarded.

export const MAX_MESSAGE_BYTES = 64 * 1024;
export const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// Letters/digits of any script plus a few separators; no control chars, no markup.
export const PARTICIPANT_NAME = /^[\p{L}\p{N} ._'-]{1,64}$/u;
const PEER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A media section id (`a=mid`, RFC 8843 allows 1-16 token characters; ours are digits). */
const MID = /^[A-Za-z0-9_.-]{1,16}$/;
/** Largest tile edge accepted, in device pixels (an 8K screen at devicePixelRatio 2 is 15360 wide). */
export const MAX_TILE_PX = 16384;

export const ROLES = ['participant', 'recorder'] as const;
/** `sfu`: the server's forwarding peer, an in-process member of every SFU room (never a tile, never recorded). */
export type Role = (typeof ROLES)[number] | 'seed-sender' | 'seed-receiver' | 'sfu';

/** `sfu`: everybody publishes once to the server, which forwards; `p2p`: a full mesh (the lecture's first design). */
export const ROOM_MODES = ['sfu', 'p2p'] as const;
export type RoomMode = (typeof ROOM_MODES)[number];
/**
 * Audio in SFU rooms: `forward` sends every voice to every listener; `mcu` has the server mix the loudest voices and send
 * each participant one track (mix-minus-self); `auto` forwards until the room reaches the server's MCU size.
 */
export const ROOM_AUDIO = ['forward', 'mcu', 'auto'] as const;
export type RoomAudio = (typeof ROOM_AUDIO)[number];
/** `mix`: the server's live audio mix (MCU), sent by the `sfu` member. */
export type TrackSource = 'camera' | 'screen' | 'microphone' | 'mix';

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
    /** Wished mode when this join opens the room; a room keeps the mode it was opened with (see `joined.mode`). */
    mode: z.enum(ROOM_MODES).optional(),
    /** Wished audio handling when this join opens an SFU room (see `joined.audio`). */
    audio: z.enum(ROOM_AUDIO).optional(),
    /** SFU rooms: false = publish only, receive nothing (a recorded-only client). */
    subscribe: z.boolean().optional(),
  }),
  z.object({ type: z.literal('leave') }),
  z.object({ type: z.literal('sender') }),
  z.object({ type: z.literal('receiver') }),
  z.object({ type: z.literal('createOffer'), sdp: sdpSchema.extend({ type: z.literal('offer') }), ...routing }),
  z.object({ type: z.literal('createAnswer'), sdp: sdpSchema.extend({ type: z.literal('answer') }), ...routing }),
  z.object({ type: z.literal('iceCandidate'), candidate: candidateSchema, ...routing }),
  /**
   * SFU rooms, to the `sfu` peer: the page shows the video of media section `mid` (of its receiving PC) at this size,
   * in device pixels (CSS px × devicePixelRatio); 0 × 0 when it is not shown. Simulcast tracks are forwarded in the
   * smallest layer that covers it.
   */
  z.object({
    type: z.literal('tileSize'),
    to: z.string().regex(PEER_ID, 'to must be a peer id (the room\'s sfu peer)'),
    mid: z.string().regex(MID, 'mid must be a media section id: 1-16 of A-Z a-z 0-9 _ . -'),
    width: z.number().int().min(0).max(MAX_TILE_PX),
    height: z.number().int().min(0).max(MAX_TILE_PX),
  }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type RelayedMessage = Extract<ClientMessage, { type: 'createOffer' | 'createAnswer' | 'iceCandidate' }>;
export type TileSizeMessage = Extract<ClientMessage, { type: 'tileSize' }>;
export const MESSAGE_TYPES = clientMessageSchema.options.map((o) => o.shape.type.value);

export interface PeerInfo {
  id: string;
  name: string;
  role: Role;
  /** Server wall clock (epoch ms) when this peer joined: pages show how long a recorder has been recording. */
  joinedAt?: number;
  /** Present (false) when the peer joined an SFU room to publish only. */
  subscribe?: boolean;
}

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export type ServerMessage =
  | { type: 'joined'; id: string; room: string; mode: RoomMode; audio: RoomAudio; peers: PeerInfo[]; iceServers: IceServer[]; serverTime: number }
  | { type: 'left'; room: string }
  | { type: 'peerJoined'; peer: PeerInfo }
  | { type: 'peerLeft'; id: string }
  | { type: 'error'; code: string; message: string; ref?: string }
  /** Instead of `joined`: the room lives on the server at `url` (its signaling WebSocket); join there. */
  | { type: 'redirect'; room: string; url: string }
  | TrackPublished
  | TrackUnpublished
  /** SFU → participants of an MCU room: who is in the live mix now (participant ids, loudest first). */
  | { type: 'mixSpeakers'; from: string; speakers: string[] }
  /** SFU → subscriber: the video of its media section `mid` is not sent now, because not even its lowest layer fits the subscriber's bandwidth. */
  | VideoPaused
  /** SFU → subscriber: the video of `mid` paused for bandwidth is sent again (from a keyframe). */
  | VideoResumed
  | RelayedToPeer<RelayedMessage>
  /** A page's `tileSize`, as the room's `sfu` member gets it. */
  | RelayedToPeer<TileSizeMessage>;

/** A relayed message as its addressee gets it: `to` removed, `from` added. */
type RelayedToPeer<T> = T extends unknown ? Omit<T, 'to'> & { from?: string } : never;

/** SFU → subscriber: the media section `mid` no longer carries `participant`'s track (stopped sending it, or left). */
export interface TrackUnpublished {
  type: 'trackUnpublished';
  from: string;
  participant: string;
  mid: string;
}

/**
 * SFU → subscriber, sent before the offer that carries it: the media section `mid` of the subscriber's receiving PC
 * holds `participant`'s `kind` track from `source`.
 */
export interface TrackPublished {
  type: 'trackPublished';
  from: string;
  participant: string;
  kind: 'audio' | 'video';
  source: TrackSource;
  mid: string;
}

export interface VideoPaused {
  type: 'videoPaused';
  from: string;
  mid: string;
  reason: 'bandwidth';
}

export interface VideoResumed {
  type: 'videoResumed';
  from: string;
  mid: string;
}
