import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RtcRecordError } from '../errors.js';
import { ROOM_NAME } from '../signaling/messages.js';

/**
 * Signed tokens for `--secret`: `v1.<payload>.<HMAC-SHA256>` (base64url). Stateless, so the CLI can mint them
 * (`rtc-record token`) without talking to the server, and they work across restarts.
 */

export const SCOPES = ['join', 'record', 'view', 'delete'] as const;
export type Scope = (typeof SCOPES)[number];
/** `*` grants every room. */
export const ANY_ROOM = '*';

export interface TokenClaims {
  room: string;
  scopes: Scope[];
  /** Expiry, Unix seconds. */
  exp: number;
}

interface WirePayload {
  r: string;
  s: Scope[];
  e: number;
}

export interface MintOptions {
  room: string;
  scopes?: readonly Scope[];
  ttlSeconds?: number;
  now?: number;
}

const DEFAULT_TTL_SECONDS = 24 * 3600;
const MAX_TOKEN_LENGTH = 1024;

export function mintToken(secret: string, opts: MintOptions): string {
  if (!secret) throw new RtcRecordError('BAD_REQUEST', 'a secret is required to mint tokens');
  if (opts.room !== ANY_ROOM && !ROOM_NAME.test(opts.room)) {
    throw new RtcRecordError('BAD_ROOM_NAME', `bad room name ${JSON.stringify(opts.room)}: use 1-64 of A-Z a-z 0-9 _ - (or * for all rooms)`);
  }
  const scopes = [...new Set(opts.scopes ?? SCOPES)];
  for (const s of scopes) if (!SCOPES.includes(s)) throw new RtcRecordError('BAD_REQUEST', `unknown scope ${s}`);
  const ttl = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!(ttl > 0)) throw new RtcRecordError('BAD_REQUEST', 'ttl must be positive');
  const now = opts.now ?? Date.now();
  const payload: WirePayload = { r: opts.room, s: scopes, e: Math.floor(now / 1000 + ttl) };
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `v1.${body}.${sign(secret, body)}`;
}

/** Throws UNAUTHORIZED for anything but a well-formed, correctly signed, unexpired token. */
export function verifyToken(secret: string, token: string, now = Date.now()): TokenClaims {
  if (token.length > MAX_TOKEN_LENGTH) throw unauthorized('token too long');
  const [version, body, sig, ...rest] = token.split('.');
  if (version !== 'v1' || !body || !sig || rest.length) throw unauthorized('malformed token');
  const expected = Buffer.from(sign(secret, body));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw unauthorized('bad token signature');
  let payload: WirePayload;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as WirePayload;
  } catch {
    throw unauthorized('malformed token');
  }
  if (typeof payload.r !== 'string' || !Array.isArray(payload.s) || typeof payload.e !== 'number') throw unauthorized('malformed token');
  if (payload.e * 1000 <= now) throw unauthorized('token expired');
  return { room: payload.r, scopes: payload.s.filter((s) => SCOPES.includes(s)), exp: payload.e };
}

function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(`v1.${body}`).digest('base64url');
}

function unauthorized(message: string): RtcRecordError {
  return new RtcRecordError('UNAUTHORIZED', message);
}

/**
 * What a request (or WebSocket) may do. Without a secret everything is allowed (the default: a meeting on a trusted
 * network); with one, every action needs a token granting that scope for that room.
 */
export class Access {
  private constructor(
    private readonly enabled: boolean,
    private readonly claims?: TokenClaims,
    /** Why there are no claims (missing/invalid token), for the 401 message. */
    private readonly problem?: string,
  ) {}

  static open(): Access {
    return new Access(false);
  }

  /** `token` undefined: no token was given. */
  static fromToken(secret: string | undefined, token: string | undefined): Access {
    if (!secret) return new Access(false);
    if (!token) return new Access(true, undefined, 'a token is required (?token= or Authorization: Bearer)');
    try {
      return new Access(true, verifyToken(secret, token));
    } catch (err) {
      return new Access(true, undefined, (err as Error).message);
    }
  }

  /** Why a given token was refused (for pages that need to say so). */
  get tokenError(): string | undefined {
    return this.enabled && !this.claims ? this.problem : undefined;
  }

  get authEnabled(): boolean {
    return this.enabled;
  }

  /** The one room this token is for, `*`, or undefined without auth. */
  get room(): string | undefined {
    return this.claims?.room;
  }

  get scopes(): readonly Scope[] {
    return this.enabled ? (this.claims?.scopes ?? []) : SCOPES;
  }

  can(scope: Scope, room: string): boolean {
    if (!this.enabled) return true;
    if (!this.claims) return false;
    return (this.claims.room === ANY_ROOM || this.claims.room === room) && this.claims.scopes.includes(scope);
  }

  /** Allowed to use `scope` on every room (listing all rooms, metrics). */
  canEverywhere(scope: Scope): boolean {
    return this.can(scope, ANY_ROOM) && (!this.enabled || this.claims!.room === ANY_ROOM);
  }

  /** Throws UNAUTHORIZED (no/bad token → 401) or FORBIDDEN (valid token, wrong room or scope → 403). */
  require(scope: Scope, room: string): void {
    if (this.can(scope, room)) return;
    if (!this.claims) throw new RtcRecordError('UNAUTHORIZED', this.problem ?? 'a token is required');
    throw new RtcRecordError('FORBIDDEN', `this token does not grant ${scope} on room ${room}`);
  }

  requireEverywhere(scope: Scope): void {
    if (this.canEverywhere(scope)) return;
    if (!this.claims) throw new RtcRecordError('UNAUTHORIZED', this.problem ?? 'a token is required');
    throw new RtcRecordError('FORBIDDEN', `this token does not grant ${scope} on every room`);
  }

  /** Room-scoped tokens may still use a listing, narrowed to their room. */
  requireSomewhere(scope: Scope): void {
    if (!this.enabled) return;
    if (!this.claims) throw new RtcRecordError('UNAUTHORIZED', this.problem ?? 'a token is required');
    if (!this.claims.scopes.includes(scope)) throw new RtcRecordError('FORBIDDEN', `this token does not grant ${scope}`);
  }
}

/** The token of an HTTP request or WebSocket upgrade: `Authorization: Bearer …`, else `?token=`. */
export function requestToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (m) return m[1];
  return url.searchParams.get('token') ?? undefined;
}
