import { Command, InvalidArgumentError } from 'commander';
import { startServer } from '../http/HttpServer.js';
import type { IceServer } from '../signaling/messages.js';
import { iceServersFromEnv, parseIceServer } from './iceServerOption.js';

function collectIceServer(value: string, previous: IceServer[]): IceServer[] {
  try {
    return [...previous, parseIceServer(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('port must be 0-65535');
  return port;
}

export function buildProgram(): Command {
  const program = new Command('rtc-record')
    .description('Record WebRTC rooms: a werift peer that joins through our signaling server and writes per-track files')
    .showHelpAfterError();

  program
    .command('serve')
    .description('start the signaling server and room pages (HTTP + WebSocket on one port)')
    .option('-p, --port <port>', 'port to listen on', parsePort, 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--ice-server <url>', 'STUN/TURN server handed to peers (repeatable): stun:host:port or turn:user:pass@host:port', collectIceServer, [])
    .action(async (opts: { port: number; host: string; iceServer: IceServer[] }) => {
      const server = await startServer({ port: opts.port, host: opts.host, iceServers: [...opts.iceServer, ...iceServersFromEnv()] });
      console.log(`rtc-record server listening on ${server.url}`);
      console.log(`open ${server.url}/room/demo to join a room`);
      const stop = () => {
        console.log('shutting down');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
