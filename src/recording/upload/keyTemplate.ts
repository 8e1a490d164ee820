import { RtcRecordError } from '../../errors.js';

const PLACEHOLDERS = new Set(['room', 'id', 'date', 'file', 'name', 'participant', 'track', 'attempt']);

/** What one file contributes to its key. */
export interface KeyVars {
  room: string;
  id: string;
  /** ISO start time of the recording; {date} is its UTC day. */
  startedAt: string;
  /** Path in the recording directory. */
  file: string;
  participant?: string;
  track?: string;
  attempt: number;
}

/** Refuses templates with unknown placeholders or that could not name distinct files. */
export function checkKeyTemplate(template: string): void {
  if (!template.trim()) throw new RtcRecordError('BAD_S3_TARGET', '--s3-key-template is empty');
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!PLACEHOLDERS.has(m[1]!)) {
      throw new RtcRecordError('BAD_S3_TARGET', `unknown placeholder {${m[1]}} in the key template; use ${[...PLACEHOLDERS].map((p) => `{${p}}`).join(' ')}`);
    }
  }
  if (!/\{(file|name|track)\}/.test(template)) {
    throw new RtcRecordError('BAD_S3_TARGET', 'the key template must contain {file} (or {name}/{track}): every file of a recording needs its own key');
  }
  if (template.split('/').some((s) => s === '.' || s === '..')) throw new RtcRecordError('BAD_S3_TARGET', 'the key template must not contain . or .. segments');
}

/**
 * The key of one file: the template filled in, under the prefix. From attempt 2 on (unless the template places
 * {attempt} itself) the file name gets `.attempt-N` before its extension, so a retry never overwrites what an earlier
 * attempt stored.
 */
export function renderKey(prefix: string, template: string, vars: KeyVars): string {
  const name = vars.file.slice(vars.file.lastIndexOf('/') + 1);
  const values: Record<string, string> = {
    room: vars.room,
    id: vars.id,
    date: vars.startedAt.slice(0, 10),
    file: vars.file,
    name,
    participant: safeSegment(vars.participant ?? ''),
    track: safeSegment(vars.track ?? ''),
    attempt: String(vars.attempt),
  };
  let key = template.replace(/\{([a-z]+)\}/g, (_, p: string) => values[p] ?? '');
  // An empty placeholder ({participant} of the composite) must not leave an empty path segment.
  key = key.split('/').filter((s) => s !== '').join('/');
  if (vars.attempt >= 2 && !template.includes('{attempt}')) key = withAttemptSuffix(key, vars.attempt);
  const full = prefix ? `${prefix}/${key}` : key;
  if (Buffer.byteLength(full) > 1024) throw new RtcRecordError('BAD_S3_TARGET', `object key longer than 1024 bytes: ${full.slice(0, 80)}…`);
  return full;
}

/** `room/id/recording.mp4` → `room/id/recording.attempt-2.mp4`. */
export function withAttemptSuffix(key: string, attempt: number): string {
  const slash = key.lastIndexOf('/');
  const dot = key.lastIndexOf('.');
  const suffix = `.attempt-${attempt}`;
  return dot > slash + 1 ? `${key.slice(0, dot)}${suffix}${key.slice(dot)}` : `${key}${suffix}`;
}

/** Participant names are free text: anything but A-Z a-z 0-9 . _ - becomes _. */
function safeSegment(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+$/, '_').slice(0, 100);
}
