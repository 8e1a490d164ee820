import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RoomRegistry } from '../cluster/RoomRegistry.js';
import { linkRooms } from '../cluster/linkRooms.js';
import { RtcRecordError } from '../errors.js';
import { logger as defaultLogger, type Logger } from '../logger.js';
import { RecordingService } from '../recording/RecordingService.js';
import { WebhookNotifier } from '../recording/webhooks.js';
import { ROOM_NAME, type Role } from '../signaling/messages.js';
import { Sfu } from '../sfu/Sfu.js';
import { SignalingServer } from '../signaling/SignalingServer.js';
import type { JoinRefusal } from '../signaling/SignalingServerTypes.js';
import { handleRecordingsApi, listWorkers } from './api/recordingsApi.js';
import { listRooms, localRooms, session } from './api/roomsApi.js';
import { Access, ANY_ROOM, mintToken, requestToken } from './auth.js';
import type { HttpServerOptions, RunningServer } from './HttpServerTypes.js';
import { Metrics } from './metrics.js';
import { sendError, sendJson } from './respond.js';
import { loadStaticFiles, type StaticFile } from './staticFiles.js';

const PAGES = [
  'index.html',
  'room.html',
  'room.js',
  'room.css',
  'room-recording.js',
  'recordings.html',
  'recordings.js',
  'api-client.js',
  'seed-sender.html',
  'seed-receiver.html',
];
/** Longer URLs are refused (414) before any parsing: no legitimate route needs more. */
const MAX_URL_LENGTH = 4096;

interface Context {
  files: Map<string, StaticFile>;
  signaling: SignalingServer;
  service?: RecordingService;
  /** Set right after listening (it needs the service, which needs the port). */
  metrics?: Metrics;
  secret?: string;
  logger: Logger;
  cluster?: RoomRegistry;
}

/** One port for everything: pages and the JSON API over HTTP, signaling over WebSocket upgrades (any path). */
export async function startServer(options: HttpServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? defaultLogger;
  const secret = options.secret || undefined;
  const host = options.host ?? '127.0.0.1';
  // Several servers on one Redis: a join asks the registry where its room lives (connected right after listening).
  let clusterReady: Promise<RoomRegistry> | undefined;
  const placeRoom = options.cluster ? async (room: string) => (await clusterReady!).place(room) : undefined;
  const iceAddress = options.iceAddress ?? options.recordings?.iceAddress ?? (isLoopback(host) ? '127.0.0.1' : undefined);
  const signaling = new SignalingServer({
    iceServers: options.iceServers,
    authorizeJoin: secret ? joinPolicy(secret) : undefined,
    defaultMode: options.defaultRoomMode ?? 'sfu',
    defaultAudio: options.defaultRoomAudio ?? 'auto',
    placeRoom,
  });
  const sfu = new Sfu(signaling, { iceServers: options.iceServers ?? [], iceAddress, mcuFrom: options.mcuFrom, mixPacketMs: options.mixPacketMs, publisherStartKbps: options.publisherStartKbps, bandwidthAdaptation: options.bandwidthAdaptation, logger });
  const files = loadStaticFiles(PAGES);
  const ctx: Context = { files, signaling, secret, logger };
  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 60_000 }, (req, res) => {
    route(req, res, ctx).catch((err) => {
      if (!(err instanceof RtcRecordError)) logger.error({ err: (err as Error).message, url: req.url }, 'request failed');
      sendError(res, err);
    });
  });
  server.on('upgrade', (req, socket, head) => signaling.handleUpgrade(req, socket, head));
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;

  const ownerUrl = ownerUrlOf(ctx);
  if (options.cluster) {
    const describe = (room: string) => localRooms(signaling, ctx.service).find((r) => r.room === room);
    clusterReady = RoomRegistry.connect({ ...options.cluster, publicUrl: options.cluster.publicUrl ?? `http://${hostPart}:${port}`, describe, logger });
    try {
      ctx.cluster = await clusterReady;
    } catch (err) {
      signaling.close();
      await new Promise((resolve) => server.close(resolve));
      throw err;
    }
    linkRooms(signaling, ctx.cluster);
  }

  let service: RecordingService | undefined;
  let webhooks: WebhookNotifier | undefined;
  const rec = options.recordings;
  if (rec) {
    // Recorders join through this very server, over loopback when it listens there (or on every address).
    const internalHost = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : hostPart;
    service = new RecordingService({
      outputRoot: rec.outputRoot,
      serverUrl: () => {
        const url = `ws://${internalHost}:${port}/ws`;
        return secret ? `${url}?token=${mintToken(secret, { room: ANY_ROOM, scopes: ['join', 'record'], ttlSeconds: 300 })}` : url;
      },
      iceAddress,
      iceServers: options.iceServers,
      tap: (room) => sfu.tap(room),
      composite: rec.composite,
      tracks: rec.tracks,
      upload: rec.upload,
      autoRecord: rec.autoRecord,
      autoStopGraceMs: rec.autoStopGraceMs,
      maxConcurrent: rec.maxConcurrent,
      rooms: signaling,
      recoveryIntervalMs: rec.recover === false ? 0 : undefined,
      logger,
      // Workers join through this server's signaling like any recorder (and mint their own token when needed).
      // A worker joins the room on the server it lives on: its owner (several servers), else this one as others reach it.
      // (Joining elsewhere would still work: the worker follows the redirect.)
      jobs: rec.jobs ? { queue: rec.jobs, serverUrl: async (room) => (await ownerUrl(room)) ?? ctx.cluster?.signalingUrl ?? `ws://${internalHost}:${port}/ws` } : undefined,
    });
    if (rec.webhook) {
      webhooks = new WebhookNotifier({ ...rec.webhook, logger });
      webhooks.attach(service);
    }
    if (rec.recover !== false) void service.recover();
    service.startAutoRecording();
  }
  ctx.service = service;
  ctx.metrics = new Metrics(signaling, service, webhooks, sfu, ctx.cluster);

  let closing: Promise<void> | undefined;
  const close = (flushWebhooks: boolean) =>
    (closing ??= (async () => {
      await service?.shutdown();
      await webhooks?.close(flushWebhooks ? 5000 : 0);
      // Hands this server's rooms over at once (their members are cut below and may rejoin anywhere).
      await ctx.cluster?.close();
      await sfu.close();
      await new Promise<void>((resolve) => {
        signaling.close();
        server.closeAllConnections();
        server.close(() => resolve());
      });
    })());
  return {
    url: `http://${hostPart}:${port}`,
    wsUrl: `ws://${hostPart}:${port}`,
    port,
    signaling,
    sfu,
    recordings: service,
    webhooks,
    cluster: ctx.cluster,
    close: () => close(false),
    shutdown: () => close(true),
  };
}

