// Rooms across servers: several `serve` processes share one Redis, and each room lives on exactly one of them. This is
// neither signaling (which knows nothing of other servers: it only asks a placeRoom hook) nor recording (which only
// needs to know where a room lives), so it sits in src/cluster, used by src/http and src/cli.
//
// In Redis: `<prefix>room:<name>` = the owner's public URL, with a lease (PX) that the owner refreshes while the room
// is occupied and deletes when it empties; a dead owner's lease runs out and the next join anywhere claims the room.
// `<prefix>room-info:<name>` = the owner's listing of the room (JSON, same lease) for GET /api/rooms on any server.
// Every decision is one Lua script, atomic in Redis: of concurrent claims exactly one wins.
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { RtcRecordError } from '../errors.js';
import { logger as defaultLogger, type Logger } from '../logger.js';
import type {
  ClusterRoomListing,
  RoomListing,
  RoomPlacement,
  RoomRegistryEvents,
  RoomRegistryOptions,
} from './RoomRegistryTypes.js';

const DEFAULT_LEASE_MS = 10_000;
const DEFAULT_PREFIX = 'rtc-record:';

/**
 * KEYS: owner key, info key. ARGV: me, lease ms, listing JSON ('' = none). Claims the room when free, extends our own
 * lease (and publishes the listing) when it is ours; returns the owner either way.
 */
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  owner = ARGV[1]
elseif owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if owner == ARGV[1] then
  if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
end
return owner`;

/** KEYS: owner key, info key. ARGV: me. Deletes both only while the room is ours (never another server's claim). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0`;

interface RegistryCommands {
  rtcClaim(owner: string, info: string, me: string, leaseMs: number, listing: string): Promise<string>;
  rtcRelease(owner: string, info: string, me: string): Promise<number>;
}

