/**
 * The load generator process (forked by the bench runner, IPC channel): N synthetic werift participants in one Node
 * process, separate from the recorder it measures. It ends by itself: on `exit`, when the runner goes away, or after
 * config.maxLifetimeMs at the latest.
 */
import { loadIvf, loadOggOpus, type AudioClip, type VideoClip } from './media.js';
import { MediaScheduler, SyntheticParticipant } from './participant.js';
import type { GeneratorConfig, GeneratorToRunner, RunnerToGenerator } from './protocol.js';

const participants: SyntheticParticipant[] = [];
const scheduler = new MediaScheduler();
let exiting = false;

function tell(msg: GeneratorToRunner): void {
  if (process.connected) process.send!(msg);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(config: GeneratorConfig): Promise<void> {
  setTimeout(() => {
    console.error(`loadgen: max lifetime ${config.maxLifetimeMs} ms reached; exiting`);
    process.exit(3);
  }, config.maxLifetimeMs).unref();

  const videos = new Map<string, VideoClip>();
  const audios = new Map<string, AudioClip>();
  for (const p of config.participants) {
    for (const path of [p.videoPath, ...(p.simulcast ?? []).map((l) => l.videoPath)]) if (path && !videos.has(path)) videos.set(path, loadIvf(path));
    if (p.audioPath && !audios.has(p.audioPath)) audios.set(p.audioPath, loadOggOpus(p.audioPath));
  }
  config.participants.forEach((p, i) => {
    participants.push(
      new SyntheticParticipant({
        serverUrl: config.serverUrl,
        room: config.room,
        name: p.name,
        video: p.videoPath ? videos.get(p.videoPath) : undefined,
        audio: p.audioPath ? audios.get(p.audioPath) : undefined,
        simulcast: p.simulcast?.map((l) => ({ rid: l.rid, clip: videos.get(l.videoPath)! })),
        startOffset: i,
        scheduler,
      }),
    );
  });
  for (const [i, p] of participants.entries()) {
    if (i > 0) await sleep(config.joinIntervalMs);
    await p.join();
  }
  tell({ type: 'joined', participants: participants.map((p) => ({ name: p.stats().name, id: p.id })) });

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const missing = participants.filter((p) => p.connectedAtMs === undefined).map((p) => p.stats().name);
      reject(new Error(`not connected after ${config.connectTimeoutMs} ms: ${missing.join(', ')}`));
    }, config.connectTimeoutMs);
  });
  try {
    const times = await Promise.race([Promise.all(participants.map((p) => p.flowing)), timeout]);
    tell({ type: 'flowing', firstMediaAtMs: Math.min(...times), allFlowingAtMs: Math.max(...times) });
  } finally {
    clearTimeout(timer);
  }
}

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  scheduler.stop();
  setTimeout(() => process.exit(code), 3000).unref(); // closing must not hang the run
  await Promise.all(participants.map((p) => p.close()));
  process.exit(code);
}

process.on('message', (msg: RunnerToGenerator) => {
  switch (msg.type) {
    case 'start':
      start(msg.config).catch((err: Error) => {
        tell({ type: 'error', message: err.message });
      });
      break;
    case 'mark':
      scheduler.mark();
      break;
    case 'stopMedia':
      scheduler.stop();
      tell({ type: 'mediaStopped', stoppedAtMs: Date.now(), participants: participants.map((p) => p.stats()), scheduler: scheduler.stats() });
      break;
    case 'exit':
      void exit(0);
      break;
  }
});
process.on('disconnect', () => void exit(0));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void exit(0));
