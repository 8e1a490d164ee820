/** The runner's handle on a load generator process (bench/loadgen/main.ts). */
import type { ParticipantMediaSpec } from '../fixtures.js';
import { GeneratorProcess } from './GeneratorProcess.js';
import type { GeneratorConfig, GeneratorToRunner, RunnerToGenerator } from './protocol.js';

type Msg<T extends GeneratorToRunner['type']> = Extract<GeneratorToRunner, { type: T }>;

export class LoadGenerator extends GeneratorProcess<GeneratorToRunner, RunnerToGenerator> {
  /** The bench's participants for `media` in `room`: one joins every 250 ms, all connected within 60 s. */
  static forRoom(serverUrl: string, room: string, media: readonly ParticipantMediaSpec[], maxLifetimeMs: number): LoadGenerator {
    return new LoadGenerator({
      serverUrl,
      room,
      participants: media.map((m) => ({
        name: m.name,
        videoPath: m.video?.path,
        audioPath: m.audio?.path,
        ...(m.layers ? { simulcast: m.layers.map((l) => ({ rid: l.rid, videoPath: l.video.path })) } : {}),
      })),
      joinIntervalMs: 250,
      connectTimeoutMs: 60_000,
      maxLifetimeMs,
    });
  }

  constructor(config: GeneratorConfig) {
    super('main.js', { type: 'start', config }, 'load generator');
  }

  /** Marks the start of the measurement window (generator-side statistics restart). */
  mark(): void {
    this.send({ type: 'mark' });
  }

  async stopMedia(): Promise<Msg<'mediaStopped'>> {
    this.send({ type: 'stopMedia' });
    return this.wait('mediaStopped', 10_000);
  }
}
