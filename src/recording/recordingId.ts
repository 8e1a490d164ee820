import { randomBytes } from 'node:crypto';

const ID = /^\d{8}T\d{6}\d{3}Z-[a-z0-9]{6}$/;

/** `20261126T011500123Z-k3x9qa`: UTC time first so ids sort by start time; a random tail keeps them unique. */
export function newRecordingId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  const tail = randomBytes(6).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 6);
  return `${stamp}-${tail}`;
}

export function isRecordingId(value: string): boolean {
  return ID.test(value);
}