/** Signaling WebSocket URL of the server at public base URL `publicUrl` (http→ws, https→wss, path /ws). */
export function signalingUrlOf(publicUrl: string): string {
  const u = new URL(publicUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = '/ws';
  u.search = '';
  return u.toString();
}

/** `http://host:port` from what a user typed (`--public-url`): a base URL, nothing after the port. */
export function normalizePublicUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new RtcRecordError('BAD_REQUEST', `--public-url ${JSON.stringify(raw)} is not a URL (e.g. http://10.0.0.5:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RtcRecordError('BAD_REQUEST', `--public-url must be http:// or https:// (got ${u.protocol})`);
  if (u.pathname !== '/' || u.search || u.hash) throw new RtcRecordError('BAD_REQUEST', `--public-url is a base URL without a path (got ${raw})`);
  return u.origin;
}

/**
 * Where `room` lives now: its owner's signaling WebSocket URL, or undefined when no server has it. For whoever must act
 * on the owning server from outside it (recording jobs: a recorder joins the room there), with any ioredis client.
 */
export async function roomOwnerUrl(redis: Redis, room: string, keyPrefix = DEFAULT_PREFIX): Promise<string | undefined> {
  const owner = await redis.get(`${keyPrefix}room:${room}`);
  return owner ? signalingUrlOf(owner) : undefined;
}

/** This server's view of the cluster's rooms: places joins, holds the rooms it serves, lists them all. */
export class RoomRegistry extends EventEmitter<RoomRegistryEvents> {
  readonly publicUrl: string;
  readonly leaseMs: number;
  private readonly prefix: string;
  private readonly held = new Set<string>();
  private readonly describe: (room: string) => RoomListing | undefined;
  private readonly placeTimeoutMs: number;
  private readonly logger: Logger;
  private readonly commands: RegistryCommands;
  private readonly heartbeat: NodeJS.Timeout;
  private redisDown = false;
  private closed = false;
  /** Counts since start, for /metrics. */
  readonly counts = { placedHere: 0, redirected: 0, lost: 0 };

  /** Connects first: a wrong `--redis` fails the start with REDIS_UNAVAILABLE instead of every later join. */
  static async connect(options: RoomRegistryOptions): Promise<RoomRegistry> {
    normalizePublicUrl(options.publicUrl); // a bad one fails before connecting
    const redis = new Redis(options.redisUrl, {
      lazyConnect: true,
      // Commands wait (queued) while Redis is away; place() bounds the wait itself.
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    });
    redis.on('error', () => {}); // Reported through the registry's own outage log (see watch()).
    try {
      await withTimeout(redis.connect(), options.placeTimeoutMs ?? 3000, 'connect');
    } catch (err) {
      redis.disconnect();
      throw new RtcRecordError('REDIS_UNAVAILABLE', `cannot reach Redis at ${redactUrl(options.redisUrl)}: ${(err as Error).message}`, { cause: err });
    }
    return new RoomRegistry(redis, options);
  }

  constructor(
    readonly redis: Redis,
    options: RoomRegistryOptions,
  ) {
    super();
    this.publicUrl = normalizePublicUrl(options.publicUrl);
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.prefix = options.keyPrefix ?? DEFAULT_PREFIX;
    this.describe = options.describe ?? ((room) => ({ room }));
    this.placeTimeoutMs = options.placeTimeoutMs ?? 3000;
    this.logger = options.logger ?? defaultLogger;
    redis.defineCommand('rtcClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('rtcRelease', { numberOfKeys: 2, lua: RELEASE });
    this.commands = redis as unknown as RegistryCommands;
    this.watch();
    this.heartbeat = setInterval(() => void this.refreshAll(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref();
  }

  /** This server's signaling URL, as other servers redirect to it. */
  get signalingUrl(): string {
    return signalingUrlOf(this.publicUrl);
  }

  /**
   * Where a participant joining `room` belongs. Claims the room for this server when nobody has it. Rejects with
   * REDIS_UNAVAILABLE when Redis does not answer in time: opening the room here anyway could split it in two.
   */
  async place(room: string): Promise<RoomPlacement> {
    const owner = await withTimeout(this.claim(room, ''), this.placeTimeoutMs, 'placing the room').catch((err: Error) => {
      throw new RtcRecordError('REDIS_UNAVAILABLE', `cannot place room ${room}: Redis (the room registry) did not answer: ${err.message}`, { cause: err });
    });
    if (owner === this.publicUrl) {
      this.counts.placedHere++;
      return { local: true };
    }
    this.counts.redirected++;
    return { redirect: signalingUrlOf(owner) };
  }

  /** `room` is served here (occupied): keep our claim alive and its listing fresh until release(). */
  hold(room: string): void {
    if (this.closed) return;
    this.held.add(room);
    void this.refresh(room);
  }

  /** A held room changed (someone left): publish its listing now rather than at the next heartbeat. */
  update(room: string): void {
    if (this.held.has(room)) void this.refresh(room);
  }

  /** `room` is empty here: give it up at once, so the next join anywhere may claim it. */
  release(room: string): void {
    if (this.closed) return; // close() released everything
    this.held.delete(room);
    this.commands.rtcRelease(this.ownerKey(room), this.infoKey(room), this.publicUrl).catch((err: Error) => {
      this.logger.warn({ room, err: err.message }, 'could not release room in Redis (its lease will run out)');
    });
  }

  /** The public URL of the server that has `room`, or undefined. */
  async ownerOf(room: string): Promise<string | undefined> {
    return (await this.redis.get(this.ownerKey(room))) ?? undefined;
  }

  /** `roomOwnerUrl` through this registry's connection. */
  roomOwnerUrl(room: string): Promise<string | undefined> {
    return roomOwnerUrl(this.redis, room, this.prefix);
  }

  /** Every occupied room of the cluster, as its owner last described it (at most a heartbeat old). */
  rooms(): Promise<ClusterRoomListing[]> {
    return withTimeout(this.readRooms(), this.placeTimeoutMs, 'listing rooms');
  }

  private async readRooms(): Promise<ClusterRoomListing[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}room-info:*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...new Set(keys));
    const rooms: ClusterRoomListing[] = [];
    for (const v of values) {
      if (!v) continue; // expired between SCAN and MGET
      try {
        rooms.push(JSON.parse(v) as ClusterRoomListing);
      } catch {
        // Not ours to judge: skip a value some other writer left.
      }
    }
    return rooms.sort((a, b) => a.room.localeCompare(b.room));
  }

  /** Whether Redis answers now. */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Rooms this server holds now. */
  heldRooms(): string[] {
    return [...this.held];
  }

  /** Gives up every room held here (a clean shutdown hands them over at once, not after the lease) and disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    const rooms = [...this.held];
    this.held.clear();
    await withTimeout(
      Promise.all(rooms.map((r) => this.commands.rtcRelease(this.ownerKey(r), this.infoKey(r), this.publicUrl))),
      1000,
      'releasing rooms',
    ).catch((err: Error) => this.logger.warn({ rooms, err: err.message }, 'rooms not released in Redis (their leases will run out)'));
    this.redis.disconnect();
  }

  private claim(room: string, listing: string): Promise<string> {
    return this.commands.rtcClaim(this.ownerKey(room), this.infoKey(room), this.publicUrl, this.leaseMs, listing);
  }

  private async refresh(room: string): Promise<void> {
    const listing = this.describe(room);
    if (!listing) return; // emptied meanwhile: its release is on its way
    let owner: string;
    try {
      owner = await this.claim(room, JSON.stringify({ ...listing, room, server: this.publicUrl }));
    } catch {
      return; // Redis away: logged once by watch(); the next heartbeat tries again
    }
    if (owner === this.publicUrl || !this.held.has(room)) return;
    // Our lease ran out (Redis unreachable or restarted without it) and another server claimed the room meanwhile.
    this.held.delete(room);
    this.counts.lost++;
    this.logger.warn({ room, owner }, 'room is now owned by another server: moving its members there');
    this.emit('lost', room, signalingUrlOf(owner));
  }

  private async refreshAll(): Promise<void> {
    if (this.closed || this.redis.status !== 'ready') return;
    await Promise.all([...this.held].map((r) => this.refresh(r)));
  }

  /** One warning per Redis outage, one info when it is back (then claims are renewed at once). */
  private watch(): void {
    this.redis.on('error', (err: Error) => {
      if (this.redisDown || this.closed) return;
      this.redisDown = true;
      this.logger.warn({ err: err.message, rooms: this.held.size }, 'Redis unreachable: new rooms cannot be placed until it is back');
    });
    // Every reconnection renews the claims at once: a Redis that restarted without persistence has forgotten them.
    let connected = this.redis.status === 'ready';
    this.redis.on('ready', () => {
      if (this.redisDown) this.logger.info({ rooms: this.held.size }, 'Redis is back: renewing room claims');
      this.redisDown = false;
      if (connected) void this.refreshAll();
      connected = true;
    });
  }

  private ownerKey(room: string): string {
    return `${this.prefix}room:${room}`;
  }

  private infoKey(room: string): string {
    return `${this.prefix}room-info:${room}`;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
