/** The runner's handle on an SFU load generator process (bench/loadgen/sfuMain.ts). */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BUILD_BENCH_DIR } from '../paths.js';
import type { SfuGeneratorConfig, SfuGeneratorToRunner } from './sfuProtocol.js';

type Msg<T extends SfuGeneratorToRunner['type']> = Extract<SfuGeneratorToRunner, { type: T }>;

export class SfuLoadGenerator {
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly received: SfuGeneratorToRunner[] = [];
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null | undefined;

  constructor(config: SfuGeneratorConfig) {
    // Its own process, so its CPU never counts as the server's.
    this.child = fork(join(BUILD_BENCH_DIR, 'loadgen', 'sfuMain.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.child.on('message', (m: SfuGeneratorToRunner) => {
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

  /** The next message of this type; an error message, the process's exit or the timeout reject. */
  wait<T extends SfuGeneratorToRunner['type']>(type: T, timeoutMs: number): Promise<Msg<T>> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.received.findIndex((m) => m.type === type || m.type === 'error');
        if (i >= 0) {
          const [m] = this.received.splice(i, 1);
          if (m!.type === 'error') reject(new Error(`sfu load generator: ${(m as Msg<'error'>).message}`));
          else resolve(m as Msg<T>);
          return true;
        }
        if (this.exitCode !== undefined) {
          reject(new Error(`sfu load generator exited (code ${this.exitCode}) while waiting for ${type}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`sfu load generator: no ${type} after ${timeoutMs} ms`));
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

  mark(): void {
    if (this.child.connected) this.child.send({ type: 'mark' });
  }

  /** `count` more subscribers join; resolves once every one of them receives. */
  async addSubscribers(count: number, timeoutMs: number): Promise<void> {
    this.child.send({ type: 'addSubscribers', count });
    await this.wait('flowing', timeoutMs);
  }

  /** listen 'mix': ends the window started by mark() without stopping the media; the listeners' figures. */
  async mixWindow(): Promise<Msg<'mixWindow'>['stats']> {
    this.child.send({ type: 'mixWindow' });
    return (await this.wait('mixWindow', 30_000)).stats;
  }

  async stopMedia(): Promise<Msg<'stopped'>> {
    this.child.send({ type: 'stopMedia' });
    return this.wait('stopped', 15_000);
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
