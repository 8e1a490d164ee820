import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from './ManifestTypes.js';

// Live figures of one recording, derived from its manifest: what the CLI status line and /metrics show.

export interface RecordingProgress {
  elapsedMs: number;
  /** Participants present now. */
  participants: string[];
  /** Names in the audio mix now (the mixer's current speakers), when there is a composite. */
  speakers: string[];
  /** Track files plus the mixed file so far. */
  bytesWritten: number;
  packetsReceived: number;
  packetsLost: number;
  /** Mixed video frames produced per second (recent), and that relative to the target fps (1 = real time). */
  encoderFps?: number;
  encoderSpeed?: number;
}

/** Turns successive manifests of one recording into rates (encoder fps). One per recording. */
export class ProgressTracker {
  private last?: { frames: number; atMs: number };
  private fps?: number;

  constructor(private readonly dir?: string) {}

  sample(manifest: Manifest, now = Date.now()): RecordingProgress {
    const present = manifest.participants.filter((p) => p.leftAtMs === undefined);
    const names = new Map(manifest.participants.map((p) => [p.id, p.name]));
    const lastSpeakers = manifest.speakerTimeline?.at(-1)?.speakers ?? [];
    const composite = manifest.composite;
    let compositeBytes = 0;
    if (composite && this.dir) {
      try {
        compositeBytes = statSync(join(this.dir, composite.file)).size;
      } catch {
        // not created yet, or being renamed by the finalizer
      }
    }
    const progress: RecordingProgress = {
      elapsedMs: Math.max(0, (manifest.stoppedAt ? Date.parse(manifest.stoppedAt) : now) - Date.parse(manifest.startedAt)),
      participants: present.map((p) => p.name),
      speakers: lastSpeakers.map((id) => names.get(id) ?? id),
      bytesWritten: manifest.tracks.reduce((s, t) => s + (t.bytesWritten ?? 0), 0) + compositeBytes,
      packetsReceived: manifest.tracks.reduce((s, t) => s + t.packetsReceived, 0),
      packetsLost: manifest.tracks.reduce((s, t) => s + t.packetsLost, 0),
    };
    if (composite && composite.format === 'mp4') {
      const frames = composite.videoFramesWritten;
      // A rate needs two samples at least a second apart; in between the previous rate stands.
      if (this.last && now - this.last.atMs >= 1000) {
        this.fps = Math.max(0, ((frames - this.last.frames) * 1000) / (now - this.last.atMs));
        this.last = { frames, atMs: now };
      } else if (!this.last) this.last = { frames, atMs: now };
      // Taken as is should the composite ever report its encoder's own speed; otherwise derived from the frame rate.
      const speed = (composite as { speed?: unknown }).speed;
      if (this.fps !== undefined) progress.encoderFps = this.fps;
      if (typeof speed === 'number') progress.encoderSpeed = speed;
      else if (this.fps !== undefined && composite.fps) progress.encoderSpeed = this.fps / composite.fps;
    }
    return progress;
  }
}
