import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOM_NAME } from '../signaling/messages.js';
import { SignalingServer } from '../signaling/SignalingServer.js';
import type { HttpServerOptions, RunningServer } from './HttpServerTypes.js';
import { loadStaticFiles, type StaticFile } from './staticFiles.js';

const PAGES = ['index.html', 'room.html', 'room.js', 'room.css', 'seed-sender.html', 'seed-receiver.html'];

/** One port for everything: pages over HTTP and signaling over WebSocket upgrades (any path, as the seed pages use `/`). */
export async function startServer(options: HttpServerOptions = {}): Promise<RunningServer> {
  const signaling = new SignalingServer({ iceServers: options.iceServers });
  const files = loadStaticFiles(PAGES);
  const server = createServer((req, res) => route(req, res, files, signaling));
  server.on('upgrade', (req, socket, head) => signaling.handleUpgrade(req, socket, head));
  server.on('clientError', (_err, socket) => socket.destroy());

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostPart}:${port}`,
    wsUrl: `ws://${hostPart}:${port}`,
    port,
    signaling,
    close: () =>
      new Promise<void>((resolve) => {
        signaling.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function route(req: IncomingMessage, res: ServerResponse, files: Map<string, StaticFile>, signaling: SignalingServer): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'METHOD_NOT_ALLOWED' });
  if (path === '/') return sendFile(res, files.get('index.html')!);
  if (path === '/api/rooms') return sendJson(res, 200, { rooms: signaling.listRooms() });
  if (path === '/healthz') return sendJson(res, 200, { ok: true });
  if (path === '/seed/sender') return sendFile(res, files.get('seed-sender.html')!);
  if (path === '/seed/receiver') return sendFile(res, files.get('seed-receiver.html')!);
  const room = /^\/room\/([^/]+)\/?$/.exec(path);
  if (room) {
    const name = decodeURIComponent(room[1]!);
    if (!ROOM_NAME.test(name)) return sendJson(res, 400, { error: 'BAD_ROOM_NAME', message: 'room must be 1-64 chars of A-Z a-z 0-9 _ -' });
    return sendFile(res, files.get('room.html')!);
  }
  const asset = /^\/static\/([a-z-]+\.(?:js|css))$/.exec(path);
  if (asset && files.has(asset[1]!)) return sendFile(res, files.get(asset[1]!)!);
  sendJson(res, 404, { error: 'NOT_FOUND' });
}

function sendFile(res: ServerResponse, file: StaticFile): void {
  res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-cache' });
  res.end(file.body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
