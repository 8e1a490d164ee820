/** The runner's side of a load generator process: fork it, send it commands, wait for its messages. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BUILD_BENCH_DIR } from '../paths.js';

type Message = { type: string };
type ErrorMessage = { type: 'error'; message: string };

export class GeneratorProcess<ToRunner extends Message, FromRunner extends Message> {
  readonly exited: Promise<number | null>;
  protected readonly child: ChildProcess;
  private readonly received: ToRunner[] = [];
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null | undefined;

  /** Forks `bench/loadgen/<script>` (its own process, so its CPU never counts as the server's) and sends it `start`. */
  constructor(
    script: string,
    start: FromRunner,
    /** Named in errors. */
    private readonly label: string,
  ) {
    this.child = fork(join(BUILD_BENCH_DIR, 'loadgen', script), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.child.on('message', (m: ToRunner) => {
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
    this.send(start);
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(message: FromRunner): void {
    if (this.child.connected) this.child.send(message);
  }

  /** The next message of this type; an error message, the process's exit or the timeout reject. */
  wait<T extends ToRunner['type']>(type: T, timeoutMs: number): Promise<Extract<ToRunner, { type: T }>> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.received.findIndex((m) => m.type === type || m.type === 'error');
        if (i >= 0) {
          const [m] = this.received.splice(i, 1);
          if (m!.type === 'error') reject(new Error(`${this.label}: ${(m as unknown as ErrorMessage).message}`));
          else resolve(m as Extract<ToRunner, { type: T }>);
          return true;
        }
        if (this.exitCode !== undefined) {
          reject(new Error(`${this.label} exited (code ${this.exitCode}) while waiting for ${type}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.label}: no ${type} after ${timeoutMs} ms`));
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

  /** Asks it to close its connections and exit; SIGKILL if it has not within 5 s. */
  async close(): Promise<void> {
    if (this.exitCode !== undefined) return;
    if (this.child.connected) this.child.send({ type: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
