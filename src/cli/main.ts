import { Command, InvalidArgumentError } from 'commander';
import { startServer } from '../http/HttpServer.js';
import type { IceServer } from '../signaling/messages.js';
import { iceServersFromEnv, parseIceServer } from './iceServerOption.js';
import { recordCommand, type RecordOptions } from './recordCommand.js';
import { DEFAULT_OUTPUT_ROOT } from '../recording/storage.js';

function collectIceServer(value: string, previous: IceServer[]): IceServer[] {
  try {
    return [...previous, parseIceServer(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parseDuration(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('duration must be a positive number of seconds');
  return seconds;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('port must be 0-65535');
  return port;
}

export function buildProgram(): Command {
  const program = new Command('rtc-record')
    .description('Record WebRTC rooms: a werift peer that joins through our signaling server and writes per-track files')
    .showHelpAfterError()
    .option('-r, --room <room>', 'record this room (1-64 of A-Z a-z 0-9 _ -)')
    .option('-s, --server <url>', 'join an existing signaling server (ws://host:port) instead of starting one')
    .option('-o, --out <dir>', 'output root; nothing is written outside it', DEFAULT_OUTPUT_ROOT)
    .option('-d, --duration <seconds>', 'stop after this many seconds (default: until Ctrl-C / SIGTERM)', parseDuration)
    .option('--json', 'print a JSON summary instead of the recording directory at the end')
    .option('-p, --port <port>', 'port of the embedded server (without --server)', parsePort, 8080)
    .option('--host <host>', 'address of the embedded server (without --server)', '127.0.0.1')
    .option('--ice-address <ip>', 'the one address the recorder binds and advertises for ICE')
    .option('--ice-server <url>', 'STUN/TURN server (repeatable): stun:host:port or turn:user:pass@host:port', collectIceServer, [])
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', process.env.RTC_RECORD_LOG_LEVEL ?? 'warn')
    .action(async (opts: Partial<RecordOptions>) => {
      if (!opts.room) {
        program.help({ error: true });
        return;
      }
      await recordCommand(opts as RecordOptions);
    });

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
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const e = err as Error & { code?: string };
    console.error(`rtc-record: ${e.code ? `[${e.code}] ` : ''}${e.message}`);
    process.exit(1);
  }
}
