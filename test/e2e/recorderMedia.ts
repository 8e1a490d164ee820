// What a recorder CLI (rtc-record --room … --server …) has received so far, read from its manifest as tests wait for it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../../src/recording/ManifestTypes.js';
import type { CliProcess } from '../harness/cli.js';
import { waitFor } from '../harness/util.js';

/**
 * Resolves once the recorder has received `name`'s media of each kind (its manifest, rewritten within a second of a
 * track's first packet). A page says "connected" as soon as any of its mesh connections is up; the recorder's can
 * come seconds later on a loaded machine, and a check timed from "connected" then finds the tile still empty.
 */
export async function mediaAtRecorder(cli: CliProcess, name: string, kinds: Array<'audio' | 'video'>): Promise<number> {
  const dir = (await cli.waitForLine(/^recording room \S+ into /)).replace(/^recording room \S+ into /, '');
  await waitFor(
    () => {
      const m = readManifest(dir);
      return kinds.every((k) => m.tracks.some((t) => t.participantName === name && t.kind === k && t.firstPacketAtMs !== undefined));
    },
    { timeoutMs: 30_000, description: `${name}'s ${kinds.join('+')} at the recorder` },
  ).catch((err: Error) => {
    // Say what the recorder had: one CI run waited 30 s for a video with nothing else to go on.
    const tracks = readManifest(dir).tracks.map((t) => `${t.participantName}/${t.kind}: first packet ${t.firstPacketAtMs ?? 'none'}`);
    throw new Error(`${err.message}\ntracks: ${tracks.join('; ')}\nrecorder: ${cli.stderr.slice(-20).join('\n')}`);
  });
  return Date.now();
}

export function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
}
