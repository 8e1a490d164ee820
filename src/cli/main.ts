import { Command, InvalidArgumentError, Option } from 'commander';
import { SCOPES } from '../http/auth.js';
import { MIX_40MS_FROM_LISTENERS, type MixPacketMs } from '../sfu/RoomMix.js';
import { DEFAULT_MCU_FROM, DEFAULT_PUBLISHER_START_KBPS } from '../sfu/Sfu.js';
import { ROOM_AUDIO, ROOM_MODES, type IceServer } from '../signaling/messages.js';
import { addCompositeOptions } from './compositeOptions.js';
import { doctorCommand, type DoctorOptions } from './doctorCommand.js';
import { DEFAULT_IO_BATCH_MS, SERVE_IO_BATCH_MS } from './IoBatching.js';
import { parseIceServer } from './iceServerOption.js';
import { listCommand, type ListOptions } from './listCommand.js';
import { serveCommand, type ServeOptions } from './serveCommand.js';
import { collectCost, parseCores, workerCommand, type WorkerOptions } from './workerCommand.js';
import { parseScopes, parseTtl, tokenCommand, type TokenOptions } from './tokenCommand.js';
import { recordCommand, type RecordOptions } from './recordCommand.js';
import { uploadCommand, type UploadCommandOptions } from './uploadCommand.js';
import { addUploadOptions } from './uploadOptions.js';
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

function parseRoomLease(value: string): number {
  const n = Number(value);
  if (!(n >= 1 && n <= 3600)) throw new InvalidArgumentError('a number of seconds from 1 to 3600');
  return n;
}

function parseMcuFrom(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 2 || n > 10_000) throw new InvalidArgumentError('mcu-from must be an integer 2-10000 (participants)');
  return n;
}

function parsePublisherStartKbps(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new InvalidArgumentError('publisher-start-kbps must be an integer 0-100000 (kbit/s)');
  return n;
}

function parseMixPacketMs(value: string): MixPacketMs {
  if (value === 'auto') return 'auto';
  if (value === '20' || value === '40') return Number(value) as 20 | 40;
  throw new InvalidArgumentError('mix-packet-ms must be 20, 40 or auto');
}

function parseMaxRecordings(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('max-recordings must be an integer 1-256');
  return n;
}

function parseIoBatch(value: string): number {
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0 || ms > 100) throw new InvalidArgumentError('io-batch-ms must be 0-100');
  return ms;
}

