/** The runner's handle on a load generator process. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BUILD_BENCH_DIR } from '../paths.js';
import type { ParticipantMediaSpec } from '../fixtures.js';
import type { GeneratorConfig, GeneratorToRunner } from './protocol.js';

type Msg<T extends GeneratorToRunner['type']> = Extract<GeneratorToRunner, { type: T }>;

export class LoadGenerator {
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly received: GeneratorToRunner[] = [];
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null | undefined;

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
    // Its own process, so its CPU never counts as the recorder's and a stall in one does not stall the other.
    this.child = fork(join(BUILD_BENCH_DIR, 'loadgen', 'main.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.child.on('message', (m: GeneratorToRunner) => {
      this.received.push(m);
      for (const w of this.waiters) w();
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        this.exitCode = code;
        for (const w of this.waiters) w();
        resolve(code);
      }),
    );
    this.child.send({ type: 'start', config });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The next message of this type (or an error message / exit, which reject). */
  wait<T extends GeneratorToRunner['type']>(type: T, timeoutMs: number): Promise<Msg<T>> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.received.findIndex((m) => m.type === type || m.type === 'error');
        if (i >= 0) {
          const [m] = this.received.splice(i, 1);
          if (m!.type === 'error') reject(new Error(`load generator: ${(m as Msg<'error'>).message}`));
          else resolve(m as Msg<T>);
          return true;
        }
        if (this.exitCode !== undefined) {
          reject(new Error(`load generator exited (code ${this.exitCode}) while waiting for ${type}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`load generator: no ${type} after ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = () => {
        if (check()) {
          clearTimeout(timer);
          this.waiters.delete(waiter);
        }
      };
      this.waiters.add(waiter);
    });
  }

  /** Marks the start of the measurement window (generator-side statistics restart). */
  mark(): void {
    if (this.child.connected) this.child.send({ type: 'mark' });
  }

  async stopMedia(): Promise<Msg<'mediaStopped'>> {
    this.child.send({ type: 'stopMedia' });
    return this.wait('mediaStopped', 10_000);
  }

  /** Asks it to close its connections and exit; SIGKILL if it has not within 5 s. */
  async close(): Promise<void> {
    if (this.exitCode !== undefined) return;
    if (this.child.connected) this.child.send({ type: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
