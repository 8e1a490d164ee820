/** The runner's handle on an SFU load generator process (bench/loadgen/sfuMain.ts). */
import { GeneratorProcess } from './GeneratorProcess.js';
import type { RunnerToSfuGenerator, SfuGeneratorConfig, SfuGeneratorToRunner } from './sfuProtocol.js';

type Msg<T extends SfuGeneratorToRunner['type']> = Extract<SfuGeneratorToRunner, { type: T }>;

export class SfuLoadGenerator extends GeneratorProcess<SfuGeneratorToRunner, RunnerToSfuGenerator> {
  constructor(config: SfuGeneratorConfig) {
    super('sfuMain.js', { type: 'start', config }, 'sfu load generator');
  }

  mark(): void {
    this.send({ type: 'mark' });
  }

  /** `count` more subscribers join; resolves once every one of them receives. */
  async addSubscribers(count: number, timeoutMs: number): Promise<void> {
    this.send({ type: 'addSubscribers', count });
    await this.wait('flowing', timeoutMs);
  }

  /** listen 'mix': ends the window started by mark() without stopping the media; the listeners' figures. */
  async mixWindow(): Promise<Msg<'mixWindow'>['stats']> {
    this.send({ type: 'mixWindow' });
    return (await this.wait('mixWindow', 30_000)).stats;
  }

  async stopMedia(): Promise<Msg<'stopped'>> {
    this.send({ type: 'stopMedia' });
    return this.wait('stopped', 15_000);
  }
}
