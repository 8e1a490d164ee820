import { InvalidArgumentError } from 'commander';
import { RtcRecordError } from '../errors.js';
import { mintToken, SCOPES, type Scope } from '../http/auth.js';

export interface TokenOptions {
  room: string;
  secret?: string;
  scope: Scope[];
  ttl: number;
}

/** `rtc-record token --room x --secret s`: prints a signed token for `?token=` / `Authorization: Bearer`. */
export function tokenCommand(opts: TokenOptions): void {
  const secret = opts.secret ?? process.env.RTC_RECORD_SECRET;
  if (!secret) throw new RtcRecordError('BAD_REQUEST', 'a secret is required: --secret <s> or env RTC_RECORD_SECRET');
  console.log(mintToken(secret, { room: opts.room, scopes: opts.scope, ttlSeconds: opts.ttl }));
}

export function parseScopes(value: string): Scope[] {
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of scopes) if (!SCOPES.includes(s as Scope)) throw new InvalidArgumentError(`scopes are ${SCOPES.join(', ')}`);
  if (!scopes.length) throw new InvalidArgumentError('at least one scope');
  return scopes as Scope[];
}

/** `3600`, `90s`, `30m`, `12h`, `7d`. */
export function parseTtl(value: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  const n = Number(m?.[1]);
  if (!m || !(n > 0)) throw new InvalidArgumentError('ttl must be a positive number of seconds, or like 30m, 12h, 7d');
  return n * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}