async function route(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  if ((req.url ?? '').length > MAX_URL_LENGTH) return sendJson(res, 414, { error: 'URI_TOO_LONG', message: `URLs are limited to ${MAX_URL_LENGTH} bytes` });
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const access = Access.fromToken(ctx.secret, requestToken(req, url));
  if (await handleRecordingsApi(req, res, url, { service: ctx.service, access })) return;

  if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'METHOD_NOT_ALLOWED', message: 'use GET' }, { allow: 'GET, HEAD' });
  if (path === '/') return sendFile(res, ctx.files.get('index.html')!);
  if (path === '/api/rooms') return listRooms(res, ctx.signaling, ctx.service, access, ctx.cluster);
  if (path === '/api/session') return session(res, ctx.service, access);
  if (path === '/api/workers') return listWorkers(res, ctx.service, access);
  if (path === '/healthz') return sendJson(res, 200, { ok: true, accepting: ctx.service?.accepting ?? true });
  if (path === '/metrics' && ctx.metrics) {
    access.requireEverywhere('view');
    const { contentType, body } = await ctx.metrics.render();
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (path === '/recordings' || path === '/recordings/') return sendFile(res, ctx.files.get('recordings.html')!);
  if (path === '/seed/sender') return sendFile(res, ctx.files.get('seed-sender.html')!);
  if (path === '/seed/receiver') return sendFile(res, ctx.files.get('seed-receiver.html')!);
  const room = /^\/room\/([^/]+)\/?$/.exec(path);
  if (room) {
    let name: string;
    try {
      name = decodeURIComponent(room[1]!);
    } catch {
      name = '';
    }
    if (!ROOM_NAME.test(name)) return sendJson(res, 400, { error: 'BAD_ROOM_NAME', message: 'room must be 1-64 chars of A-Z a-z 0-9 _ -' });
    return sendFile(res, ctx.files.get('room.html')!);
  }
  const asset = /^\/static\/([a-z-]+\.(?:js|css))$/.exec(path);
  if (asset && ctx.files.has(asset[1]!)) return sendFile(res, ctx.files.get(asset[1]!)!);
  sendJson(res, 404, { error: 'NOT_FOUND' });
}

/** With a secret, joining needs a token for the room (`join`; `record` for the recorder role). */
function joinPolicy(secret: string) {
  return (token: string | undefined, room: string, role: Role): JoinRefusal | undefined => {
    const access = Access.fromToken(secret, token);
    const scope = role === 'recorder' ? 'record' : 'join';
    if (access.can(scope, room)) return undefined;
    if (access.tokenError) return { code: 'UNAUTHORIZED', message: `joining needs a token: ${access.tokenError}` };
    return { code: 'FORBIDDEN', message: `this token does not grant ${scope} on room ${room}` };
  };
}

/** The signaling URL of the server that owns `room` (undefined: no cluster, nobody has it, or Redis is away). */
function ownerUrlOf(ctx: Context): (room: string) => Promise<string | undefined> {
  return async (room) => ctx.cluster?.roomOwnerUrl(room).catch(() => undefined);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function sendFile(res: ServerResponse, file: StaticFile): void {
  res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-cache' });
  res.end(res.req.method === 'HEAD' ? undefined : file.body);
}