const IO_BATCH_HELP = 'handle network and pipe I/O in batches this many ms apart: fewer wake-ups, less CPU, up to that much added latency (0 = off)';

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
    .option('--io-batch-ms <ms>', `${IO_BATCH_HELP}; default ${DEFAULT_IO_BATCH_MS} with --server, 0 with the embedded server (its SFU forwards live media)`, parseIoBatch)
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', process.env.RTC_RECORD_LOG_LEVEL ?? 'warn');
  addUploadOptions(addCompositeOptions(program)).action(async (opts: Partial<RecordOptions>) => {
    if (!opts.room) {
      program.help({ error: true });
      return;
    }
    await recordCommand(opts as RecordOptions);
  });

  // Subcommands share option names with the recording command (--out, --room, --json, --port): without this, the
  // top-level command would take them.
  program.enablePositionalOptions();

  const serve = program
    .command('serve')
    .description('signaling server, room pages, recordings API and page (HTTP + WebSocket on one port)')
    .option('-p, --port <port>', 'port to listen on', parsePort, 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--ice-server <url>', 'STUN/TURN server handed to peers (repeatable): stun:host:port or turn:user:pass@host:port', collectIceServer, [])
    .option('-o, --out <dir>', 'recordings root; nothing is read, written or deleted outside it', DEFAULT_OUTPUT_ROOT)
    .option('--auto-record', 'record every room while at least one participant is in it')
    .option('--secret <secret>', 'require signed tokens to join rooms and control recordings (env RTC_RECORD_SECRET)')
    .option('--webhook <url>', 'POST recording/participant events as JSON to this URL')
    .option('--webhook-secret <secret>', 'HMAC key of the webhook signature header (default: --secret)')
    .option('--ice-address <ip>', 'the address the SFU and recorder peers advertise for ICE (default 127.0.0.1 on a loopback host)')
    .addOption(new Option('--room-mode <mode>', 'mode of a room whose first joiner asks for none: sfu (the server forwards) or p2p (a mesh)').choices(ROOM_MODES).default('sfu'))
    .addOption(new Option('--room-audio <audio>', 'voices in SFU rooms whose first joiner asks for nothing: forward (each voice to every listener), mcu (the server mixes the 3 loudest and sends each participant one track), auto (forward, then mix from --mcu-from participants)').choices(ROOM_AUDIO).default('auto'))
    .option('--mcu-from <n>', 'auto rooms: mix voices on the server from this many participants', parseMcuFrom, DEFAULT_MCU_FROM)
    .option('--mix-packet-ms <ms>', `live mix packets to listeners: 20, 40 (half the packets to encrypt and send, 20 ms more latency) or auto (40 from ${MIX_40MS_FROM_LISTENERS} listeners in a room)`, parseMixPacketMs, 'auto' as MixPacketMs)
    .option('--no-bandwidth-adaptation', 'SFU rooms: forward every video in the layer its tile wants, whatever the subscriber\'s estimate and loss (a LAN; test rigs running many browsers on one machine, whose estimates measure CPU scheduling)')
    .option('--publisher-start-kbps <kbps>', 'SFU rooms: where a publishing browser starts its uplink estimate (x-google-start-bitrate; 0: the browser\'s own 300 kbit/s)', parsePublisherStartKbps, DEFAULT_PUBLISHER_START_KBPS)
    .option('--redis <url>', 'run as one of several servers sharing this Redis (redis://host:port): rooms live on one server each')
    .option('--public-url <url>', 'with --redis: this server\'s base URL as participants reach it (default http://<host>:<port>)')
    .option('--room-lease <seconds>', 'with --redis: a dead server\'s rooms are taken over after at most this', parseRoomLease, 10)
    .option('--max-recordings <n>', 'simultaneous recordings at most', parseMaxRecordings, 16)
    .option('--io-batch-ms <ms>', `${IO_BATCH_HELP}; default 0 here: the SFU forwards live media, and each batch would delay it`, parseIoBatch, SERVE_IO_BATCH_MS)
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', process.env.RTC_RECORD_LOG_LEVEL ?? 'info');
  addUploadOptions(addCompositeOptions(serve)).action((opts: ServeOptions) => serveCommand(opts));

  const worker = program
    .command('worker')
    .description('take recording jobs queued by `serve --redis` (as many as fit its cores), and take over those of dead workers')
    .requiredOption('--redis <url>', 'the Redis the servers queue jobs in (redis://host:port)')
    .option('-o, --out <dir>', 'recordings root (share it with the servers to have them list and serve the files)', DEFAULT_OUTPUT_ROOT)
    .option('--cores <n>', 'cores this worker may fill with jobs (default: all of the machine\'s)', parseCores)
    .option('--cost <kind=cores>', 'expected cores of a job kind: composite, tracks-only, audio-only (repeatable; default: the bench figures)', collectCost, {})
    .option('--id <id>', 'worker id (default host-pid-random)')
    .option('--secret <secret>', 'the servers\' --secret, to mint the recorder\'s join token (env RTC_RECORD_SECRET)')
    .option('--ice-address <ip>', 'the one address the recorder peers bind and advertise for ICE (default 127.0.0.1)')
    .option('--ice-server <url>', 'STUN/TURN server (repeatable)', collectIceServer, [])
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', process.env.RTC_RECORD_LOG_LEVEL ?? 'info');
  addUploadOptions(worker).action((opts: WorkerOptions) => workerCommand(opts));

  program
    .command('list')
    .description('list the recordings under the output root (read from disk; no server needed)')
    .option('-o, --out <dir>', 'recordings root', DEFAULT_OUTPUT_ROOT)
    .option('-r, --room <room>', 'only this room')
    .option('--json', 'print JSON')
    .action((opts: ListOptions) => listCommand(opts));

  addUploadOptions(
    program
      .command('upload')
      .description('upload a finished recording directory to the bucket (again: a failed or partial upload), as a new attempt')
      .argument('<dir>', 'the recording directory (<out>/<room>/<id>)')
      .option('--json', 'print the outcome as JSON')
      .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', process.env.RTC_RECORD_LOG_LEVEL ?? 'warn'),
    { fromLastAttempt: true },
  ).action((dir: string, opts: UploadCommandOptions) => uploadCommand(dir, opts));

  program
    .command('doctor')
    .description('which ffmpeg recordings use (FFMPEG_PATH, PATH, ffmpeg-static, bundled), its version and capability checks')
    .option('--json', 'print JSON')
    .action((opts: DoctorOptions) => doctorCommand(opts));

  program
    .command('token')
    .description('mint a signed token for a server started with --secret (pages take ?token=, the API Authorization: Bearer)')
    .requiredOption('-r, --room <room>', 'the room it is for, or * for every room')
    .option('--secret <secret>', 'the server secret (env RTC_RECORD_SECRET)')
    .option('--scope <list>', `comma-separated: ${SCOPES.join(',')}`, parseScopes, [...SCOPES])
    .option('--ttl <duration>', 'validity: seconds, or 30m, 12h, 7d', parseTtl, 86_400)
    .action((opts: TokenOptions) => tokenCommand(opts));

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
