import type { IceServer } from '../signaling/messages.js';

/**
 * Parses `--ice-server` values: `stun:host:port`, or `turn:user:pass@host:port?transport=udp` (credentials inline,
 * percent-encoded if they contain `:` or `@`). The env var RTC_RECORD_ICE_SERVERS may hold a JSON RTCIceServer[] instead.
 */
export function parseIceServer(value: string): IceServer {
  const m = /^(stuns?|turns?):(?:([^:@]+):([^@]+)@)?(.+)$/.exec(value.trim());
  if (!m) throw new Error(`invalid --ice-server ${JSON.stringify(value)}: expected stun:host:port or turn:user:pass@host:port`);
  const [, scheme, user, pass, rest] = m;
  if (scheme!.startsWith('turn') && !user) {
    throw new Error(`invalid --ice-server ${JSON.stringify(value)}: TURN needs credentials (turn:user:pass@host:port)`);
  }
  const server: IceServer = { urls: `${scheme}:${rest}` };
  if (user) {
    server.username = decodeURIComponent(user);
    server.credential = decodeURIComponent(pass!);
  }
  return server;
}

export function iceServersFromEnv(env: NodeJS.ProcessEnv = process.env): IceServer[] {
  const raw = env.RTC_RECORD_ICE_SERVERS;
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('RTC_RECORD_ICE_SERVERS must be a JSON array of {urls, username?, credential?}');
  }
  if (!Array.isArray(parsed) || !parsed.every((s) => s && (typeof s.urls === 'string' || Array.isArray(s.urls)))) {
    throw new Error('RTC_RECORD_ICE_SERVERS must be a JSON array of {urls, username?, credential?}');
  }
  return parsed as IceServer[];
}
